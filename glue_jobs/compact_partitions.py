"""Glue job: rewrite one lake partition's many small files (Firehose writes one per buffer) into a few large ones.

Athena pays per file opened, so a day of 5-minute Firehose buffers is much slower to scan than the same rows
in one file. The rewrite must never lose or duplicate a row, even when the job dies at any instant, and it
runs on a partition that readers query at the same time. S3 has no atomic rename and Athena reads a partition
by listing its prefix (`lake/<table>/dt=<day>/`), skipping keys whose name starts with `_` or `.`. So a reader
sees whatever data objects are listed at that moment, one object at a time.

Protocol (one run; `<run>` = `_compaction/<table>/dt=<day>/<run id>/`, outside every table prefix):

1. plan: list the partition's data objects (the *sources*); nothing to do when there are no more than the
   target number of files;
2. stage: read exactly the sources with the table's schema and write them as `target_files` Parquet files under
   `<run>data/`, computing on the way (one pass) the row count and an order-independent checksum (the sums of
   two independent per-row hashes over every column: any lost or duplicated row changes them);
3. verify: re-read the staged files; their count and checksum must equal the sources', else the staging is
   deleted and the run fails with nothing changed;
4. manifest: write `<run>manifest.json` (sources, staged files, target keys, count, checksum) in one PUT.
   This is the commit point: before it the run rolls back, after it the run rolls forward;
5. publish: copy each staged file to its target key inside the partition (`compacted-<run id>-<n>.parquet`);
6. delete: delete the sources listed in the manifest (only those: files Firehose adds meanwhile stay);
7. clean up: delete `<run>data/`, then the manifest last.

What readers see: during 1-4 only the sources; after 7 only the compacted files; between the first publish
and the last delete, both, for about a second (a copy of a few files and one DeleteObjects call). No reader
ever sees *neither* (a row is always listed at least once), and seeing both for a moment cannot double count:
every named query de-duplicates on `event_id` before counting (DEVELOPERS.md, "Named-query SQL"). Strict
both-or-neither isolation over a plain S3 prefix is impossible without a table format (Iceberg) or per-
partition locations, which partition projection does not have.

Recovery is deterministic and runs before any new plan: for every run folder of the partition, a manifest
means roll forward (copy each target that is missing from its staged file, delete the listed sources,
clean up: every step is idempotent); no manifest means roll back (delete the run folder; the sources were
never touched). A manifest whose target and staged file are both gone is a corruption error, never a guess.
One compaction per partition at a time (the Glue job's max concurrency is 1).

Layers: pure planning and verification functions, an I/O layer over `Store` (local paths for tests and the
local runner, S3 via boto3 in Glue), and the Glue bootstrap under `if __name__ == "__main__"`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from lakewatch.domain import tables
from lakewatch.domain.glue_support import use_parquet_write_conf

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

COMPACTION_ROOT = "_compaction"
MANIFEST_NAME = "manifest.json"
STAGED_DATA = "data/"
TARGET_FILE_BYTES = 128 * 1024 * 1024
#: The steps after which `compact_partition` calls its `checkpoint`, in protocol order: where a run can die.
STEPS = ("staged", "verified", "manifest", "published_one", "published", "deleted_one", "deleted", "cleaned")
_DELETE_BATCH = 1000


class CompactionError(RuntimeError):
    """The run cannot go on without risking a row (verification failed, or a manifest is inconsistent)."""


class Store(Protocol):
    """The few object-store operations compaction needs, over keys relative to the lake bucket."""

    def list(self, prefix: str) -> dict[str, int]:
        """Every key under `prefix` (recursively) with its size in bytes."""
        ...

    def read_text(self, key: str) -> str: ...

    def write_text(self, key: str, text: str) -> None:
        """Create or replace `key` atomically (readers see the old object or the new one)."""
        ...

    def copy(self, source: str, target: str) -> None:
        """Copy `source` to `target`; `target` appears complete or not at all."""
        ...

    def delete(self, keys: Sequence[str]) -> None:
        """Delete `keys`; missing keys are not an error."""
        ...

    def uri(self, key: str) -> str:
        """What Spark reads or writes for `key`."""
        ...


@dataclass(frozen=True, slots=True)
class Manifest:
    table: str
    dt: str
    run_id: str
    sources: tuple[str, ...]
    staged: tuple[str, ...]
    targets: tuple[str, ...]
    rows: int
    checksum: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        for name in ("sources", "staged", "targets"):
            data[name] = tuple(data[name])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Stats:
    rows: int
    checksum: str


EMPTY_STATS = Stats(rows=0, checksum="0:0")


# ------------------------------------------------------------------------------------------- pure planning


def is_data_key(key: str) -> bool:
    """Whether Athena (and Spark) read this object: names starting with `_` or `.` are skipped."""
    return not PurePosixPath(key).name.startswith(("_", "."))


def partition_data_files(listing: dict[str, int], partition_prefix: str) -> dict[str, int]:
    """The data objects directly in a partition (what a reader of the partition sees)."""
    return {
        key: size
        for key, size in sorted(listing.items())
        if key.startswith(partition_prefix) and "/" not in key[len(partition_prefix) :] and is_data_key(key)
    }


def run_prefix(table: tables.LakeTable, dt: str, run_id: str) -> str:
    return f"{partition_runs_prefix(table, dt)}{run_id}/"


def partition_runs_prefix(table: tables.LakeTable, dt: str) -> str:
    return f"{COMPACTION_ROOT}/{table.name}/{tables.PARTITION_KEY}={dt}/"


def target_keys(table: tables.LakeTable, dt: str, run_id: str, count: int) -> tuple[str, ...]:
    prefix = table.partition_prefix(dt)
    return tuple(f"{prefix}compacted-{run_id}-{index:05d}.parquet" for index in range(count))


def target_file_count(total_bytes: int, target_bytes: int = TARGET_FILE_BYTES) -> int:
    """How many files of about `target_bytes` the partition should become (at least one)."""
    return max(1, math.ceil(total_bytes / target_bytes))


def runs_in(listing: Iterable[str], runs_prefix: str) -> dict[str, bool]:
    """Run ids found under `runs_prefix`, each with whether its manifest exists (sorted: oldest first)."""
    runs: dict[str, bool] = {}
    for key in listing:
        run_id, _, rest = key[len(runs_prefix) :].partition("/")
        if run_id:
            runs[run_id] = runs.get(run_id, False) or rest == MANIFEST_NAME
    return dict(sorted(runs.items()))


def new_run_id(now: datetime) -> str:
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------------------------- DataFrame functions


def table_schema(table: tables.LakeTable) -> Any:
    """The table's data columns as a Spark StructType (Spark 3.5 has no `StructType.fromDDL`)."""
    from pyspark.sql.types import _parse_datatype_string

    return _parse_datatype_string(table.spark_ddl())


def stats_expressions(columns: Sequence[str]) -> list[str]:
    """The aggregates behind `Stats` over `columns`: row count and two order-independent, multiset-sensitive sums
    of per-row hashes of every column.

    Spark SQL text rather than `functions` calls: each `functions` call is a JVM round trip with a class lookup,
    a few milliseconds that add up over the table's columns on every run.
    """
    quoted = ", ".join("`" + name.replace("`", "``") + "`" for name in columns)
    exact = "decimal(38,0)"  # sums of 64-bit hashes cannot overflow at any partition size we will see
    return [
        "count(1) AS rows",
        f"coalesce(sum(cast(xxhash64({quoted}) AS {exact})), 0) AS xx",
        f"coalesce(sum(cast(hash({quoted}) AS {exact})), 0) AS murmur",
    ]


def _stats_of(values: Mapping[str, Any]) -> Stats:
    return Stats(rows=int(values["rows"]), checksum=f"{values['xx']}:{values['murmur']}")


def partition_stats(frame: DataFrame) -> Stats:
    """Row count and checksum of `frame` (`stats_expressions`; one Spark action)."""
    return _stats_of(frame.selectExpr(*stats_expressions(frame.columns)).collect()[0].asDict())


def write_with_stats(frame: DataFrame, uri: str, files: int) -> Stats:
    """Write `frame` as `files` Parquet files under `uri` (which must not exist) and return its `Stats`, observed
    on the rows as they go to the writer: one Spark action, where a stats pass and a write pass would be two."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    observation = Observation("compaction_sources")
    observed = frame.observe(observation, *(F.expr(expression) for expression in stats_expressions(frame.columns)))
    observed.coalesce(files).write.mode("errorifexists").parquet(uri)
    return _stats_of(observation.get)


# ------------------------------------------------------------------------------------------------- I/O


def compact_partition(
    spark: SparkSession,
    store: Store,
    table: tables.LakeTable,
    dt: str,
    *,
    target_files: int | None = None,
    run_id: str | None = None,
    checkpoint: Callable[[str], None] = lambda step: None,
) -> dict[str, Any]:
    """Recover any interrupted run of the partition, then compact it (see the module docstring).

    `target_files` defaults to one file per `TARGET_FILE_BYTES` of source data; `checkpoint(step)` is called
    after each step in `STEPS` (a caller may log progress there; the tests raise from it to kill the run at
    that step).
    """
    recovered = recover_partition(store, table, dt, checkpoint=checkpoint)
    partition_prefix = table.partition_prefix(dt)
    sources = partition_data_files(store.list(partition_prefix), partition_prefix)
    wanted = target_files if target_files is not None else target_file_count(sum(sources.values()))
    result: dict[str, Any] = {"table": table.name, "dt": dt, "recovered": recovered, "files_before": len(sources)}
    if len(sources) <= wanted:
        return {**result, "status": "nothing_to_do", "files_after": len(sources)}

    run_id = run_id or new_run_id(datetime.now(UTC))
    prefix = run_prefix(table, dt, run_id)
    schema = table_schema(table)
    use_parquet_write_conf(spark)
    source = spark.read.schema(schema).parquet(*(store.uri(key) for key in sources))
    source_stats = write_with_stats(source, store.uri(prefix + STAGED_DATA), wanted)
    checkpoint("staged")

    staged = tuple(key for key in store.list(prefix + STAGED_DATA) if is_data_key(key) and key.endswith(".parquet"))
    # Spark may write no file at all for a partition of empty files: then there is nothing to verify but zero.
    staged_stats = (
        partition_stats(spark.read.schema(schema).parquet(*(store.uri(key) for key in staged)))
        if staged
        else EMPTY_STATS
    )
    if staged_stats != source_stats:
        store.delete(sorted(store.list(prefix)))
        raise CompactionError(f"staged files do not match the sources: {staged_stats} != {source_stats}")
    checkpoint("verified")

    manifest = Manifest(
        table=table.name,
        dt=dt,
        run_id=run_id,
        sources=tuple(sources),
        staged=staged,
        targets=target_keys(table, dt, run_id, len(staged)),
        rows=source_stats.rows,
        checksum=source_stats.checksum,
    )
    store.write_text(prefix + MANIFEST_NAME, manifest.to_json())
    checkpoint("manifest")
    finish(store, manifest, checkpoint=checkpoint)
    return {**result, "status": "compacted", "run_id": run_id, "rows": manifest.rows, "files_after": len(staged)}


def recover_partition(
    store: Store, table: tables.LakeTable, dt: str, *, checkpoint: Callable[[str], None] = lambda step: None
) -> list[str]:
    """Finish (manifest present) or roll back (no manifest) every earlier run of the partition; their ids."""
    runs_prefix = partition_runs_prefix(table, dt)
    runs = runs_in(store.list(runs_prefix), runs_prefix)
    for run_id, committed in runs.items():
        prefix = run_prefix(table, dt, run_id)
        if committed:
            finish(store, Manifest.from_json(store.read_text(prefix + MANIFEST_NAME)), checkpoint=checkpoint)
        else:
            store.delete(sorted(store.list(prefix)))
    return list(runs)


def finish(store: Store, manifest: Manifest, *, checkpoint: Callable[[str], None] = lambda step: None) -> None:
    """Steps 5-7 of the protocol; idempotent, so a rerun after a crash anywhere in here completes the swap."""
    table = tables.TABLES[manifest.table]
    prefix = run_prefix(table, manifest.dt, manifest.run_id)
    present = store.list(table.partition_prefix(manifest.dt))
    for index, (staged, target) in enumerate(zip(manifest.staged, manifest.targets, strict=True)):
        if target not in present:
            if staged not in store.list(staged):
                raise CompactionError(f"run {manifest.run_id}: {target} is missing and its staged copy is gone")
            store.copy(staged, target)
        if index == 0:
            checkpoint("published_one")
    checkpoint("published")
    if manifest.sources:
        store.delete(manifest.sources[:1])
        checkpoint("deleted_one")
        store.delete(manifest.sources[1:])
    checkpoint("deleted")
    store.delete(sorted(key for key in store.list(prefix) if key != prefix + MANIFEST_NAME))
    checkpoint("cleaned")
    store.delete([prefix + MANIFEST_NAME])


class LocalStore:
    """`Store` over a local directory standing in for the lake bucket (tests, local runner)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        return self.root / key

    def list(self, prefix: str) -> dict[str, int]:
        base = self._path(prefix)
        if base.is_file():
            return {prefix: base.stat().st_size}
        folder = base if prefix.endswith("/") or base.is_dir() else base.parent
        if not folder.is_dir():
            return {}
        found = {}
        for path in folder.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix):
                found[key] = path.stat().st_size
        return dict(sorted(found.items()))

    def read_text(self, key: str) -> str:
        return self._path(key).read_text(encoding="utf-8")

    def write_text(self, key: str, text: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)

    def copy(self, source: str, target: str) -> None:
        path = self._path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # hidden until complete
        shutil.copyfile(self._path(source), temporary)
        os.replace(temporary, path)

    def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            path.with_name(f".{path.name}.crc").unlink(missing_ok=True)  # Hadoop's local checksum sidecar

    def uri(self, key: str) -> str:
        return str(self._path(key))


class S3Store:
    """`Store` over the lake bucket (boto3 client injected)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def list(self, prefix: str) -> dict[str, int]:
        found = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = item["Size"]
        return found

    def read_text(self, key: str) -> str:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode("utf-8")

    def write_text(self, key: str, text: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=text.encode(), ContentType="application/json")

    def copy(self, source: str, target: str) -> None:
        # Managed copy: multipart above 5 GB; the target object appears only once the copy completes.
        self.client.copy({"Bucket": self.bucket, "Key": source}, self.bucket, target)

    def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]
            response = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if response.get("Errors"):
                raise CompactionError(f"could not delete {len(response['Errors'])} objects: {response['Errors'][:3]}")

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def compact_local(
    spark: SparkSession,
    partition_dir: Path,
    target_files: int = 1,
    *,
    checkpoint: Callable[[str], None] = lambda step: None,
) -> dict[str, Any]:
    """Compact a local partition `<root>/lake/<table>/dt=<day>` (`checkpoint` as in `compact_partition`)."""
    partition_dir = partition_dir.resolve()
    table = tables.TABLES[partition_dir.parent.name]
    dt = partition_dir.name.removeprefix(f"{tables.PARTITION_KEY}=")
    root = partition_dir.parents[2]
    if root / table.partition_prefix(dt) != partition_dir / "":
        raise ValueError(f"not a lake partition (expected <root>/{table.partition_prefix(dt)}): {partition_dir}")
    return compact_partition(spark, LocalStore(root), table, dt, target_files=target_files, checkpoint=checkpoint)


def _glue_main() -> None:
    """Glue bootstrap: `--lake_bucket`, `--table`, optional `--dt` (default: yesterday, UTC).

    The tests run it against an `awsglue` stand-in and moto S3 up to the Spark work (recovery, planning);
    the Spark rewrite itself is tested through `compact_local`, local Spark having no S3 filesystem.
    """
    import sys

    import boto3
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext

    args = getResolvedOptions(sys.argv, ["JOB_NAME", "lake_bucket", "table"])
    dt = (datetime.now(UTC) - timedelta(days=1)).strftime(tables.PARTITION_DATE_FORMAT)
    if "--dt" in sys.argv:
        dt = getResolvedOptions(sys.argv, ["dt"])["dt"]
    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    store = S3Store(boto3.client("s3"), args["lake_bucket"])
    result = compact_partition(glue_context.spark_session, store, tables.TABLES[args["table"]], dt)
    glue_context.get_logger().info("compact_partitions " + json.dumps(result, sort_keys=True))
    job.commit()


if __name__ == "__main__":
    _glue_main()
