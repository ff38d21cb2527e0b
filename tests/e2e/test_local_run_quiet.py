"""`local-run` with Spark keeps the JVM's output out of the terminal: Spark is quiet unless something fails.

Run as a fresh process, because the JVM is started once per process: `local-run` starts it in the background
during the replay, with its output going to `spark.log` from its launch on.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

from lakewatch.local import synthetic
from tests.conftest import REPO_ROOT


def test_spark_output_goes_to_spark_log_not_the_terminal(tmp_path: Path) -> None:
    # Given a day of sales and a day of till CSV drops
    start = date(2024, 6, 3)
    sales = synthetic.generate_sales(start=start, days=1, seed=5)
    events = synthetic.write_events_file(tmp_path / "events.jsonl", synthetic.to_jsonl_lines(sales))
    pos = synthetic.write_pos_files(tmp_path / "pos", synthetic.generate_pos_csv(start=start, days=1, seed=5).files)

    # When local-run replays them and runs the POS Glue job on local Spark
    out = tmp_path / "out"
    command = ["local-run", "--events", str(events), "--pos-csv", str(pos), "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "lakewatch", *command, "--now", "2024-06-04T12:00:00Z"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    # Then it succeeded, wrote nothing to stderr, and the JVM's own lines are in spark.log
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "WARN" in (out / "spark.log").read_text()
