"""Answers kept while the database cannot have changed (meldpunt/lib/snapshots.py).

These run outside a test transaction (PostgreSQL keeps nothing inside one), with a second
connection standing in for another process or host that commits.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from meldpunt.accounts.models import StaffProfile
from meldpunt.lib import changes, snapshots
from meldpunt.models import DataChange
from meldpunt.reports import ssvc
from meldpunt.reports.filters import ReportFilter, filter_reports
from meldpunt.reports.models import Report, SavedView, State, Tag
from meldpunt.reports.tags import tag_names, tags_of
from tests.conftest import make_staff, sign_in, submit
from tests.test_saved_views import menu

ON_POSTGRES = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's snapshot; SQLite keeps nothing"
)
LINKS: Any = Report.tags.through
T = TypeVar("T")


@pytest.fixture(autouse=True)
def _nothing_kept() -> Iterator[None]:
    snapshots.forget()
    yield
    snapshots.forget()


@pytest.fixture
def tagged(transactional_db: Any) -> tuple[Tag, list[Report]]:
    tag = Tag.objects.create(name="auth", colour="red")
    reports = [submit(Client()).report for _ in range(3)]
    for report in reports[:2]:
        report.tags.add(tag)
    return tag, reports


def counts_run(queries: CaptureQueriesContext) -> list[str]:
    """The counts a page ran (not the data version, which sums its table)."""
    return [
        q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and changes.TABLE not in q["sql"]
    ]


def linked(tag: Tag) -> int:
    """A count asked as the inbox asks its counts: kept under a question within a page."""
    found: int = snapshots.answer(("links", tag.pk), LINKS.objects.filter(tag_id=tag.pk).count)
    return found


def while_nothing_commits(ask: Callable[[], T]) -> tuple[T, CaptureQueriesContext]:
    """ask() twice, the second time captured, once nothing that moves the versions committed
    between them (the versions read before the first and after the second are the same):
    else try again."""
    for _ in range(200):
        before = snapshots.current_versions("default")
        ask()
        with CaptureQueriesContext(connection) as queries:
            answer = ask()
        if snapshots.current_versions("default") == before:
            return answer, queries
    pytest.fail("the cluster never stayed still for two page loads")


def commit_elsewhere(sql: str, params: list[Any]) -> None:
    """A write committed by another connection: another worker, process or host."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute(sql, params)
    finally:
        other.close()


def signed_in_with_a_view() -> Client:
    """A triager signed in, with a saved view of the "auth" tag in her menu."""
    alice = make_staff("alice@example.org", "triager")
    SavedView.objects.create(name="Auth", owner=alice, query="tag=auth&state=all")
    return sign_in(Client(), alice)


@ON_POSTGRES
def test_a_count_is_asked_once_while_nothing_commits(tagged):
    tag, _ = tagged

    def load() -> int:
        with snapshots.page():
            return linked(tag) + linked(tag)

    counted, queries = while_nothing_commits(load)
    assert counted == 4
    assert [q["sql"] for q in queries] == [changes.VERSIONS]  # the versions, nothing else


@ON_POSTGRES
def test_a_commit_to_a_watched_table_is_counted_at_once(tagged):
    tag, reports = tagged
    with snapshots.page():
        assert linked(tag) == 2
        assert tag_names() == ("auth",)
    commit_elsewhere(
        "INSERT INTO reports_report_tags (report_id, tag_id) VALUES (%s, %s)",
        [reports[2].pk, tag.pk],
    )
    with snapshots.page():
        assert linked(tag) == 3
    commit_elsewhere(
        "INSERT INTO reports_tag (uid, name, colour, description) VALUES (%s, %s, %s, '')",
        [str(uuid.uuid4()), "billing", "blue"],
    )
    with snapshots.page():
        assert tag_names() == ("auth", "billing")


@ON_POSTGRES
def test_a_write_that_was_rolled_back_changes_nothing_kept_wrongly(tagged):
    tag, reports = tagged
    with snapshots.page():
        assert linked(tag) == 2
    with pytest.raises(RuntimeError), transaction.atomic():
        reports[2].tags.add(tag)
        raise RuntimeError("rolled back")
    with snapshots.page():
        assert linked(tag) == 2


@ON_POSTGRES
def test_nothing_is_kept_inside_a_transaction(tagged):
    """Its own uncommitted writes are not in the snapshot, so its answers are not kept."""
    tag, reports = tagged
    with snapshots.page():
        assert linked(tag) == 2
    with transaction.atomic():
        reports[2].tags.add(tag)
        Tag.objects.create(name="billing")
        with snapshots.page():
            assert linked(tag) == 3
            assert tag_names() == ("auth", "billing")
        transaction.set_rollback(True)
    with snapshots.page():
        assert linked(tag) == 2
        assert tag_names() == ("auth",)


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the SQLite case")
def test_sqlite_keeps_nothing(tagged):
    tag, _ = tagged
    with CaptureQueriesContext(connection) as queries, snapshots.page():
        for _ in range(2):
            assert linked(tag) == 2
            assert tag_names() == ("auth",)
    assert len(counts_run(queries)) == 2
    assert len([q for q in queries if '"reports_tag"' in q["sql"]]) == 2


def test_kept_tags_cannot_be_changed_by_a_page(tagged):
    _, reports = tagged
    with snapshots.page():
        found = tags_of([r.pk for r in reports])
    assert found[reports[0].pk] == (("auth", "red"),) and reports[2].pk not in found
    with pytest.raises(TypeError):
        found[reports[2].pk] = ()  # type: ignore[index]


def test_an_empty_page_in_a_process_that_has_seen_nothing_yet(transactional_db):
    """The first rows' tags a process is asked for may be none (an inbox with no reports):
    nothing to read, and no SQL to tell the tables by (an empty IN list compiles to none)."""
    alice = make_staff("alice@example.org", "triager")
    client = sign_in(Client(), alice)
    response = client.get("/triage/")
    assert response.status_code == 200 and 'id="empty"' in response.content.decode()
    snapshots.forget()
    with snapshots.page():
        assert dict(tags_of([])) == {}
        empty = Report.objects.filter(pk__in=[]).values_list("pk", flat=True)
        assert snapshots.rows(("no reports",), lambda: empty) == ()
        # Undecided, not decided wrongly: the same query with ids is kept as it should be.
        some = Report.objects.filter(pk__in=[1]).values_list("pk", flat=True)
        assert snapshots.rows(("no reports",), lambda: some) == ()


@ON_POSTGRES
def test_the_inbox_menu_counts_a_report_tagged_a_moment_ago(tagged):
    tag, reports = tagged
    client = signed_in_with_a_view()
    shown, queries = while_nothing_commits(lambda: menu(client))
    assert re.search(r">Auth</a>\s*<span class=\"meta\">\(2\)", shown)
    assert counts_run(queries) == []  # nothing committed: kept
    reports[2].tags.add(tag)
    assert re.search(r">Auth</a>\s*<span class=\"meta\">\(3\)", menu(client))


@ON_POSTGRES
def test_a_view_that_depends_on_the_time_is_counted_on_every_load(tagged):
    """An overdue view's count changes as deadlines pass, with no commit at all."""
    _, reports = tagged
    alice = make_staff("alice@example.org", "triager")
    SavedView.objects.create(name="Late", owner=alice, query="overdue=on")
    SavedView.objects.create(name="Auth", owner=alice, query="tag=auth&state=all")
    Report.objects.filter(pk=reports[0].pk).update(
        response_due_at=timezone.now() + timedelta(seconds=2)
    )
    client = sign_in(Client(), alice)
    shown, queries = while_nothing_commits(lambda: menu(client))
    assert re.search(r">Late</a>\s*<span class=\"meta\">\(0\)", shown)
    counted = counts_run(queries)
    assert len(counted) == 1 and "response_due_at" in counted[0]


@pytest.mark.parametrize(
    "fields",
    [
        {"states": (State.CLOSED,)},
        {"search": "portal.example.org"},
        {"unassigned": True},
        {"severity": "high"},
        {"ssvc_decision": ssvc.DECISIONS[0]},
        {"in_scope": True},
        {"in_scope": False},
        {"scope_check": "unchecked"},
        {"overdue": True},
        {"overdue": False},
        {"not_reached": True},
        {"promises_at_risk": True},
        {"promises_at_risk": False},
        {"low_value": True},
    ],
    ids=repr,
)
def test_uses_time_says_exactly_which_filters_ask_the_time(db, fields):
    """What the menu's kept counts rely on: a filter that says it does not use the time
    compiles to the same SQL at any moment."""
    now = timezone.now()
    wanted = ReportFilter(**fields)

    def sql(at: Any) -> tuple[str, str]:
        query, params = filter_reports(Report.objects.all(), wanted, at).query.sql_with_params()
        return query, repr(params)

    assert (sql(now) != sql(now + timedelta(hours=1))) == wanted.uses_time()


@ON_POSTGRES
def test_a_reload_with_nothing_committed_asks_only_for_the_rows(tagged):
    """The counts, tags, staff lists and saved views of the inbox are kept; the reports
    themselves (their rows, titles and flags) are read on every load."""
    alice = make_staff("alice@example.org", "triager")
    SavedView.objects.create(name="Auth", owner=alice, query="tag=auth&state=all")
    SavedView.objects.create(name="Mine", owner=alice, query="assignee=me")
    client = sign_in(Client(), alice)
    first = client.get("/triage/").content.decode()
    again, queries = while_nothing_commits(lambda: client.get("/triage/").content.decode())
    listed = re.compile(r'<ul class="plain">.*?</ul>', re.S)
    assert listed.findall(again) == listed.findall(first)
    assert re.search(r">Auth</a>\s*<span class=\"meta\">\(2\)", again)
    asked = [q["sql"] for q in queries]
    assert counts_run(queries) == []
    for table in ("reports_tag", "reports_savedview"):
        assert not [sql for sql in asked if f'FROM "{table}"' in sql], table
    # Nor the staff gate's look-up of the signed-in member's profile, nor the menus' lists.
    assert not [sql for sql in asked if 'FROM "accounts_staffprofile"' in sql]
    assert not [sql for sql in asked if 'ORDER BY "auth_user"."username"' in sql]
    assert len([sql for sql in asked if 'FROM "reports_report"' in sql]) == 2  # rows, blobs


@ON_POSTGRES
def test_the_inbox_keeps_its_own_count_unless_its_filter_asks_the_time(tagged):
    """A second page needs the count (a short first page is its own count)."""
    alice = make_staff("alice@example.org", "triager")
    client = sign_in(Client(), alice)

    def load(path: str) -> Callable[[], str]:
        return lambda: client.get(path).content.decode()

    shown, queries = while_nothing_commits(load("/triage/?page=2"))
    assert counts_run(queries) == [] and "MP-" in shown
    shown, queries = while_nothing_commits(load("/triage/?overdue=on&page=2"))
    assert len(counts_run(queries)) == 1


def load_counts(client: Client) -> CaptureQueriesContext:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/triage/").status_code == 200
    return queries


@ON_POSTGRES
def test_commits_that_no_kept_answer_reads_leave_the_answers_kept(tagged):
    """The heartbeats, sessions, rate limits and audit entries a running desk commits all
    the time, and whatever another database of the server commits, leave the version alone:
    a reload after them counts nothing again. A write to a report does not."""
    _, reports = tagged
    client = signed_in_with_a_view()
    load_counts(client)
    commit_elsewhere(
        "INSERT INTO ops_heartbeat (name, host, last_seen) VALUES ('worker', 'b', now()) "
        "ON CONFLICT (name, host) DO UPDATE SET last_seen = now()",
        [],
    )
    commit_elsewhere(
        "INSERT INTO meldpunt_ratelimitbucket (key, window_start, count) VALUES (%s, now(), 1)",
        [uuid.uuid4().hex],
    )
    commit_elsewhere("UPDATE django_session SET expire_date = expire_date", [])
    other = connections.create_connection("default")
    other.settings_dict = {**other.settings_dict, "NAME": "postgres"}
    try:
        with other.cursor() as cursor:  # another database of the same server
            cursor.execute("CREATE TEMPORARY TABLE elsewhere (n integer)")
            cursor.execute("INSERT INTO elsewhere VALUES (1)")
    finally:
        other.close()
    assert counts_run(load_counts(client)) == []
    commit_elsewhere(
        "UPDATE reports_report SET state = %s WHERE id = %s", [State.CLOSED, reports[0].pk]
    )
    assert counts_run(load_counts(client)) != []
    assert re.search(r">Auth</a>\s*<span class=\"meta\">\(2\)", menu(client))


def tables_with(trigger: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = %s",
            [trigger],
        )
        return {row[0] for row in cursor.fetchall()}


@ON_POSTGRES
def test_every_table_of_meldpunt_but_the_listed_ones_is_watched(transactional_db):
    tables = set(connection.introspection.django_table_names(only_existing=True))
    assert tables >= settings.MELDPUNT_UNVERSIONED_TABLES  # no name left by a rename
    triggered = tables_with(changes.TRIGGER)
    assert "reports_report" in triggered and "reports_report_tags" in triggered
    assert triggered == {t for t in tables if changes.watched(t)}


@ON_POSTGRES
def test_compacting_keeps_the_version_and_a_write_moves_it(tagged):
    _, reports = tagged
    for report in reports:
        commit_elsewhere("UPDATE reports_report SET credit = credit WHERE id = %s", [report.pk])
    before = changes.version()
    assert DataChange.objects.count() > 1
    assert changes.compact()
    assert DataChange.objects.count() == 2  # the folded row and the newest
    assert changes.version() == before
    commit_elsewhere("UPDATE reports_report SET credit = credit WHERE id = %s", [reports[0].pk])
    assert changes.version() != before


@ON_POSTGRES
def test_a_reader_that_finds_many_rows_folds_them(tagged):
    """Every page sums the version's rows: without a worker's pass, the first reader past
    COMPACT_AT folds them, and the version stays."""
    _, reports = tagged
    for _ in range(changes.COMPACT_AT + 1):
        commit_elsewhere("UPDATE reports_report SET credit = credit WHERE id = %s", [reports[0].pk])
    assert DataChange.objects.count() > changes.COMPACT_AT
    before = changes.version()
    assert DataChange.objects.count() <= 2
    assert changes.version() == before


@ON_POSTGRES
def test_a_version_seen_before_does_not_come_back_after_the_table_is_emptied(tagged):
    _, reports = tagged
    seen = changes.version()
    commit_elsewhere("TRUNCATE meldpunt_datachange", [])
    commit_elsewhere("UPDATE reports_report SET credit = credit WHERE id = %s", [reports[0].pk])
    assert changes.version() not in (seen, None)


@ON_POSTGRES
def test_a_watched_table_without_its_trigger_falls_back_to_the_snapshot(tagged):
    """Nothing is kept under a version that could miss a write: the process checks once."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER {changes.TRIGGER} ON reports_tag")
    changes.forget()
    try:
        assert changes.version() is None
        snapshot, also = snapshots.current_versions("default") or ("", "")
        assert re.fullmatch(r"\d+:\d+:[\d,]*", snapshot) and also == snapshot
        with snapshots.page():
            assert tag_names() == ("auth",)
        commit_elsewhere(
            "INSERT INTO reports_tag (uid, name, colour, description) VALUES (%s, %s, %s, '')",
            [str(uuid.uuid4()), "billing", "blue"],
        )
        with snapshots.page():
            assert tag_names() == ("auth", "billing")
    finally:
        assert changes.install() == ["reports_tag"]
    assert changes.version() is not None


def look_ups_run(queries: CaptureQueriesContext) -> list[str]:
    """The inbox's look-ups a page ran: tags, saved views, staff."""
    tables = ('FROM "reports_tag"', 'FROM "reports_savedview"', 'FROM "accounts_staffprofile"')
    signed_in = 'WHERE "accounts_staffprofile"."user_id" ='  # the gate's, on every request
    return [
        q["sql"]
        for q in queries
        if any(table in q["sql"] for table in tables) and signed_in not in q["sql"]
    ]


@ON_POSTGRES
def test_a_report_written_asks_the_counts_again_but_not_the_look_ups(tagged):
    """The look-ups have a version of their own, which a report's write does not move."""
    _, reports = tagged
    client = signed_in_with_a_view()
    first = load_counts(client)
    assert look_ups_run(first) != []  # the first load of this process reads them
    assert rows_tags_run(first) != []
    commit_elsewhere("UPDATE reports_report SET credit = credit WHERE id = %s", [reports[0].pk])
    after_write = load_counts(client)
    assert counts_run(after_write) != []
    assert look_ups_run(after_write) == []
    assert rows_tags_run(after_write) == []  # the same rows: their tags are kept too


def rows_tags_run(queries: CaptureQueriesContext) -> list[str]:
    """The statement that reads the tags of the page's rows (reports.tags.tags_of)."""
    return [q["sql"] for q in queries if 'FROM "reports_report_tags" INNER JOIN' in q["sql"]]


@ON_POSTGRES
def test_a_tag_put_on_elsewhere_is_on_the_row_at_the_next_load(tagged):
    """The rows' tags are kept under the look-ups' version: a link written by another
    process moves it (and so does a link taken off)."""
    tag, reports = tagged
    client = signed_in_with_a_view()
    chip = 'data-tag="auth">auth</span>'

    def chips() -> int:
        return client.get("/triage/").content.decode().count(chip)

    assert chips() == 2
    commit_elsewhere(
        "INSERT INTO reports_report_tags (report_id, tag_id) VALUES (%s, %s)",
        [reports[2].pk, tag.pk],
    )
    assert chips() == 3
    commit_elsewhere("DELETE FROM reports_report_tags WHERE report_id = %s", [reports[0].pk])
    assert chips() == 2


@ON_POSTGRES
def test_a_look_up_is_read_again_once_its_own_tables_are_written(tagged):
    alice = make_staff("alice@example.org", "triager")
    staff = StaffProfile.objects.order_by("user__username").values_list("user__username", flat=True)
    with snapshots.page():
        assert tag_names() == ("auth",)
        assert snapshots.rows(("staff names",), lambda: staff) == ("alice@example.org",)
    commit_elsewhere(
        "INSERT INTO reports_tag (uid, name, colour, description) VALUES (%s, %s, %s, '')",
        [str(uuid.uuid4()), "billing", "blue"],
    )
    commit_elsewhere(
        "UPDATE auth_user SET username = %s WHERE id = %s", ["al@example.org", alice.pk]
    )
    with snapshots.page():
        assert tag_names() == ("auth", "billing")
        assert snapshots.rows(("staff names",), lambda: staff) == ("al@example.org",)


@ON_POSTGRES
def test_rows_that_read_any_other_table_are_kept_under_the_data_version(tagged):
    """A look-up joined to the reports must see a report's write: only queries whose SQL
    names the look-up tables alone are kept under their version."""
    tag, reports = tagged
    states = Report.objects.filter(tags=tag).order_by("pk").values_list("state", flat=True)
    with snapshots.page():
        assert snapshots.rows(("tagged states",), lambda: states) == (
            State.RECEIVED,
            State.RECEIVED,
        )
    commit_elsewhere(
        "UPDATE reports_report SET state = %s WHERE id = %s", [State.CLOSED, reports[0].pk]
    )
    with snapshots.page():
        assert snapshots.rows(("tagged states",), lambda: states) == (State.CLOSED, State.RECEIVED)


@ON_POSTGRES
def test_the_look_up_tables_have_the_look_ups_trigger(transactional_db):
    tables = set(connection.introspection.django_table_names(only_existing=True))
    assert tables >= settings.MELDPUNT_LOOKUP_TABLES  # no name left by a rename
    assert tables_with(changes.LOOKUP_TRIGGER) == settings.MELDPUNT_LOOKUP_TABLES


@ON_POSTGRES
def test_a_report_written_counts_the_views_again_from_their_kept_sql(tagged, monkeypatch):
    """A view's count SQL is made from its query, the user and the tags' ids: a report's
    write runs it again without making it again; a tag deleted elsewhere is seen."""
    from meldpunt.reports import filters, saved_views

    tag, reports = tagged
    alice = make_staff("alice@example.org", "triager")
    SavedView.objects.create(name="Auth open", owner=alice, query="tag=auth")
    client = sign_in(Client(), alice)
    assert re.search(r">Auth open</a>\s*<span class=\"meta\">\(2\)", menu(client))
    made: list[object] = []

    def counting(*args: Any) -> Any:
        made.append(args)
        return filters.counting(*args)

    monkeypatch.setattr(saved_views, "counting", counting)
    commit_elsewhere(
        "UPDATE reports_report SET state = %s WHERE id = %s", [State.CLOSED, reports[0].pk]
    )
    assert re.search(r">Auth open</a>\s*<span class=\"meta\">\(1\)", menu(client))
    assert made == []
    commit_elsewhere("DELETE FROM reports_report_tags WHERE tag_id = %s", [tag.pk])
    commit_elsewhere("DELETE FROM reports_tag WHERE id = %s", [tag.pk])
    assert "uses a tag that was deleted" in menu(client)


@ON_POSTGRES
def test_the_api_list_keeps_its_reports_tags_like_the_inbox(tagged):
    """The API's views share a page's kept answers: listing again reads no tags while none
    changed, and a tag put on elsewhere is in the next list."""
    from meldpunt.api.tokens import issue_token

    tag, reports = tagged
    alice = make_staff("alice@example.org", "triager")
    client = Client(headers={"Authorization": f"Bearer {issue_token(alice, 't')}"})

    def tags_listed() -> dict[str, list[str]]:
        response = client.get("/api/v1/reports")
        assert response.status_code == 200
        return {r["uid"]: r["tags"] for r in response.json()}

    listed, queries = while_nothing_commits(tags_listed)
    assert sorted(listed.values()) == [[], ["auth"], ["auth"]]
    assert rows_tags_run(queries) == []
    commit_elsewhere(
        "INSERT INTO reports_report_tags (report_id, tag_id) VALUES (%s, %s)",
        [reports[2].pk, tag.pk],
    )
    assert sorted(tags_listed().values()) == [["auth"], ["auth"], ["auth"]]


def token_reads(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries if 'FROM "api_apitoken"' in q["sql"]]


@pytest.fixture
def api_client(transactional_db: Any) -> tuple[Client, str]:
    """A triager's read token, and a client that sends it."""
    from meldpunt.api.tokens import issue_token

    token = issue_token(make_staff("alice@example.org", "triager"), "script")
    client = Client(headers={"Authorization": f"Bearer {token}"})
    assert client.get("/api/v1/reports").status_code == 200  # its "last used" written
    return client, token


@ON_POSTGRES
def test_a_token_is_looked_up_once_while_nothing_commits(api_client):
    """A script calling the API again and again does not look its token up each time."""
    client, _token = api_client
    _answer, queries = while_nothing_commits(lambda: client.get("/api/v1/tags"))
    assert token_reads(queries) == []


@ON_POSTGRES
@pytest.mark.parametrize(
    "write",
    [
        "UPDATE api_apitoken SET revoked_at = now()",
        "UPDATE auth_user SET is_active = false WHERE username = 'alice@example.org'",
        "DELETE FROM accounts_staffprofile",
    ],
    ids=["revoked", "deactivated", "no longer staff"],
)
def test_a_token_revoked_elsewhere_is_refused_at_the_next_request(api_client, write):
    client, _token = api_client
    while_nothing_commits(lambda: client.get("/api/v1/tags"))  # kept now
    commit_elsewhere(write, [])
    assert client.get("/api/v1/tags").status_code == 401


@ON_POSTGRES
def test_a_kept_token_still_expires_and_its_staff_members_new_role_applies(api_client):
    from meldpunt.api.models import ApiToken
    from meldpunt.api.tokens import token_for

    _client, raw = api_client
    ApiToken.objects.update(expires_at=timezone.now() + timedelta(hours=1))
    with snapshots.page():
        first = token_for(raw)
    with snapshots.page():
        second = token_for(raw)
        later = timezone.now() + timedelta(hours=2)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("meldpunt.api.tokens.timezone.now", lambda: later)
            assert token_for(raw) is None  # expired, though kept
    assert first is not None and second is not None
    # Each request has instances of its own: nothing one request sets is seen by another.
    assert first is not second and first.user is not second.user
    assert second.user.staff.role == "triager"
    # The secrets stay in the database: not loaded, so not kept in memory.
    loaded = set(second.user.__dict__) | set(second.user.staff.__dict__)
    assert {"password", "totp_blob"} & loaded == set()
    commit_elsewhere("UPDATE accounts_staffprofile SET role = 'viewer'", [])
    with snapshots.page():
        third = token_for(raw)
    assert third is not None and third.user.staff.role == "viewer"


@ON_POSTGRES
def test_a_kept_look_up_makes_no_queryset(tagged):
    """Making the queryset costs more than finding its kept rows: `rows` makes it only to
    read it or to check its tables."""
    made: list[int] = []

    def names() -> Any:
        made.append(1)
        return Tag.objects.order_by("name").values_list("name", flat=True)

    def load() -> int:
        before = len(made)
        with snapshots.page():
            assert snapshots.rows(("tag names",), names) == ("auth",)
        return len(made) - before

    made_again, _queries = while_nothing_commits(load)
    assert made_again == 0


@pytest.fixture
def listing(api_client: tuple[Client, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The API list, and how many times it made its query (filter_reports) in the last call."""
    from meldpunt.api import api

    client, _token = api_client
    made: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(1)
        return filter_reports(*args, **kwargs)

    monkeypatch.setattr(api, "filter_reports", counted)

    def listed(query: str = "") -> tuple[list[str], int]:
        before = len(made)
        response = client.get(f"/api/v1/reports{query}")
        assert response.status_code == 200, response.content
        return [item["reference"] for item in response.json()], len(made) - before

    return listed


@ON_POSTGRES
def test_the_api_list_makes_its_query_once_and_reads_its_rows_every_time(tagged, listing):
    tag, reports = tagged
    (references, made), _queries = while_nothing_commits(lambda: listing("?tag=auth&limit=5"))
    assert sorted(references) == sorted(r.reference for r in reports[:2])
    assert made == 0  # the SQL kept
    # The rows are read each time: a report tagged elsewhere is listed at once.
    commit_elsewhere(
        "INSERT INTO reports_report_tags (report_id, tag_id) VALUES (%s, %s)",
        [reports[2].pk, tag.pk],
    )
    assert sorted(listing("?tag=auth&limit=5")[0]) == sorted(r.reference for r in reports)
    commit_elsewhere("UPDATE reports_report SET state = 'closed' WHERE id = %s", [reports[0].pk])
    assert len(listing("?tag=auth&state=closed")[0]) == 1


@ON_POSTGRES
def test_a_kept_api_list_that_asks_the_time_answers_at_each_instant(tagged, listing, monkeypatch):
    """Its SQL is made once; the time in it moves to each request's (precompiled.py)."""
    _tag, reports = tagged
    assert listing("?overdue=true")[0] == []  # made (at several instants, then kept)
    assert listing("?overdue=true") == ([], 0)
    later = timezone.now() + timedelta(days=30)  # past every report's response date
    monkeypatch.setattr(timezone, "now", lambda: later)
    overdue, made = listing("?overdue=true")
    assert sorted(overdue) == sorted(r.reference for r in reports) and made == 0


@ON_POSTGRES
@pytest.mark.parametrize("query", ["?q=MP-2026-0001", "cursor"])
def test_an_api_list_made_from_data_is_made_every_time(tagged, listing, query):
    """A reference and a cursor name a report by a row of its own."""
    from meldpunt.api.api import _cursor

    if query == "cursor":  # where the list's first report ends a page
        first = Report.objects.order_by("response_due_at", "pk").values("response_due_at", "uid")
        query = f"?limit=1&cursor={_cursor(first[0])}"
    listing(query)
    assert listing(query)[1] == 1


@ON_POSTGRES
def test_kept_values_are_the_rows_the_orm_gives(tagged):
    """The kept SQL's rows are read without the ORM: they must be what it gives (times with
    their zone, uids, nulls, the assignee's name), and a column the ORM converts (JSON) is
    read through it."""
    from meldpunt.api.api import _SUMMARISED
    from meldpunt.api.models import ApiToken
    from meldpunt.api.tokens import issue_token

    _tag, reports = tagged
    alice = make_staff("alice@example.org", "triager")
    issue_token(alice, "script")
    Report.objects.filter(pk=reports[0].pk).update(assignee=alice, first_response_at=timezone.now())

    def summaries(_at: Any = None) -> Any:
        return Report.objects.order_by("response_due_at", "pk").values(*_SUMMARISED)

    def scopes(_at: Any = None) -> Any:
        return ApiToken.objects.order_by("pk").values("pk", "scopes")

    now = timezone.now()
    for query in (summaries, scopes):
        with snapshots.page():
            kept = snapshots.values(("rows as the ORM gives them", query.__name__), query, now)
        assert kept == list(query())
        assert len(kept) == {"summaries": 3, "scopes": 1}[query.__name__]
    assert kept[0]["scopes"] == ["read", "triage"]


@ON_POSTGRES
def test_an_api_request_that_writes_keeps_nothing(api_client, tagged):
    """A page reads its version once, at the token: a write after that would not be in the
    answers kept under it, so requests that write look everything up afresh."""
    client, _token = api_client
    _tag, reports = tagged
    while_nothing_commits(lambda: client.get("/api/v1/tags"))  # the token kept
    with CaptureQueriesContext(connection) as queries:
        response = client.put(
            f"/api/v1/reports/{reports[0].uid}/tags", {"tags": []}, content_type="application/json"
        )
    assert response.status_code == 200
    assert token_reads(queries) != []


@ON_POSTGRES
def test_the_inbox_makes_its_first_page_once_and_reads_its_rows_every_time(tagged, monkeypatch):
    from meldpunt.triage import inbox

    _tag, reports = tagged
    client = signed_in_with_a_view()
    made: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(1)
        return filter_reports(*args, **kwargs)

    monkeypatch.setattr(inbox, "filter_reports", counted)

    def load(query: str) -> tuple[str, int]:
        before = len(made)
        response = client.get(f"/triage/{query}")
        assert response.status_code == 200
        return response.content.decode(), len(made) - before

    (page, again), _queries = while_nothing_commits(lambda: load("?tag=auth"))
    assert again == 0 and page.count('data-tag="auth"') >= 2
    # The rows are read each time: a report closed elsewhere leaves the open reports' page.
    commit_elsewhere("UPDATE reports_report SET state = 'closed' WHERE id = %s", [reports[0].pk])
    page, again = load("?tag=auth")
    assert reports[0].reference not in page and reports[1].reference in page
    # A search (a reference names its report's row) and later pages are made each time.
    load(f"?q={reports[1].reference}")
    assert load(f"?q={reports[1].reference}")[1] >= 1
    assert load("?tag=auth&state=all&page=2")[1] >= 1


@ON_POSTGRES
def test_a_staff_members_role_changed_elsewhere_applies_at_the_next_page(tagged):
    """The staff gate keeps the signed-in member's profile under the look-ups' version: a
    role changed (or the profile removed) on another host is read at the next page. The
    second factor's secret is not kept with it."""
    alice = make_staff("alice@example.org", "triager")
    client = sign_in(Client(), alice)
    page, _queries = while_nothing_commits(lambda: client.get("/triage/").content.decode())
    assert 'id="bulk"' in page  # a triager may change reports
    commit_elsewhere(
        "UPDATE accounts_staffprofile SET role = 'viewer' WHERE user_id = %s", [alice.pk]
    )
    assert 'id="bulk"' not in client.get("/triage/").content.decode()
    commit_elsewhere("DELETE FROM accounts_staffprofile WHERE user_id = %s", [alice.pk])
    assert client.get("/triage/").status_code == 404
    from django.contrib.auth.models import User

    from meldpunt.accounts.gate import keep_staff_profile

    bob = make_staff("bob@example.org", "triager")
    with snapshots.page():
        kept = User.objects.get(pk=bob.pk)
        keep_staff_profile(kept)
        keep_staff_profile(again := User.objects.get(pk=bob.pk))
    assert kept.staff is not again.staff and kept.staff.role == "triager"
    assert {"totp_blob", "last_totp_step"} & set(kept.staff.__dict__) == set()
