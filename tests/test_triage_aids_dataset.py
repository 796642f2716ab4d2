"""The labelled reports of bench/triage_aids.py parse and follow the shared format."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from meldpunt.reports.completeness import KINDS as MISSING_KINDS

DATA = Path(__file__).parent / "data" / "triage_aids"
KINDS = {"genuine", "template", "out_of_scope", "incomplete", "tricky"}
LANGUAGES = {"nl", "en", "fr"}
SCOPES = {"in_scope", "out_of_scope", "third_party", "unknown"}
CONTENT = {"affected_systems", "description", "steps", "impact"}


def test_every_labelled_report_follows_the_format() -> None:
    files = sorted(DATA.glob("*.jsonl"))
    assert files
    ids: set[str] = set()
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.name}:{number}"
            row = json.loads(line)
            assert set(row) == {"id", "kind", "language", "category", "content", "expect"}, where
            assert row["id"] not in ids, where
            ids.add(row["id"])
            assert row["kind"] in KINDS, where
            assert row["language"] in LANGUAGES, where
            assert set(row["content"]) >= CONTENT, where
            assert isinstance(row["content"]["affected_systems"], list), where
            expect = row["expect"]
            assert set(expect) == {"low_value", "scope", "missing"}, where
            assert expect["low_value"] in (True, False, None), where
            assert expect["scope"] is None or expect["scope"] in SCOPES, where
            missing = expect["missing"]
            assert missing is None or set(missing) <= set(MISSING_KINDS), where


def test_the_scope_inventory_follows_the_format() -> None:
    assets = tomllib.loads((DATA / "scope.toml").read_text(encoding="utf-8"))["asset"]
    assert assets
    for asset in assets:
        assert asset["kind"] in {"domain", "url", "ip", "cidr", "app", "service"}
        assert asset["status"] in {"in_scope", "out_of_scope", "third_party"}
        assert asset["value"]
        if asset["status"] == "third_party":
            assert asset["contact"], asset["value"]
