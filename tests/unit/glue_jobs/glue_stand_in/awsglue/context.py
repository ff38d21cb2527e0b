"""`GlueContext` as Glue's, for what lakewatch calls: the Spark session, a logger and bookmarked S3 CSV reads."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import boto3
from awsglue import job as _job
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

#: The CSV format options Glue documents that this stand-in honours; any other option is refused, not ignored.
_CSV_OPTIONS = {"withHeader", "separator", "quoteChar", "attachFilename"}


class DynamicFrame:
    def __init__(self, frame: DataFrame) -> None:
        self._frame = frame

    def toDF(self) -> DataFrame:
        return self._frame


class GlueLogger:
    """Glue's logger (log4j on the driver); the stand-in keeps the messages for the test to read."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def info(self, message: str) -> None:
        self.messages.append(("INFO", message))

    def warn(self, message: str) -> None:
        self.messages.append(("WARN", message))

    def error(self, message: str) -> None:
        self.messages.append(("ERROR", message))


#: Every logger handed out, newest last (a test reads what the script logged).
LOGGERS: list[GlueLogger] = []


class _DynamicFrameReader:
    def __init__(self, context: GlueContext) -> None:
        self._context = context

    def from_options(
        self,
        connection_type: str,
        connection_options: dict[str, Any] | None = None,
        format: str | None = None,
        format_options: dict[str, Any] | None = None,
        transformation_ctx: str = "",
        **_: Any,
    ) -> DynamicFrame:
        if connection_type != "s3" or format != "csv":
            raise NotImplementedError(f"stand-in reads only s3 csv, not {connection_type} {format}")
        options = dict(format_options or {})
        if set(options) - _CSV_OPTIONS:
            raise NotImplementedError(f"stand-in does not honour {sorted(set(options) - _CSV_OPTIONS)}")
        objects = self._context._new_objects(connection_options or {}, transformation_ctx)
        spark = self._context.spark_session
        frames = []
        folder = Path(tempfile.mkdtemp(prefix="glue-stand-in-"))
        s3 = boto3.client("s3")
        for number, (uri, _etag) in enumerate(objects):
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            local = folder / f"{number}.csv"
            local.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            quote = options.get("quoteChar", '"')
            frame = spark.read.csv(
                str(local),
                sep=options.get("separator", ","),
                quote="" if quote == -1 else quote,
                header=bool(options.get("withHeader", False)),
            )
            frame = frame.toDF(*(f"col{index}" for index in range(len(frame.columns))))
            if "attachFilename" in options:
                frame = frame.withColumn(options["attachFilename"], F.lit(uri))
            frames.append(frame)
        if not frames:  # Glue's empty DynamicFrame has no columns at all
            return DynamicFrame(spark.createDataFrame([], StructType([])))
        result = frames[0]
        for frame in frames[1:]:
            result = result.unionByName(frame, allowMissingColumns=True)
        return DynamicFrame(result)


class GlueContext:
    def __init__(self, spark_context: Any) -> None:
        self.spark_context = spark_context
        self.spark_session = SparkSession.builder.getOrCreate()
        self.create_dynamic_frame = _DynamicFrameReader(self)
        self._job_name: str | None = None
        self._bookmarks_enabled = False
        self._read: dict[str, set[tuple[str, str]]] = {}

    def get_logger(self) -> GlueLogger:
        logger = GlueLogger()
        LOGGERS.append(logger)
        return logger

    def _start_run(self, job_name: str, *, bookmarks_enabled: bool) -> None:
        self._job_name = job_name
        self._bookmarks_enabled = bookmarks_enabled
        self._read = {}

    def _new_objects(self, connection_options: dict[str, Any], transformation_ctx: str) -> list[tuple[str, str]]:
        """(URI, ETag) of the objects under `paths` not yet read by a committed run of this job."""
        s3 = boto3.client("s3")
        recurse = bool(connection_options.get("recurse", False))
        found = []
        for path in connection_options["paths"]:
            bucket, _, prefix = path.removeprefix("s3://").partition("/")
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if recurse or "/" not in item["Key"][len(prefix) :]:
                        found.append((f"s3://{bucket}/{item['Key']}", item["ETag"]))
        if self._bookmarks_enabled and transformation_ctx and self._job_name is not None:
            done = _job.BOOKMARKS.get(self._job_name, {}).get(transformation_ctx, set())
            found = [item for item in found if item not in done]
            self._read.setdefault(transformation_ctx, set()).update(found)
        return sorted(found)

    def _commit_run(self, bookmarks: dict[str, set[tuple[str, str]]]) -> None:
        for context, objects in self._read.items():
            bookmarks.setdefault(context, set()).update(objects)
