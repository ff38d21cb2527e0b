"""Environment of the transform function, parsed once per process (DEVELOPERS.md, "Lambda environment")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lambda_common.settings import required

_VARIABLES = ("SALES_STREAM_NAME", "JOB_RUNS_STREAM_NAME", "QUARANTINE_BUCKET", "PII_KEY_SECRET_ARN")


@dataclass(frozen=True, slots=True)
class Settings:
    sales_stream_name: str
    job_runs_stream_name: str
    quarantine_bucket: str
    pii_key_secret_arn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Fail the cold start, loudly, on a missing variable rather than every batch later."""
        return cls(*required(env, *_VARIABLES))
