"""Plumbing shared by every lakewatch Lambda: observability, AWS client settings and error triage, env parsing,
the time of a scheduled invocation."""
