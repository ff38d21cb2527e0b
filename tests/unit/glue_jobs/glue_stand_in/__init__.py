"""A stand-in for the `awsglue` library over local Spark and moto, so a Glue script's bootstrap runs in tests.

`awsglue` exists only inside AWS Glue. The stand-in package (`glue_stand_in/awsglue/`, put on `sys.path` by
the tests that need it) implements just what lakewatch's Glue scripts call, behaving as Glue does:
`getResolvedOptions`, `GlueContext(spark_context)` with `spark_session`, `get_logger()` and
`create_dynamic_frame.from_options(connection_type="s3", format="csv", ...)` (read through boto3, so over moto,
with job bookmarks: a file read under a `transformation_ctx` is not read again once `Job.commit()` ran), and
`Job.init`/`Job.commit`.

Spark itself cannot reach moto's S3 (local Spark has no S3 filesystem), so `mount_s3_for_spark` maps one bucket's
`s3://` URIs onto a local folder with Hadoop's own scheme-overloading mount table: the script's Spark reads and
writes of `s3://<bucket>/...` work unchanged, landing on disk instead of S3. Objects written through boto3 (the
quarantine, the landing files) stay in moto: a test reads each where it was written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The folder to put on `sys.path` so that `import awsglue` finds the stand-in.
STAND_IN_PATH = Path(__file__).resolve().parent
_MOUNT_KEYS = (
    "fs.s3.impl",
    "fs.viewfs.overload.scheme.target.s3.impl",
    "fs.viewfs.overload.scheme.target.file.impl",
    "fs.s3.impl.disable.cache",
)


def mount_s3_for_spark(spark: Any, bucket: str, folder: Path) -> None:
    """Make Spark's `s3://<bucket>/<key>` the local file `<folder>/<key>` (Hadoop ViewFileSystemOverloadScheme)."""
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    conf.set("fs.s3.impl", "org.apache.hadoop.fs.viewfs.ViewFileSystemOverloadScheme")
    conf.set("fs.viewfs.overload.scheme.target.s3.impl", "org.apache.hadoop.fs.RawLocalFileSystem")
    conf.set("fs.viewfs.overload.scheme.target.file.impl", "org.apache.hadoop.fs.LocalFileSystem")
    conf.set("fs.s3.impl.disable.cache", "true")
    conf.set(f"fs.viewfs.mounttable.{bucket}.linkFallback", folder.resolve().as_uri())


def unmount_s3_for_spark(spark: Any, bucket: str) -> None:
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    for key in (*_MOUNT_KEYS, f"fs.viewfs.mounttable.{bucket}.linkFallback"):
        conf.unset(key)
