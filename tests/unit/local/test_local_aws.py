"""The emulated AWS of the local runner stays out of the user's own AWS setup."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from lakewatch.local.aws import REGION, LocalAws


def test_a_users_profile_and_config_are_ignored_and_requests_not_validated_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users_config = tmp_path / "config"
    users_config.write_text("[profile prod]\nregion = ap-southeast-2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(users_config))
    monkeypatch.setenv("AWS_PROFILE", "prod")

    with LocalAws(pii_key="k" * 32):
        client = boto3.session.Session().client("dynamodb")  # a client created as the handlers create theirs
        assert client.meta.region_name == REGION
        # Below ListTables' minimum Limit of 1: botocore's own validation would raise ParamValidationError
        # before sending; here the request reaches the emulated service (moto answers it).
        assert "TableNames" in client.list_tables(Limit=0)

    assert boto3.session.Session().profile_name == "prod"  # the user's setup is back on exit
