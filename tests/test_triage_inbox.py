"""The team's inbox: nearest promise first, filters, search, pages, and nothing decrypted."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from meldpunt.accounts.gate import SECOND_FACTOR_AT
from meldpunt.accounts.models import StaffProfile
from meldpunt.lib import crypto
from meldpunt.lib.targets import parse_target
from meldpunt.policy.commitments import current_version
from meldpunt.reports.filters import filter_reports, inbox_filter
from meldpunt.reports.models import Report, Tag
from meldpunt.reports.services import NewReport, submit_report
from meldpunt.reports.summary import TITLE_CHARS, Summary, summary
from meldpunt.triage.inbox import PER_PAGE, listing, ordered
from tests.conftest import PASSWORD, sign_in

LINK = re.compile(r'href="/triage/reports/([0-9a-f-]{36})/"')


def new_report(*systems: str, **clear: Any) -> Report:
    """A report through the intake service, then its clear workflow columns set as given."""
    systems = systems or ("https://portal.example.org/login",)
    receipt = submit_report(
        NewReport(
            channel="web",
            language="en",
            policy_version=current_version(),
            category="xss",
            out_of_scope=False,
            targets=[parse_target(s) for s in systems],
            content={"affected_systems": list(systems), "description": "Secret text."},
            finder={"name": "", "email": "", "pgp_key": ""},
        )
    )
    if clear:
        Report.objects.filter(pk=receipt.report.pk).update(**clear)
    return Report.objects.get(pk=receipt.report.pk)


def listed(client: Client, query: str = "") -> list[Report]:
    response = client.get(f"/triage/{query}")
    assert response.status_code == 200, response.content.decode()[:500]
    uids = LINK.findall(response.content.decode())
    by_uid = {str(r.uid): r for r in Report.objects.filter(uid__in=uids)}
    return [by_uid[uid] for uid in uids]


@pytest.fixture
def alice_client(alice: User) -> Client:
    return sign_in(Client(), alice)


def test_it_lists_reports_waiting_for_a_response_by_nearest_deadline(alice_client):
    now = timezone.now()
    later = new_report(response_due_at=now + timedelta(days=2))
    soonest = new_report(response_due_at=now + timedelta(hours=1))
    late = new_report(response_due_at=now - timedelta(hours=3))
    answered = new_report(response_due_at=now - timedelta(days=5), first_response_at=now)
    assert listed(alice_client) == [late, soonest, later, answered]


def test_it_lists_answered_reports_by_expected_fix_date(alice_client):
    now = timezone.now()
    no_date = new_report(first_response_at=now)
    far = new_report(first_response_at=now, expected_fix_date=date(2030, 1, 1))
    near = new_report(first_response_at=now, expected_fix_date=date(2029, 1, 1))
    waiting = new_report()
    assert listed(alice_client) == [waiting, near, far, no_date]


def test_it_hides_closed_reports_unless_asked(alice_client):
    open_one = new_report()
    closed = new_report(state="closed", resolution="spam")
    needs_info = new_report(state="needs_info")
    newer_closed = new_report(state="closed", resolution="resolved")
    assert set(listed(alice_client)) == {open_one, needs_info}
    assert listed(alice_client, "?state=closed") == [newer_closed, closed]
    assert listed(alice_client, "?state=needs_info") == [needs_info]
    assert set(listed(alice_client, "?state=all")) == {open_one, closed, needs_info, newer_closed}


def test_it_filters_by_assignee(alice_client, alice, bob):
    mine = new_report(assignee=alice)
    bobs = new_report(assignee=bob)
    nobodys = new_report()
    bob_uid = StaffProfile.objects.get(user=bob).uid
    assert listed(alice_client, "?assignee=me") == [mine]
    assert listed(alice_client, "?assignee=none") == [nobodys]
    assert listed(alice_client, f"?assignee={bob_uid}") == [bobs]
    assert set(listed(alice_client, "?assignee=")) == {mine, bobs, nobodys}


def test_it_filters_by_severity(alice_client):
    high = new_report(severity="high")
    low = new_report(severity="low")
    unassessed = new_report()
    assert listed(alice_client, "?severity=high") == [high]
    assert listed(alice_client, "?severity=low") == [low]
    assert listed(alice_client, "?severity=unset") == [unassessed]


def test_it_filters_by_scope_with_the_assessment_overriding_the_category(alice_client):
    in_scope = new_report()
    finder_says_out = new_report(out_of_scope=True)
    team_says_out = new_report(in_scope=False)
    team_says_in = new_report(out_of_scope=True, in_scope=True)
    assert set(listed(alice_client, "?scope=out")) == {finder_says_out, team_says_out}
    assert set(listed(alice_client, "?scope=in")) == {in_scope, team_says_in}


def test_it_shows_only_overdue_reports_when_asked(alice_client):
    now = timezone.now()
    overdue = new_report(response_due_at=now - timedelta(minutes=1))
    new_report(response_due_at=now + timedelta(days=1))
    new_report(response_due_at=now - timedelta(days=1), first_response_at=now)
    new_report(response_due_at=now - timedelta(days=1), state="closed")
    assert listed(alice_client, "?overdue=on") == [overdue]


def test_it_marks_overdue_reports_in_words_not_colour_alone(alice_client):
    report = new_report()
    page = alice_client.get("/triage/").content.decode()
    assert "left" in page
    assert "Overdue by" not in page
    Report.objects.filter(pk=report.pk).update(response_due_at=timezone.now() - timedelta(days=2))
    page = alice_client.get("/triage/").content.decode()
    assert '<tr class="overdue">' in page
    assert re.search(r'<strong class="late">Overdue by 2\xa0days', page)


def test_it_says_responded_once_the_first_response_is_sent(alice_client):
    new_report(first_response_at=timezone.now())
    page = alice_client.get("/triage/").content.decode()
    assert "responded" in page
    assert "left" not in page


def test_it_finds_a_report_by_its_reference_in_any_state(alice_client):
    new_report()
    wanted = new_report(state="closed")
    assert listed(alice_client, f"?q={wanted.reference.lower()}") == [wanted]
    assert listed(alice_client, f"?q={wanted.reference}&state=received") == []
    assert listed(alice_client, "?q=MP-1999-9999") == []


def test_it_finds_reports_by_affected_host_or_url(alice_client):
    portal = new_report("https://portal.example.org/login", "192.0.2.10")
    shop = new_report("shop.example.org:8443")
    assert listed(alice_client, "?q=PORTAL.example.org") == [portal]
    assert listed(alice_client, "?q=https://portal.example.org/other?x=1") == [portal]
    assert listed(alice_client, "?q=192.0.2.10") == [portal]
    assert listed(alice_client, "?q=http://shop.example.org/") == [shop]


def test_it_finds_nothing_for_a_host_no_report_names(alice_client):
    new_report("https://portal.example.org/login")
    response = alice_client.get("/triage/?q=elsewhere.example.net")
    assert response.status_code == 200
    assert "No reports match these filters." in response.content.decode()
    assert not LINK.findall(response.content.decode())


def test_it_ignores_bad_filter_values_and_says_so(alice_client):
    report = new_report()
    response = alice_client.get(
        "/triage/?state=bogus&assignee=nobody&severity=%00&scope=maybe&page=x&q=not+a+host!"
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Some filters could not be used and were ignored" in page
    for label in ("State", "Assignee", "Severity", "Scope", "Reference, host or URL"):
        assert label in page.split('id="ignored"')[1].split("</div>")[0]
    assert "Search for a reference such as MP-2026-0042" in page
    assert LINK.findall(page) == [str(report.uid)]
    for query in ("http://[::1", "http://[zz]/", "x" * 2001, "MP-2026-" + "9" * 30):
        assert alice_client.get("/triage/", {"q": query}).status_code in (200, 400)


def test_it_pages_fifty_reports_at_a_time_and_keeps_the_filters(alice_client):
    now = timezone.now()
    reports = [new_report(response_due_at=now + timedelta(hours=i)) for i in range(51)]
    first = alice_client.get("/triage/?severity=unset").content.decode()
    assert LINK.findall(first) == [str(r.uid) for r in reports[:50]]
    assert "Page 1 of 2" in first
    assert 'href="?severity=unset&amp;page=2"' in first
    second = listed(alice_client, "?severity=unset&page=2")
    assert second == [reports[50]]
    assert listed(alice_client, "?page=99") == [reports[50]]


def test_a_first_page_shorter_than_a_page_is_its_own_count(alice_client):
    now = timezone.now()
    for i in range(PER_PAGE + 1):
        new_report(response_due_at=now + timedelta(hours=i), severity="high" if i < 3 else "")
    with CaptureQueriesContext(connection) as queries:
        short = alice_client.get("/triage/?severity=high").content.decode()
    assert len(LINK.findall(short)) == 3 and "3 reports" in short
    assert not [q for q in queries if "COUNT(" in q["sql"].upper()]
    with CaptureQueriesContext(connection) as queries:
        full = alice_client.get("/triage/").content.decode()
    assert len(LINK.findall(full)) == PER_PAGE and f"{PER_PAGE + 1} reports" in full
    assert "Page 1 of 2" in full
    assert len([q for q in queries if "COUNT(" in q["sql"].upper()]) == 1


def test_a_page_of_the_inbox_loads_no_column_per_row(alice_client, bob):
    """Rows read only the columns the listing selects: a deferred one would cost a query
    per row, so one row and five rows take the same statements."""
    web = Tag.objects.create(name="web")

    def statements() -> int:
        with CaptureQueriesContext(connection) as queries:
            page = alice_client.get("/triage/").content.decode()
        assert page.count('data-tag="web"') == Report.objects.count()
        assert page.count("badge-low-value") == Report.objects.count()
        return len(queries)

    def add() -> None:
        report = new_report(
            assignee=bob, severity="high", ssvc_decision="act", low_value_rule="no_impact",
            scope_verdict="unknown",
        )  # fmt: skip
        report.tags.add(web)

    add()
    statements()  # the first page fills the per-process caches (rule names, forms)
    one = statements()
    for _ in range(4):
        add()
    assert statements() == one


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_the_inbox_reads_its_order_from_the_queue_index(alice):
    """The partial index holds queue_order's expressions: if the inbox's ORDER BY drifted from
    them, PostgreSQL would have to sort every open report for each page (bench/README.md)."""
    now = timezone.now()
    reports = ordered(filter_reports(listing(now), inbox_filter({}, alice), now), "")
    sql, params = reports[:PER_PAGE].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "reports_queue_idx" in plan
    assert "Sort" not in plan.split("SubPlan")[0], plan


def test_it_shows_the_title_kind_and_first_host_of_each_report(alice_client):
    new_report("https://shop.example.org/cart?id=1", "api.example.org")
    page = alice_client.get("/triage/").content.decode()
    assert '<td class="title">Secret text.</td>' in page
    assert "<td>Cross-site scripting (XSS)</td>" in page
    assert "<code>shop.example.org</code>" in page
    assert "api.example.org" not in page


def test_it_escapes_what_the_finder_wrote_in_every_column(alice_client):
    title = "<script>alert('x')</script>\"&"
    host = "<img src=x onerror=alert(1)>"
    receipt = submit_report(
        NewReport(
            channel="web",
            language="en",
            policy_version=current_version(),
            category="xss",
            out_of_scope=False,
            targets=[parse_target("https://shop.example.org/")],
            content={"affected_systems": [host], "description": title},
            finder={"name": "", "email": "", "pgp_key": ""},
        )
    )
    page = alice_client.get("/triage/").content.decode()
    assert receipt.report.reference in page
    assert "<script>" not in page and "<img" not in page
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot;&amp;"
    assert f'<td class="title">{escaped}</td>' in page
    assert "<code>&lt;img src=x onerror=alert(1)&gt;</code>" in page


def test_it_decrypts_only_the_reports_on_the_page(alice_client, monkeypatch):
    for _ in range(PER_PAGE + 3):
        new_report(severity="high")
    opened: list[str] = []
    open_json = crypto.open_json

    def counting(blob: bytes, aad: str) -> Any:
        opened.append(aad)
        return open_json(blob, aad)

    monkeypatch.setattr(crypto, "open_json", counting)
    response = alice_client.get("/triage/?q=portal.example.org")
    assert response.status_code == 200
    assert len(opened) == PER_PAGE
    assert all(aad.endswith(":content") for aad in opened)


def test_it_sends_anonymous_visitors_to_the_login_page(db):
    response = Client().get("/triage/?state=all")
    assert response.status_code == 302
    assert response["Location"] == "/triage/login/?next=%2Ftriage%2F%3Fstate%3Dall"


def test_it_keeps_a_password_only_session_out(alice):
    client = Client()
    client.post("/triage/login/", {"username": "alice@example.org", "password": PASSWORD})
    response = client.get("/triage/")
    assert response.status_code == 302
    assert response["Location"].startswith("/triage/login/")


def test_it_keeps_a_signed_in_user_who_is_not_staff_out(db):
    charlie = User.objects.create_user("charlie", password=PASSWORD)
    client = Client()
    client.force_login(charlie)
    session = client.session
    session[SECOND_FACTOR_AT] = 0
    session.save()
    new_report()
    assert client.get("/triage/").status_code == 404


def test_it_shows_the_inbox_to_a_viewer(bob):
    report = new_report()
    assert listed(sign_in(Client(), bob)) == [report]


def test_it_refuses_other_methods(alice_client):
    assert alice_client.post("/triage/").status_code == 405
    assert alice_client.delete("/triage/").status_code == 405


def test_it_titles_a_mail_report_by_its_subject_and_cuts_long_titles():
    mail = {"subject": "XSS  in\nsearch", "description": "Body", "affected_systems": []}
    assert summary(mail) == Summary(title="XSS in search", host="")
    long = summary({"description": "word " * 40 + "\nsecond line", "affected_systems": ["x y"]})
    assert len(long.title) == TITLE_CHARS and long.title.endswith("…")
    assert long.host == "x y"  # not a host: shown as written


@pytest.mark.parametrize("language", ["nl", "en", "fr"])
def test_the_inbox_says_ages_and_clocks_in_djangos_words(language):
    """The inbox's own time strings (translated at once, not lazily) read as Django's."""
    from django.utils import translation
    from django.utils.timesince import timesince, timeuntil

    from meldpunt.triage.inbox import _since, _until

    now = timezone.now()
    deltas = [timedelta(0), timedelta(seconds=59), timedelta(minutes=1), timedelta(hours=1)]
    deltas += [timedelta(days=d, hours=h, minutes=m) for d in (0, 1, 2, 8, 33, 400, 800)
               for h, m in ((0, 1), (1, 0), (5, 17), (23, 59))]  # fmt: skip
    with translation.override(language):
        for delta in deltas:
            assert _since(now - delta, now) == timesince(now - delta, now)
            assert _until(now + delta, now) == timeuntil(now + delta, now)
        assert _since(now - timedelta(days=2, hours=3), now) != _since(now - timedelta(days=1), now)


def test_the_received_moment_is_in_each_visitors_language_and_zone(alice):
    """The cell is formatted once per report (kept per process); the language, whose month
    names it holds, and the time zone are part of what it is kept under."""
    from django.utils import translation
    from django.utils.formats import date_format

    report = new_report()
    received = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    Report.objects.filter(pk=report.pk).update(created_at=received)
    client = sign_in(Client(), alice)
    seen = {}
    for language in ("nl", "fr", "en", "nl"):
        page = client.get("/triage/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
        cell = re.search(r'<time datetime="([^"]+)" title="([^"]+)">', page)
        assert cell
        with translation.override(language):
            local = timezone.localtime(received)
            assert cell[2] == date_format(local, "DATETIME_FORMAT"), language
        assert cell[1] == local.replace(microsecond=0).isoformat()
        seen[language] = cell[2]
    assert len(set(seen.values())) == 3  # "maart", "mars", "March" (or the zone's next day)
    with timezone.override("Pacific/Auckland"):
        page = client.get("/triage/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "2026-03-03T12:30:00+13:00" in page
