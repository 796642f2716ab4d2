"""Reports brought to `fixed`, and advisories drafted from them, for the advisory tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from meldpunt.advisories import publishing
from meldpunt.advisories.models import Advisory
from meldpunt.reports import assessment, lifecycle, messages
from meldpunt.reports.models import Report, State
from tests.conftest import Submitted, submit

V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"  # 6.1
V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"  # 9.3


def fixed(user: User, submitted: Submitted | None = None, **fields: Any) -> Report:
    """A report submitted on the web, assessed, answered, and fixed."""
    report = (submitted or submit(Client(), **fields)).report
    assessment.assess(
        report,
        user,
        valid=True,
        in_scope=True,
        expected_fix_date=timezone.localdate(),
        cvss31_vector=V31,
        cwe="CWE-79",
        affected_asset="portal.example.org",
    )
    messages.send_first_response(report, user, "Confirmed.")
    lifecycle.transition(report, State.FIX_IN_PROGRESS, user)
    lifecycle.transition(report, State.FIXED, user)
    return report


def ready(user: User, *reports: Report, publish_at: datetime | None = None) -> Advisory:
    """An advisory drafted from these reports with everything a publication needs."""
    advisory = publishing.start_draft(reports[0], user)
    for report in reports[1:]:
        publishing.add_report(advisory, report, user)
    publishing.update_draft(
        advisory,
        {
            "title": "Reflected XSS in the customer portal",
            "summary": "The search page reflected the q parameter without escaping.",
            "products": [{"name": "Customer portal", "affected": "< 2.3.1", "fixed": "2.3.1"}],
            "remediation": "Update to 2.3.1.",
            "references": ["https://example.org/notes/1"],
            "publish_at": publish_at or timezone.now() + timedelta(days=7),
            "publish_tz": "Europe/Brussels",
        },
        user,
    )
    return advisory
