"""The local SparkSession the Glue jobs run on (tests and `local-run` alike): small, quiet, UTC."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_REPO_ROOT = Path(__file__).resolve().parents[2]

#: The session's settings, configured like a tiny Glue 5.0 worker.
LOCAL_SPARK_CONF = {
    "spark.master": "local[2]",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    # Stage progress bars would be drawn into the middle of `local-run` and `demo` output.
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    # -XX:TieredStopAtLevel=1: the JVM compiles with its quick compiler only. A local run lives for a minute
    # over a few MB, where the optimising compiler's work never pays back: it halves the JVM's CPU time in
    # the demo's Glue jobs (52 s -> 25 s measured on two cores). Glue's own JVM settings are untouched.
    # -XX:+UseSerialGC: one collector thread for a heap of a few hundred MB, instead of G1's concurrent threads
    # competing with the replay for the two cores (about a tenth less JVM CPU over the demo's Glue jobs).
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC -XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    "spark.sql.warehouse.dir": str(_REPO_ROOT / ".build" / "spark-warehouse"),
    # Python workers must run this venv's interpreter (msgspec) with the repository importable, as the
    # Glue job's --extra-py-files makes it on AWS.
    "spark.pyspark.python": sys.executable,
    "spark.pyspark.driver.python": sys.executable,
    "spark.executorEnv.PYTHONPATH": str(_REPO_ROOT),
}


def local_spark_session(app_name: str = "lakewatch-local", *, jvm_log: Path | None = None) -> Any:
    """Get or create the process's one local SparkSession.

    `jvm_log`: when this call starts the JVM, the JVM's own output (its log lines, and its Python workers'
    stderr) is appended to this file instead of the terminal. Unlike redirecting the process's stderr, this
    leaves the caller's own output alone, so the session can start in a background thread while the caller
    goes on with other work.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    if jvm_log is not None and SparkContext._gateway is None:
        conf = SparkConf(loadDefaults=False).setAll(LOCAL_SPARK_CONF.items()).setAppName(app_name)
        with jvm_log.open("ab") as log:
            gateway = launch_gateway(conf, popen_kwargs={"stdout": log, "stderr": log})
        SparkContext._ensure_initialized(gateway=gateway)
    builder = SparkSession.builder.appName(app_name)
    for key, value in LOCAL_SPARK_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
