"""The demo's leak check finds exactly what a plain substring search finds, one pass per file, in Parquet files
as their readers see them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lakewatch.local.demo import _pii_leaks
from lakewatch.local.lake import PARQUET_COMPRESSION


def _naive(out: Path, secrets: list[str]) -> list[str]:
    needles = sorted({secret.encode() for secret in secrets if secret})
    return [
        f"{needle.decode()} in {path}"
        for path in out.rglob("*")
        if path.is_file() and "input" not in path.relative_to(out).parts
        for needle in needles
        if needle in path.read_bytes()
    ]


def test_leaks_are_those_a_substring_search_finds(tmp_path: Path) -> None:
    # Given secrets that are prefixes of each other, hold regex metacharacters or non-ASCII letters
    rng = random.Random(11)
    secrets = ["Zoë Ng", "Zoë Nguyen", "4929 1234 5678 1234", "a.b+c@example.com", "(cust)-1", "", "x"]
    secrets += ["".join(rng.choice("abcdé.*+?") for _ in range(rng.randint(2, 8))) for _ in range(300)]
    # ... and output files holding some of them (one only under input/, which is not output)
    files = {
        "lake/part-0.parquet": b"\x00\x01 Zo\xc3\xab Ng \x02",
        "queries/top.csv": b"customer,a.b+c@example.com\n",
        "logs.jsonl": "".join(rng.choice(secrets) for _ in range(50)).encode(),
        "quarantine/clean.jsonl": b'{"reason": "invalid_field"}',
        "input/events.jsonl": b"4929 1234 5678 1234",
    }
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)

    # When the demo looks for leaks, Then it reports what a substring search per secret reports
    leaks = _pii_leaks(tmp_path, secrets)
    assert sorted(leaks) == sorted(_naive(tmp_path, secrets))
    assert f"Zoë Ng in {tmp_path / 'lake/part-0.parquet'}" in leaks
    assert not any("input" in leak or "quarantine" in leak for leak in leaks)
    assert _pii_leaks(tmp_path, ["nowhere to be found"]) == []


def test_a_secret_in_a_compressed_parquet_file_is_found_in_any_column_nested_or_not(tmp_path: Path) -> None:
    # Given a lake file written as the lake writer writes it (snappy), with secrets among many ordinary values in a
    # top-level column and in a basket's nested struct (compression hides nearly every string from a byte search)
    rng = random.Random(5)
    secrets = ["Zoë Nguyen", "4929 1234 5678 1234"]
    rows = [
        {
            "store": f"store {rng.randint(0, 99)} 4929 1234",
            "items": [{"product": f"Latte 4929 1234 {rng.randint(0, 9999):04d}", "size": "Large"}],
        }
        for _ in range(2000)
    ]
    rows[777]["store"] = "Zoë Nguyen"
    rows[1500]["items"][0]["product"] = "Latte 4929 1234 5678 1234"
    (tmp_path / "lake").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "lake" / "part-0.parquet", compression=PARQUET_COMPRESSION)

    # When the demo looks for leaks, Then both are found
    assert sorted(_pii_leaks(tmp_path, secrets)) == sorted(
        f"{secret} in {tmp_path / 'lake/part-0.parquet'}" for secret in secrets
    )


def test_a_card_number_that_lost_its_separators_is_still_found(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text('{"note": "4929123456781234"}')
    assert _pii_leaks(tmp_path, ["4929 1234 5678 1234"]) == [f"4929123456781234 in {tmp_path / 'summary.json'}"]


def test_a_secret_in_json_that_escaped_its_non_ascii_letters_is_found(tmp_path: Path) -> None:
    # Given the report's embedded data, which json.dumps wrote with non-ASCII letters escaped
    report = tmp_path / "report.html"
    report.write_text(f'<script type="application/json">{json.dumps({"labels": ["Zoë Nguyen"]})}</script>')
    assert "Zoë" not in report.read_text()

    # When the demo looks for leaks, Then the name is found as a reader of the page would see it
    assert _pii_leaks(tmp_path, ["Zoë Nguyen"]) == [f"Zoë Nguyen in {report}"]
