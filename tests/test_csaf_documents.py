"""CSAF 2.0 documents for advisories: built from the draft, and checked by the csaf validator."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import override_settings

from meldpunt.advisories.csaf import build_document, file_name, serialize, validate
from meldpunt.advisories.models import Advisory
from tests.advisories import CRITICAL_31, XSS_31, XSS_40, content

BASE = "https://meldpunt.example.org"
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("https_base")


@pytest.fixture
def https_base() -> Any:
    with override_settings(MELDPUNT_BASE_URL=BASE, MELDPUNT_ORG_NAME="Acme"):
        yield


def advisory(identifier: str = "MPSA-2026-0001", language: str = "en") -> Advisory:
    return Advisory(identifier=identifier, language=language)


def history(count: int) -> list[dict[str, Any]]:
    return [
        {"number": n, "date": f"2026-03-0{n}T09:30:00+00:00", "summary": f"Revision {n}."}
        for n in range(1, count + 1)
    ]


def products_of(document: dict[str, Any]) -> dict[str, str]:
    """product_id → full product name, wherever it sits in the branches."""
    found: dict[str, str] = {}

    def walk(branches: list[dict[str, Any]]) -> None:
        for branch in branches:
            if "product" in branch:
                found[branch["product"]["product_id"]] = branch["product"]["name"]
            walk(branch.get("branches", []))

    walk(document["product_tree"]["branches"])
    return found


def test_it_builds_a_valid_advisory_with_a_cve_several_products_and_credits():
    data = content(
        cve="CVE-2026-12345",
        products=[
            {"name": "Webshop", "affected": "2.3.1", "fixed": "2.3.2"},
            {"name": "Mobile app", "affected": "5.0", "fixed": ""},
            {"name": "Support portal", "affected": "", "fixed": ""},
        ],
    )
    document = build_document(advisory(), data, ["Jane Doe", "n0sy"], history(1), NOW)
    assert validate(document) == []
    meta = document["document"]
    assert meta["category"] == "csaf_security_advisory"
    assert meta["csaf_version"] == "2.0"
    assert meta["lang"] == "en"
    assert meta["publisher"] == {
        "category": "vendor",
        "name": "Acme",
        "namespace": BASE,
        "contact_details": "mailto:security@example.org",
    }
    assert meta["distribution"]["tlp"]["label"] == "WHITE"
    assert meta["acknowledgments"] == [{"names": ["Jane Doe", "n0sy"]}]
    assert meta["tracking"]["id"] == "MPSA-2026-0001"
    assert meta["tracking"]["status"] == "final"
    assert meta["tracking"]["generator"]["engine"]["name"] == "Meldpunt"
    assert {r["url"] for r in meta["references"] if r["category"] == "self"} == {
        f"{BASE}/advisories/MPSA-2026-0001/",
        f"{BASE}/.well-known/csaf/white/2026/mpsa-2026-0001.json",
    }
    assert [r["url"] for r in meta["references"] if r["category"] == "external"] == [
        "https://example.org/notes/xss"
    ]
    assert products_of(document) == {
        "CSAFPID-0001": "Webshop 2.3.1",
        "CSAFPID-0002": "Webshop 2.3.2",
        "CSAFPID-0003": "Mobile app 5.0",
        "CSAFPID-0004": "Support portal",
    }
    (vuln,) = document["vulnerabilities"]
    assert vuln["cve"] == "CVE-2026-12345"
    assert vuln["product_status"] == {
        "known_affected": ["CSAFPID-0001", "CSAFPID-0003", "CSAFPID-0004"],
        "fixed": ["CSAFPID-0002"],
    }
    assert vuln["cwe"] == {
        "id": "CWE-79",
        "name": "Improper Neutralization of Input During Web Page Generation "
        "('Cross-site Scripting')",
    }
    (score,) = vuln["scores"]
    assert score["cvss_v3"] == {
        "version": "3.1",
        "vectorString": XSS_31,
        "baseScore": 6.1,
        "baseSeverity": "MEDIUM",
    }
    assert score["products"] == vuln["product_status"]["known_affected"]
    assert vuln["remediations"][0]["category"] == "vendor_fix"
    assert vuln["remediations"][0]["details"] == "Upgrade to 2.3.2."


def test_it_builds_a_valid_advisory_without_cve_or_credits_in_another_language():
    data = content(cve="", title="XSS in de zoekfunctie", summary="De parameter q …")
    document = build_document(advisory(language="nl"), data, [], history(1), NOW)
    assert validate(document) == []
    assert document["document"]["lang"] == "nl"
    assert "acknowledgments" not in document["document"]
    assert "cve" not in document["vulnerabilities"][0]


def test_it_keeps_the_whole_revision_history():
    document = build_document(advisory(), content(), [], history(3), NOW)
    assert validate(document) == []
    tracking = document["document"]["tracking"]
    assert tracking["version"] == "3"
    assert tracking["initial_release_date"] == "2026-03-01T09:30:00Z"
    assert tracking["current_release_date"] == "2026-03-03T09:30:00Z"
    assert [(r["number"], r["summary"]) for r in tracking["revision_history"]] == [
        ("1", "Revision 1."),
        ("2", "Revision 2."),
        ("3", "Revision 3."),
    ]


def test_it_scores_cvss_31_only_and_carries_cvss_40_as_a_note():
    only_31 = build_document(advisory(), content(cvss31_vector=CRITICAL_31), [], history(1), NOW)
    assert validate(only_31) == []
    vuln = only_31["vulnerabilities"][0]
    assert vuln["scores"][0]["cvss_v3"]["baseScore"] == 10.0
    assert vuln["scores"][0]["cvss_v3"]["baseSeverity"] == "CRITICAL"
    assert [n["category"] for n in vuln["notes"]] == ["description"]

    only_40 = build_document(
        advisory(), content(cvss31_vector="", cvss40_vector=XSS_40), [], history(1), NOW
    )
    assert validate(only_40) == []
    vuln = only_40["vulnerabilities"][0]
    assert "scores" not in vuln  # CSAF 2.0 has no CVSS 4.0 score object
    (note,) = [n for n in vuln["notes"] if n["category"] == "other"]
    assert note["title"] == "CVSS v4.0"
    assert note["text"].startswith(XSS_40)
    assert "5.3" in note["text"]


def test_it_describes_version_ranges_as_ranges():
    # A range in a product_version branch fails mandatory test 6.1.31.
    data = content(
        products=[{"name": "Webshop", "affected": "2.0 through 2.3.1", "fixed": "2.3.2"}]
    )
    document = build_document(advisory(), data, [], history(1), NOW)
    assert validate(document) == []
    versions = document["product_tree"]["branches"][0]["branches"][0]["branches"]
    assert [(b["category"], b["name"]) for b in versions] == [
        ("product_version_range", "2.0 through 2.3.1"),
        ("product_version", "2.3.2"),
    ]


def test_it_reports_a_duplicate_product_id_with_the_validators_message():
    document = build_document(advisory(), content(), [], history(1), NOW)
    fixed = document["product_tree"]["branches"][0]["branches"][0]["branches"][1]
    fixed["product"]["product_id"] = "CSAFPID-0001"
    messages = validate(document)
    assert any(m.startswith("6.1.2 Multiple Definition of Product ID") for m in messages)
    assert any("CSAFPID-0001" in m and "already defined" in m for m in messages)


def test_it_reports_a_malformed_cve_and_an_unknown_cwe():
    bad_cve = build_document(advisory(), content(cve="CVE-26-1"), [], history(1), NOW)
    (message,) = validate(bad_cve)
    assert message.startswith("schema ")
    assert "/vulnerabilities/0/cve" in message and "CVE-26-1" in message

    unknown = build_document(advisory(), content(cwe="CWE-999999"), [], history(1), NOW)
    assert validate(unknown) == [
        "6.1.11 Invalid CWE: /vulnerabilities/0/cwe: CWE-999999 is not a known CWE identifier"
    ]


def test_it_reports_a_version_that_is_not_in_the_revision_history():
    document = build_document(advisory(), content(), [], history(2), NOW)
    document["document"]["tracking"]["revision_history"].pop()
    messages = validate(document)
    assert any(m.startswith("6.1.16 ") for m in messages), messages


def test_it_serializes_the_same_bytes_whatever_the_key_order():
    document = build_document(advisory(), content(), ["Jane"], history(2), NOW)
    shuffled = json.loads(json.dumps(document, sort_keys=True))
    shuffled["document"] = dict(reversed(list(shuffled["document"].items())))
    assert serialize(shuffled) == serialize(document)
    assert json.loads(serialize(document)) == document


def test_it_names_files_as_csaf_section_5_1_says():
    assert file_name("MPSA-2026-0001") == "mpsa-2026-0001.json"
    assert file_name("ACME+SA 2026/01") == "acme+sa_2026_01.json"
