"""The replay finds the same alerts whether moto or the in-process table serves the baselines table.

`local-run` answers job_monitor's and overdue_check's DynamoDB calls in process (`dynamodb.LocalTable`) because
moto is slow at them; this replays one synthetic month of a dozen clients (failures, a spike, a client that
stops, redeliveries, late runs) both ways and compares everything the handlers produced.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from lakewatch.local import runner, synthetic
from lakewatch.local.runner import LocalRunOptions, local_run

START = date(2024, 5, 1)
DAYS = 30
NOW = datetime(2024, 5, 31, 12, 0, tzinfo=UTC)


def _replay(tmp_path: Path, name: str) -> tuple[Any, list[dict[str, Any]]]:
    jobs = synthetic.generate_job_runs(start=START, days=DAYS, clients=12, seed=7)
    events = synthetic.write_events_file(tmp_path / "events.jsonl", synthetic.to_jsonl_lines(jobs))
    report = local_run(LocalRunOptions(events=events, out=tmp_path / name, now=NOW))
    alerts = [orjson.loads(line) for line in (tmp_path / name / "alerts.jsonl").read_bytes().splitlines()]
    return report, sorted(alerts, key=orjson.dumps)


def test_moto_and_the_in_process_table_give_the_same_alerts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the replay served by the in-process table, and the same replay with every call left to moto
    served_report, served_alerts = _replay(tmp_path, "served")
    with monkeypatch.context() as patch:
        patch.setattr(runner, "_serve_baselines_table", lambda _aws: None)
        moto_report, moto_alerts = _replay(tmp_path, "moto")

    # Then both sent the same alerts, counted the same and quarantined nothing else
    assert served_alerts == moto_alerts
    assert {"job_failed", "duration_outlier", "run_overdue"} <= set(served_report.alerts)
    assert served_report.alerts == moto_report.alerts
    assert served_report.quarantined == moto_report.quarantined
    assert served_report.on_failure == moto_report.on_failure == {}
    assert served_report.invocations == moto_report.invocations
