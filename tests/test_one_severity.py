"""One severity: the configured primary CVSS version decides it on every screen (issue 14)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import timezone

from meldpunt import checks
from meldpunt.advisories import csaf, publishing
from meldpunt.api.tokens import issue_token
from meldpunt.lib import crypto
from meldpunt.reports import lifecycle, messages
from meldpunt.reports.assessment import align_severities
from meldpunt.reports.models import Report, State
from tests.advisory_cast import ready
from tests.conftest import sign_in, submit
from tests.test_commands import operator_env, run

V31 = "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"  # 6.5, medium
V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:L/VA:N/SC:N/SI:N/SA:N"  # 7.1, high

HIGH = ("high", "High", "7.1", "4.0")
MEDIUM = ("medium", "Medium", "6.5", "3.1")


def assessed(alice: User, cvss31: str, cvss40: str) -> Report:
    """A report assessed on the report page's form, then answered and fixed."""
    report = submit(Client()).report
    response = sign_in(Client(), alice).post(
        f"/triage/reports/{report.uid}/assess/",
        {
            "valid": "yes",
            "in_scope": "yes",
            "cvss31_vector": cvss31,
            "cvss40_vector": cvss40,
            "cwe": "CWE-79",
            "affected_asset": "portal.example.org",
            "assignee": "",
            "expected_fix_date": (timezone.localdate() + timedelta(days=7)).isoformat(),
        },
    )
    assert response.status_code == 303
    messages.send_first_response(report, alice, "Confirmed.")
    lifecycle.transition(report, State.FIX_IN_PROGRESS, alice)
    lifecycle.transition(report, State.FIXED, alice)
    report.refresh_from_db()
    return report


def published(alice: User, report: Report) -> str:
    """Publish an advisory drafted from the report; returns its identifier."""
    advisory = ready(alice, report)
    # No finder review here: the severity, not the review, is what these tests are about.
    publishing.publish(advisory, summary="", user=alice, skip_review=True)
    return advisory.identifier


def staff_sees(alice: User, report: Report) -> dict[str, Any]:
    client = sign_in(Client(), alice)
    page = client.get(f"/triage/reports/{report.uid}/").content.decode()
    report.refresh_from_db()  # published by now
    inbox = client.get("/triage/", {"q": report.reference, "state": report.state})
    inbox_html = inbox.content.decode()
    summary = Client(headers={"Authorization": f"Bearer {issue_token(alice, 't')}"}).get(
        f"/api/v1/reports/{report.uid}"
    )
    assert summary.status_code == 200
    match = re.search(r'<dd id="severity">(.*?)</dd>', page, re.S)
    assert match, page
    row = re.search(r'<span class="severity severity-(\w+)">(\w+)</span>', inbox_html)
    assert row, inbox_html
    panel = re.search(r'<dl class="facts" id="cvss">(.*?)</dl>', page, re.S)
    assert panel, page
    return {
        "page": re.sub(r"<[^>]+>", "", match[1]),
        "panel_versions": re.findall(r"<dt>CVSS (\d\.\d)", panel[1]),
        "inbox": (row[1], row[2]),
        "api": summary.json(),
    }


def public_sees(identifier: str) -> dict[str, Any]:
    listing = Client().get("/advisories/").content.decode()
    page = Client().get(f"/advisories/{identifier}/").content.decode()
    row = re.search(r'<td class="severity">(.*?)</td>', listing, re.S)
    severity = re.search(r'<dd id="advisory-severity">(.*?)</dd>', page)
    href = re.search(r'<dd id="advisory-csaf"><a href="([^"]+)"', page)
    assert row and severity and href, page
    document = json.loads(Client().get(href[1]).content)
    return {
        "list": re.sub(r"<[^>]+>", "", row[1]),
        "page": severity[1],
        "cvss_rows": re.findall(r'<dd id="advisory-cvss(\d+)">', page),
        "csaf": document,
    }


def assert_everywhere(alice: User, report: Report, identifier: str, expected: tuple[str, ...]):
    severity, label, score, version = expected
    staff = staff_sees(alice, report)
    assert staff["page"] == f"{label} ({score}, CVSS {version})"
    assert staff["inbox"] == (severity, label)
    assert staff["panel_versions"][0] == version  # the workflow panel: the primary first
    api = staff["api"]
    assert (api["severity"], api["cvss_score"], api["cvss_version"]) == (
        severity,
        float(score),
        version,
    )
    public = public_sees(identifier)
    assert public["list"].startswith(f"{label} ({score}) CVSS {version}")
    assert public["page"] == f"{label} ({score}, CVSS {version})"
    assert public["cvss_rows"][0] == version.replace(".", "")  # the primary first
    document = public["csaf"]
    assert csaf.validate(document) == []
    aggregate = document["document"]["aggregate_severity"]
    assert aggregate["text"] == label
    assert f"/v{version}/" in aggregate["namespace"]


@pytest.mark.parametrize(
    ("primary", "expected", "secondary"),
    [("4.0", HIGH, "CVSS 3.1: 6.5"), ("3.1", MEDIUM, "CVSS 4.0: 7.1")],
)
def test_it_shows_the_primary_versions_severity_everywhere(alice, primary, expected, secondary):
    with override_settings(MELDPUNT_PRIMARY_CVSS=primary):
        report = assessed(alice, V31, V40)
        identifier = published(alice, report)
        assert report.severity == expected[0]
        assert_everywhere(alice, report, identifier, expected)
        assert public_sees(identifier)["list"].endswith(secondary)
        vuln = public_sees(identifier)["csaf"]["vulnerabilities"][0]
        # CSAF 2.0 scores only CVSS 3.x; the 4.0 vector travels as a note, whichever is primary.
        assert vuln["scores"][0]["cvss_v3"]["baseScore"] == 6.5
        assert [n["title"] for n in vuln["notes"] if n["category"] == "other"] == ["CVSS v4.0"]


def test_it_takes_the_only_version_scored_whichever_is_primary(alice):
    only_31 = assessed(alice, V31, "")
    assert_everywhere(alice, only_31, published(alice, only_31), MEDIUM)

    with override_settings(MELDPUNT_PRIMARY_CVSS="3.1"):
        only_40 = assessed(alice, "", V40)
        identifier = published(alice, only_40)
        assert_everywhere(alice, only_40, identifier, HIGH)
        assert "scores" not in public_sees(identifier)["csaf"]["vulnerabilities"][0]


def test_it_follows_a_changed_setting_after_a_restart(alice):
    report = assessed(alice, V31, V40)
    identifier = published(alice, report)
    printed = public_sees(identifier)["csaf"]
    with override_settings(MELDPUNT_PRIMARY_CVSS="3.1"):
        # What `meldpunt serve` does when it starts: the stored severity follows the setting.
        assert align_severities() == 1
        assert align_severities() == 0
        client = sign_in(Client(), alice)
        inbox = client.get(
            "/triage/", {"severity": "medium", "state": "published"}
        ).content.decode()
        assert report.reference in inbox
        public = public_sees(identifier)
        assert public["list"].startswith("Medium (6.5) CVSS 3.1")
        assert public["page"] == "Medium (6.5, CVSS 3.1)"
        assert staff_sees(alice, report)["page"] == "Medium (6.5, CVSS 3.1)"
        # A published CSAF document is served as it was signed; the next revision follows.
        assert public["csaf"] == printed
    assert align_severities() == 1
    assert Report.objects.get(pk=report.pk).severity == "high"


def test_it_refuses_an_unknown_primary_version_in_one_line():
    assert checks.severity_settings() == []
    with override_settings(MELDPUNT_PRIMARY_CVSS="3.0"):
        errors = checks.severity_settings()
    assert [e.id for e in errors] == ["meldpunt.E020"]
    assert errors[0].msg == "MELDPUNT_PRIMARY_CVSS='3.0' must be one of 4.0, 3.1."


def test_it_explains_a_bad_primary_version_to_the_operator(tmp_path: Path):
    env = operator_env(tmp_path / "data")
    crypto.create_key_file(tmp_path / "data" / "keys" / "master-keys.json")
    result = run(["check"], {**env, "MELDPUNT_PRIMARY_CVSS": "v4"})
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if "MELDPUNT_PRIMARY_CVSS" in ln]
    assert len(lines) == 1, result.stderr
    assert "'v4' must be one of 4.0, 3.1." in lines[0]
    assert "Traceback" not in result.stderr
