"""Plumbing shared by every lakewatch Lambda (observability, settings parsing)."""
