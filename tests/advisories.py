"""Advisories made with the ORM, as publication leaves them (for the public side's tests)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from meldpunt.advisories.csaf import build_document, validate
from meldpunt.advisories.models import Advisory, AdvisoryRevision
from meldpunt.reports.models import Report

XSS_31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"
XSS_40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:L/VI:L/VA:N/SC:L/SI:L/SA:N"
CRITICAL_31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"


def content(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "Reflected XSS in the shop search",
        "summary": "The q parameter of the search page was echoed without escaping.",
        "products": [{"name": "Webshop", "affected": "2.3.1", "fixed": "2.3.2"}],
        "remediation": "Upgrade to 2.3.2.",
        "cvss31_vector": XSS_31,
        "cvss40_vector": "",
        "cwe": "CWE-79",
        "cve": "",
        "references": ["https://example.org/notes/xss"],
    }
    data.update(overrides)
    return data


def make_advisory(
    identifier: str,
    status: str = Advisory.Status.DRAFT,
    language: str = "en",
    draft: dict[str, Any] | None = None,
    reports: list[Report] | None = None,
) -> Advisory:
    now = timezone.now()
    advisory = Advisory(
        identifier=identifier, created_at=now, updated_at=now, status=status, language=language
    )
    advisory.draft = draft or content()
    advisory.save()
    if reports:
        advisory.reports.set(reports)
    return advisory


def add_revision(
    advisory: Advisory,
    data: dict[str, Any],
    credits: list[str],
    at: datetime,
    summary: str = "Initial publication.",
) -> AdvisoryRevision:
    """Publish (or revise) as the workflow does: build, validate, store, mark published."""
    previous = list(advisory.revisions.order_by("number"))
    history = [
        {"number": r.number, "date": r.published_at.isoformat(), "summary": r.summary}
        for r in previous
    ]
    number = len(previous) + 1
    history.append({"number": number, "date": at.isoformat(), "summary": summary})
    document = build_document(advisory, data, credits, history, at)
    problems = validate(document)
    assert problems == [], problems
    revision = AdvisoryRevision.objects.create(
        advisory=advisory,
        number=number,
        published_at=at,
        summary=summary,
        content=data,
        credits=credits,
        csaf=document,
    )
    advisory.status = Advisory.Status.PUBLISHED
    advisory.published_at = advisory.published_at or at
    advisory.save()
    return revision


def publish(
    identifier: str,
    data: dict[str, Any] | None = None,
    credits: list[str] | None = None,
    at: datetime | None = None,
    revisions: int = 1,
    language: str = "en",
    reports: list[Report] | None = None,
) -> Advisory:
    """A published advisory with `revisions` revisions, the first at `at`, a day apart."""
    data = data or content()
    at = (at or timezone.now()).replace(microsecond=0)
    advisory = make_advisory(identifier, language=language, draft=data, reports=reports)
    for n in range(revisions):
        summary = "Initial publication." if n == 0 else f"Revision {n + 1}: details added."
        add_revision(advisory, data, credits or [], at + timedelta(days=n), summary)
    return advisory
