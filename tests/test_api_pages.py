"""The report list pages with an opaque cursor (Link: rel="next"); limit/offset still work."""

from __future__ import annotations

import re
from datetime import timedelta

from django.test import Client
from django.utils import timezone

from meldpunt.api.tokens import issue_token
from meldpunt.reports.models import Report
from tests.conftest import submit


def _next(response) -> str | None:
    found = re.fullmatch(r'<([^>]+)>; rel="next"', response.get("Link", ""))
    return found.group(1) if found else None


def test_it_pages_with_a_cursor_in_a_stable_order(alice):
    client = Client(headers={"Authorization": f"Bearer {issue_token(alice, 'pages')}"})
    reports = [submit(Client()).report for _ in range(5)]
    same = timezone.now() + timedelta(days=3)
    Report.objects.filter(pk__in=[r.pk for r in reports[:3]]).update(response_due_at=same)
    everything = [r["reference"] for r in client.get("/api/v1/reports").json()]
    seen: list[str] = []
    url: str | None = "/api/v1/reports?limit=2&state=received"
    while url:
        page = client.get(url)
        assert page.status_code == 200
        seen += [r["reference"] for r in page.json()]
        if len(seen) == 2:
            # A report that arrives meanwhile neither repeats nor shifts what comes next.
            submit(Client())
        url = _next(page)
        assert url is None or ("cursor=" in url and "state=received" in url)
    assert seen[:5] == everything
    assert len(seen) == len(set(seen)) == 6


def test_it_keeps_limit_and_offset_working(alice):
    client = Client(headers={"Authorization": f"Bearer {issue_token(alice, 'pages')}"})
    for _ in range(3):
        submit(Client())
    everything = [r["reference"] for r in client.get("/api/v1/reports").json()]
    second = client.get("/api/v1/reports", {"limit": 1, "offset": 1}).json()
    assert [r["reference"] for r in second] == everything[1:2]


def test_it_refuses_a_cursor_it_did_not_give(alice, db):
    client = Client(headers={"Authorization": f"Bearer {issue_token(alice, 'pages')}"})
    for bad in ("nonsense", "W10", "WyJ4IiwgInkiXQ"):
        answer = client.get("/api/v1/reports", {"cursor": bad})
        assert answer.status_code == 422, bad
        assert answer.json()["detail"][0]["loc"] == ["query", "cursor"]
