"""The metrics page: how well the policy's promises were kept, per month."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import dateformat, timezone

from meldpunt.reports.models import Event, Report, State
from meldpunt.triage.metrics import monthly_figures
from tests.conftest import sign_in, submit

BRUSSELS = ZoneInfo("Europe/Brussels")
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=BRUSSELS)


def local(m: int, d: int, hour: int = 10, year: int = 2026) -> datetime:
    return datetime(year, m, d, hour, tzinfo=BRUSSELS)


def report(
    client: Client,
    created: datetime,
    responded: datetime | None = None,
    kept: bool | None = None,
    **fields,
) -> Report:
    made = submit(client).report
    Report.objects.filter(pk=made.pk).update(
        created_at=created,
        response_due_at=created + timedelta(days=3),
        first_response_at=responded,
        first_response_kept=kept,
        **fields,
    )
    return made


def fixed(made: Report, at: datetime, to: str = "fixed") -> None:
    Event.objects.create(
        report=made,
        created_at=at,
        kind="state_changed",
        actor="alice@example.org",
        data={"from": "fix_in_progress", "to": to},
    )


@pytest.fixture
def reports(db):
    client = Client()
    one = report(client, local(3, 2), local(3, 3), kept=True)  # 24 h
    report(client, local(3, 5), local(3, 5, 22), kept=True)  # 12 h
    three = report(client, local(3, 6), local(3, 11), kept=False)  # 5 days
    report(client, local(3, 10))  # unanswered after its deadline: a broken promise
    report(client, local(3, 19))  # unanswered, deadline still ahead: not decided yet
    # 23:30 UTC on 28 February is already March in Brussels.
    night = datetime(2026, 2, 28, 23, 30, tzinfo=UTC)
    report(client, night, night + timedelta(hours=6), kept=True)
    report(client, local(2, 15), local(2, 15, 12), kept=True)  # 2 h
    report(client, local(1, 10), state=State.CLOSED)  # closed unanswered: off the clock
    report(client, local(3, 10, year=2025), local(3, 11, year=2025), kept=False)  # too old
    report(client, local(4, 2), local(4, 3), kept=False)  # after "now": a clock ahead of ours
    fixed(one, local(3, 12))  # 10 days
    fixed(three, local(3, 9), to="fix_in_progress")
    fixed(three, local(3, 16))  # 10 days: the first time it was marked fixed counts
    fixed(three, local(3, 19))


def test_it_computes_the_figures_per_month_of_receipt(reports):
    months, total = monthly_figures(NOW)
    assert [m.month for m in months][:2] == [date(2025, 4, 1), date(2025, 5, 1)]
    assert months[-1].month == date(2026, 3, 1)
    assert len(months) == 12
    march, february, january = months[-1], months[-2], months[-3]
    assert march.received == 6
    assert march.response_median == 18 * 3600  # of 6, 12, 24 and 120 hours
    assert (march.kept, march.measured) == (3, 5)
    assert march.fixed == 2
    assert march.fix_median == 10 * 86400
    assert february.received == 1
    assert february.response_median == 2 * 3600
    assert february.kept_share == 1
    assert february.fix_median is None
    assert january.received == 1
    assert january.kept_share is None
    assert all(m.received == 0 for m in months[:-3])
    assert total.received == 8
    assert total.response_median == 12 * 3600
    assert (total.kept, total.measured) == (4, 6)
    assert total.fix_median == 10 * 86400


def test_it_shows_the_figures_in_a_table_and_a_chart(reports, bob, monkeypatch):
    figures_at = monthly_figures
    monkeypatch.setattr("meldpunt.triage.metrics.monthly_figures", lambda: figures_at(NOW))
    page = sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), bob).get("/triage/metrics/")
    assert page.status_code == 200
    html = page.content.decode()
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</th>(.*?)</tr>", html, re.S)
    cells = {month: re.findall(r"<td>(.*?)</td>", rest) for month, rest in rows}
    assert cells["March 2026"] == ["6", "18.0 hours", "3 of 5 (60%)", "2", "10.0 days"]
    assert cells["February 2026"] == ["1", "2.0 hours", "1 of 1 (100%)", "0", "—"]
    assert cells["January 2026"] == ["1", "—", "—", "0", "—"]
    assert cells["Last 12 months"] == ["8", "12.0 hours", "4 of 6 (67%)", "2", "10.0 days"]
    assert next(iter(cells)) == "March 2026"  # newest first
    chart = re.search(r"<svg .*?</svg>", html, re.S)
    assert chart
    svg = chart.group(0)
    assert 'role="img"' in svg
    assert '<title id="chart-title">' in svg
    assert '<desc id="chart-desc">' in svg
    assert svg.count("<rect ") == 13  # twelve months and the legend
    assert "<polyline " in svg


def test_it_shows_a_dash_for_time_to_fix_while_nothing_was_fixed(alice):
    client = Client()
    made = submit(client).report
    Report.objects.filter(pk=made.pk).update(
        first_response_at=made.created_at + timedelta(hours=3), first_response_kept=True
    )
    html = sign_in(client, alice).get("/triage/metrics/").content.decode()
    overall = re.search(r'<dl class="facts" id="overall-figures">(.*?)</dl>', html, re.S)
    assert overall
    figures = re.findall(r"<dd>(.*?)</dd>", overall.group(1))
    assert figures == ["1", "3.0 hours", "1 of 1 (100%)", "0", "—"]


def test_it_draws_the_chart_without_inline_styles_in_any_language(reports, alice):
    for language in ("en", "nl", "fr"):
        client = sign_in(Client(HTTP_ACCEPT_LANGUAGE=language), alice)
        html = client.get("/triage/metrics/").content.decode()
        assert "style=" not in html
        assert "<style" not in html
        assert "<script" not in html
        svg = re.search(r"<svg .*?</svg>", html, re.S)
        assert svg
        # Coordinates must not be localised: "12,5" would break the drawing in Dutch.
        for name, value in re.findall(r' (x|y|x1|y1|x2|y2|cx|cy|width|height)="([^"]*)"', svg[0]):
            assert re.fullmatch(r"-?\d+(\.\d+)?%?", value), (language, name, value)
        for points in re.findall(r'points="([^"]*)"', svg[0]):
            assert re.fullmatch(r"\d+\.\d,\d+\.\d( \d+\.\d,\d+\.\d)*", points), points


def test_it_sends_anonymous_visitors_to_the_login_page(db):
    response = Client().get("/triage/metrics/")
    assert response.status_code == 302
    assert response["Location"] == "/triage/login/?next=%2Ftriage%2Fmetrics%2F"


def test_it_answers_get_only(alice):
    client = sign_in(Client(), alice)
    assert client.post("/triage/metrics/").status_code == 405
    assert client.head("/triage/metrics/").status_code == 200


def test_it_uses_the_current_month_for_the_newest_row(alice):
    html = sign_in(Client(), alice).get("/triage/metrics/").content.decode()
    newest = re.search(r'<tbody>\s*<tr>\s*<th scope="row">(.*?)</th>', html)
    assert newest
    assert newest.group(1) == dateformat.format(timezone.localdate(), "F Y")


def test_it_says_hour_for_one_hour_and_hours_otherwise():
    from django.utils import translation

    from meldpunt.triage.metrics import duration_text

    with translation.override("en"):
        assert duration_text(3600) == "1.0 hour"
        assert duration_text(5400) == "1.5 hours"
        assert duration_text(3 * 86400) == "3.0 days"
    with translation.override("fr"):
        assert duration_text(3600) == "1,0 heure"
