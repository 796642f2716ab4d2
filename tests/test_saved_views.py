"""Saved views: the inbox's filters under a name, personal or shared, in the inbox and the API."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from meldpunt.api.tokens import issue_token
from meldpunt.reports.models import Report, SavedView, State, Tag
from meldpunt.reports.saved_views import MAX_SHOWN
from tests.conftest import make_staff, sign_in, submit

LINK = re.compile(r'href="/triage/reports/([0-9a-f-]{36})/"')
MENU = re.compile(r'<nav class="saved-views".*?</nav>', re.S)


@pytest.fixture
def carol(db) -> User:
    user: User = make_staff("carol@example.org", "triager")
    return user


@pytest.fixture
def auth_reports(db) -> list[Report]:
    tag = Tag.objects.create(name="auth", colour="red")
    reports = [submit(Client()).report for _ in range(3)]
    for report in reports[:2]:
        report.tags.add(tag)
    return reports


def menu(client: Client) -> str:
    found = MENU.search(client.get("/triage/").content.decode())
    assert found
    return found[0]


def test_it_saves_the_inbox_filters_without_page_or_search(alice):
    client = sign_in(Client(), alice)
    query = "state=all&severity=high&page=3&q=portal.example.org"
    response = client.post("/triage/views/", {"name": "Hot", "query": query, "shared": "on"})
    assert response.status_code == 303
    view = SavedView.objects.get()
    assert (view.name, view.owner, view.shared, view.query) == (
        "Hot",
        alice,
        True,
        "state=all&severity=high",
    )
    assert response["Location"] == "/triage/?state=all&severity=high"


def test_it_refuses_filters_the_inbox_cannot_apply(alice):
    client = sign_in(Client(), alice)
    response = client.post("/triage/views/", {"name": "Bad", "query": "state=bogus"})
    assert response.status_code == 400
    assert not SavedView.objects.exists()


def test_it_shows_own_and_shared_views_with_their_counts(alice, carol, auth_reports):
    SavedView.objects.create(name="Auth", owner=carol, shared=True, query="tag=auth")
    SavedView.objects.create(name="Carol's own", owner=carol, query="state=closed")
    SavedView.objects.create(name="Mine", owner=alice, query="state=all")
    shown = menu(sign_in(Client(), alice))
    assert re.search(r'\?tag=auth">Auth</a>\s*<span class="meta">\(2\) · shared', shown)
    assert re.search(r'\?state=all">Mine</a>\s*<span class="meta">\(3\)', shown)
    assert "Carol" not in shown


def test_applying_a_view_sets_the_inbox_query(alice, auth_reports):
    view = SavedView.objects.create(name="Auth", owner=alice, query="tag=auth")
    page = sign_in(Client(), alice).get(f"/triage/?{view.query}").content.decode()
    assert set(LINK.findall(page)) == {str(r.uid) for r in auth_reports[:2]}
    assert 'aria-current="page">Auth</a>' in page


def test_it_counts_a_capped_number_of_views_in_one_statement(alice, auth_reports):
    for i in range(MAX_SHOWN + 2):
        query = "tag=auth" if i % 2 else "tag=auth&state=all"
        SavedView.objects.create(name=f"View {i:02d}", owner=alice, query=query)
    client = sign_in(Client(), alice)
    with CaptureQueriesContext(connection) as queries:
        shown = menu(client)
    assert shown.count("(2)") == MAX_SHOWN
    assert "All saved views" in shown
    counting = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    # The views' only (the inbox's own first page is shorter than a page, so it is its
    # count): one statement, one count for each query the shown views have.
    assert len(counting) == 1
    assert counting[0].upper().count("COUNT(") == 2


def test_views_counted_together_each_get_their_own_count(alice, auth_reports):
    """One statement, and each view's number is its own filter's (not its neighbour's)."""
    Report.objects.filter(pk=auth_reports[0].pk).update(state=State.CLOSED)
    SavedView.objects.create(name="Auth open", owner=alice, query="tag=auth")
    SavedView.objects.create(name="Auth anywhere", owner=alice, query="tag=auth&state=all")
    SavedView.objects.create(name="Nothing", owner=alice, query="tag=auth&severity=critical")
    shown = menu(sign_in(Client(), alice))
    assert re.search(r'tag=auth">Auth open</a>\s*<span class="meta">\(1\)', shown)
    assert re.search(r'state=all">Auth anywhere</a>\s*<span class="meta">\(2\)', shown)
    assert re.search(r'critical">Nothing</a>\s*<span class="meta">\(0\)', shown)


def test_a_tag_alone_is_counted_on_the_link_table_and_agrees_with_the_list(alice, auth_reports):
    Report.objects.filter(pk=auth_reports[0].pk).update(state=State.CLOSED)
    auth_reports[1].tags.clear()
    other = Report.objects.get(pk=auth_reports[2].pk)
    other.tags.add(Tag.objects.create(name="other", colour="blue"))
    SavedView.objects.create(name="Auth anywhere", owner=alice, query="tag=auth&state=all")
    client = sign_in(Client(), alice)
    with CaptureQueriesContext(connection) as queries:
        shown = menu(client)
    counting = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert re.search(r'state=all">Auth anywhere</a>\s*<span class="meta">\(1\)', shown)
    assert len(counting) == 1 and "reports_report_tags" in counting[0]
    assert '"reports_report"' not in counting[0]  # no join to the reports themselves
    listed = client.get("/triage/?tag=auth&state=all").content.decode()
    assert LINK.findall(listed) == [str(auth_reports[0].uid)]


def test_the_view_being_shown_takes_the_page_count(alice, auth_reports):
    SavedView.objects.create(name="Auth", owner=alice, query="tag=auth")
    client = sign_in(Client(), alice)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/triage/?tag=auth").content.decode()
    assert re.search(r'aria-current="page">Auth</a>\s*<span class="meta">\(2\)', page)
    assert not [q for q in queries if "COUNT(" in q["sql"].upper()]
    # A search within the view's filters shows fewer reports: the view counts for itself.
    with CaptureQueriesContext(connection) as queries:
        page = client.get(f"/triage/?tag=auth&q={auth_reports[0].reference}").content.decode()
    assert len(LINK.findall(page)) == 1
    assert re.search(r'aria-current="page">Auth</a>\s*<span class="meta">\(2\)', page)
    assert len([q for q in queries if "COUNT(" in q["sql"].upper()]) == 1
    # So does a page 2 of it, where the page's count is the view's: no second COUNT.
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/triage/?tag=auth&page=2").content.decode()
    assert re.search(r'aria-current="page">Auth</a>\s*<span class="meta">\(2\)', page)
    assert len([q for q in queries if "COUNT(" in q["sql"].upper()]) == 1
    # With a filter the form ignores, the page is not the view: the view counts for itself.
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/triage/?tag=auth&severity=bogus").content.decode()
    assert re.search(r'\?tag=auth">Auth</a>\s*<span class="meta">\(2\)', page)
    assert len([q for q in queries if "COUNT(" in q["sql"].upper()]) == 1


def test_only_the_owner_or_an_admin_edits_a_shared_view(alice, carol):
    view = SavedView.objects.create(name="Team", owner=carol, shared=True, query="state=all")
    url = f"/triage/views/{view.uid}/"
    client = sign_in(Client(), alice)
    assert client.get(url).status_code == 403
    assert client.post(url, {"name": "Mine now", "query": ""}).status_code == 403
    assert client.post(f"{url}delete/").status_code == 403
    assert SavedView.objects.get().name == "Team"
    admin = sign_in(Client(), make_staff("ada@example.org", "admin"))
    assert (
        admin.post(url, {"name": "Team (all)", "shared": "on", "query": "state=all"}).status_code
        == 303
    )
    assert SavedView.objects.get().name == "Team (all)"
    owner = sign_in(Client(), carol)
    assert owner.post(f"{url}delete/").status_code == 303
    assert not SavedView.objects.exists()


def test_a_personal_view_is_invisible_to_others(alice, carol):
    view = SavedView.objects.create(name="Own", owner=carol, query="state=all")
    admin = sign_in(Client(), make_staff("ada@example.org", "admin"))
    assert admin.get(f"/triage/views/{view.uid}/").status_code == 404
    assert sign_in(Client(), alice).post(f"/triage/views/{view.uid}/delete/").status_code == 404
    assert SavedView.objects.exists()


def test_the_api_lists_views_and_applies_one_as_the_inbox_does(alice, carol, auth_reports):
    shared = SavedView.objects.create(name="Auth", owner=carol, shared=True, query="tag=auth")
    SavedView.objects.create(name="Hidden", owner=carol, query="state=all")
    client = Client(headers={"Authorization": f"Bearer {issue_token(alice, 't')}"})
    listed = client.get("/api/v1/saved-views").json()
    assert [(v["name"], v["owner"], v["query"]) for v in listed] == [
        ("Auth", "carol@example.org", "tag=auth")
    ]
    Report.objects.filter(pk=auth_reports[0].pk).update(state=State.CLOSED)
    # As in the inbox: a view without a state lists open reports only.
    found = client.get("/api/v1/reports", {"view": str(shared.uid)}).json()
    assert [r["reference"] for r in found] == [auth_reports[1].reference]


def test_the_api_refuses_a_view_it_cannot_see(alice, carol):
    hidden = SavedView.objects.create(name="Hidden", owner=carol, query="state=all")
    client = Client(headers={"Authorization": f"Bearer {issue_token(alice, 't')}"})
    response = client.get("/api/v1/reports", {"view": str(hidden.uid)})
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans")
def test_the_menu_counts_read_indexes_alone(alice, auth_reports):
    """The menu's counts by tag, assignee, severity or decision among the open states need
    no table row: with the planner kept off sequential and bitmap scans (as at a million
    reports, where it prefers indexes), each is an index-only scan. Fails with COUNT(id) (the
    link table's index has no id) or with the filter indexes not ending in the id."""
    for name, query in (
        ("Auth", "tag=auth&state=all"),
        ("Mine", "assignee=me"),
        ("High", "severity=high"),
        ("Act", "ssvc=act"),
    ):
        SavedView.objects.create(name=name, owner=alice, query=query)
    client = sign_in(Client(), alice)
    with CaptureQueriesContext(connection) as queries:
        menu(client)
    (counting,) = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {counting}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    scans = re.findall(r"(Index Only Scan|Index Scan|Seq Scan|Bitmap Heap Scan)", plan)
    assert len(scans) >= 4, plan
    assert set(scans) == {"Index Only Scan"}, plan
