"""The local SparkSession the Glue jobs run on (tests and `local-run` alike): small, quiet, UTC."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_REPO_ROOT = Path(__file__).resolve().parents[2]


def local_spark_session(app_name: str = "lakewatch-local") -> Any:
    """Get or create the process's one local SparkSession, configured like a tiny Glue 5.0 worker."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        # Stage progress bars would be drawn into the middle of `local-run` and `demo` output.
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.sql.warehouse.dir", str(_REPO_ROOT / ".build" / "spark-warehouse"))
        # Python workers must run this venv's interpreter (msgspec) with the repository importable, as the
        # Glue job's --extra-py-files makes it on AWS.
        .config("spark.pyspark.python", sys.executable)
        .config("spark.pyspark.driver.python", sys.executable)
        .config("spark.executorEnv.PYTHONPATH", str(_REPO_ROOT))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session
