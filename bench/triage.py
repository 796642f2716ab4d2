"""The triage desk at a million reports: page latency against the plain SQL each page needs.

Run from the project root with the project's virtualenv:

    .venv/bin/python bench/triage.py                        # both databases, 1,000,000 reports
    .venv/bin/python bench/triage.py --reports 20000        # quick mode (smoke test)
    .venv/bin/python bench/triage.py --db postgres --requests 100

For each database: a fresh temporary data directory, `meldpunt init` in-process (key
file, migrations, static files), five triagers, then N reports bulk-loaded by
bench/triage_load.py (states, dates, severities, assignees, 1-3 blind-indexed hosts
from a pool sized for ~300 reports per host, events and messages; every sealed field
sealed for its own row). PostgreSQL uses the database `meldpunt_bench_triage`, dropped
and recreated per run and dropped afterwards unless --keep (names starting with `test`
are refused); after the load it gets VACUUM ANALYZE, as autovacuum would do. SQLite
gets no ANALYZE: Django never runs one.

Then, in-process through Django's test client signed in as a triager (password and
second factor, as tests/conftest.py's `sign_in`), each page is requested R times after
a warm-up, interleaved request by request with its **baseline**: the plain SQL the page
needs, run on a cursor and fetched. Reported: p50/p95 wall time (nearest rank) of both,
their ratio, the page's SQL statements (captured once) with the slowest one, and
EXPLAIN (ANALYZE, BUFFERS on PostgreSQL; QUERY PLAN on SQLite) of each baseline and of
each page's slowest statement.

The pages: the inbox's first page (/triage/), the overdue filter (?overdue=1), a search
by host (?q=<host>), a report's detail page (rotating over 50 reports), and the duplicate
suggestion for a new report submitted through `submit_report` (the first function named
`suggest_duplicates` in meldpunt.reports.duplicates, or meldpunt.triage.workflow before). A page
or function that is not there yet, or fails, is reported as such, not timed. Beside them,
a **floor**: the cheapest staff page (bench/views.py `floor_staff_page`, routed only by
bench/urls.py, hence bench.settings): the same middleware, session, sign-in gate, staff
profile and staff base template, no rows and no report query, timed against the inbox's
plain query; beside the tag filter, the saved view and the first page, the same rows with
their titles opened from the sealed content (`floor_staff_titles`), and beside the API list a
bare django-ninja endpoint behind the same token authentication returning the API's plain
query's 50 rows (`floor_api`); `--only TEXT` limits a run to the pages whose name contains TEXT;
`--views none` measures the inbox without the three saved views in the user's menu.

The Markdown summary goes to stdout after the details; progress to stderr.
"""

# ruff: noqa: S608  (SQL here is built from constants and model metadata only, never input)
from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
TARGET_MS = 100.0
# Issue 15's bound for the inbox's first page: p95 under 60 ms and within 4x its plain query.
BOUND_MS, BOUND_RATIO = 60.0, 4.0
STAFF = 5


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


# --- one database --------------------------------------------------------------


def setup_django(
    db: str, data_dir: Path, pg_database: str, settings_module: str = "bench.settings"
) -> None:
    """Environment and django.setup() for one benchmark database (bench/triage_aids.py too).

    bench.settings: the site's settings with bench/urls.py, for the floors (bench/views.py)."""
    for key in [k for k in os.environ if k.startswith("MELDPUNT_")]:
        del os.environ[key]
    os.environ.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        MELDPUNT_DATA_DIR=str(data_dir),
        MELDPUNT_LOG_LEVEL="WARNING",
        MELDPUNT_ADMIN_EMAIL="admin@example.org",
    )
    if db == "postgres":
        os.environ["DATABASE_URL"] = f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{pg_database}"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{data_dir / 'meldpunt.sqlite3'}"
    import django

    django.setup()


def pg_admin(*args: str) -> None:
    subprocess.run([*args, "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER], check=True)


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    if args.reuse:
        # Measure again on data kept by an earlier --keep run (e.g. after trying an index).
        setup_django(args.db, args.reuse, args.pg_database)
        return measure_database(args, args.reuse)
    data_dir = Path(tempfile.mkdtemp(prefix=f"meldpunt-triage-{args.db}-"))
    if args.db == "postgres":
        pg_admin("dropdb", "--if-exists", args.pg_database)
        pg_admin("createdb", args.pg_database)
    try:
        setup_django(args.db, data_dir, args.pg_database)
        return measure_database(args, data_dir)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep and not args.reuse:
            shutil.rmtree(data_dir, ignore_errors=True)
            if args.db == "postgres":
                pg_admin("dropdb", "--if-exists", args.pg_database)
        else:
            database = f" and database {args.pg_database}" if args.db == "postgres" else ""
            say(f"kept {data_dir}{database}")


def measure_database(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    import triage_load
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from meldpunt.accounts.staff import create_staff
    from meldpunt.policy.commitments import current_version
    from meldpunt.reports.services import host_digest

    t = time.perf_counter()
    if args.reuse:
        from django.contrib.auth import get_user_model

        users = get_user_model().objects.filter(username__startswith="triager")
        staff = list(users.order_by("pk"))
    else:
        call_command("init", stdout=io.StringIO())
        staff = [
            create_staff(f"triager{i}@example.org", "triager", "correct horse battery staple").user
            for i in range(1, STAFF + 1)
        ]
    say(f"[{args.db}] init + staff: {time.perf_counter() - t:.1f} s")
    hosts = triage_load.host_pool(args.reports)
    plan = triage_load.Plan(
        n=args.reports,
        now=timezone.now(),
        policy_version_id=current_version().pk,
        staff_ids=[u.pk for u in staff],
        hosts=hosts,
        host_digests=[host_digest(h) for h in hosts],
        vendor=connection.vendor,
    )
    if args.reuse:
        stats = triage_load.LoadStats()
        with connection.cursor() as c:
            c.execute("SELECT COUNT(*) FROM reports_report")
            stats.reports = c.fetchone()[0]
        say(f"[{args.db}] reusing {args.reuse}: {stats.reports:,} reports, no load")
    else:
        say(f"[{args.db}] loading {args.reports:,} reports with {args.workers} generator processes")
        stats = triage_load.load(plan, args.workers, say)
    say(
        f"[{args.db}] load: {stats.seconds_total:.0f} s generate+insert "
        f"({stats.seconds_insert:.0f} s in inserts), {stats.seconds_after:.0f} s after-load"
    )
    result: dict[str, Any] = {
        "db": args.db,
        "reports": args.reports,
        "load": vars(stats),
        "reused": bool(args.reuse),
        "views": args.views,
        "db_bytes": database_bytes(data_dir),
        "versions": versions(),
    }
    result["pages"], result["explain"] = measure_pages(args, plan, staff[0])
    return result


def database_bytes(data_dir: Path) -> int:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("SELECT pg_database_size(current_database())")
            return int(c.fetchone()[0])
    return sum(p.stat().st_size for p in data_dir.glob("meldpunt.sqlite3*"))


def versions() -> dict[str, str]:
    import django
    from django.db import connection

    with connection.cursor() as c:
        if connection.vendor == "postgresql":
            c.execute("SHOW server_version")
        else:
            c.execute("SELECT sqlite_version()")
        db_version = str(c.fetchone()[0])
    return {"python": platform.python_version(), "django": django.get_version(), "db": db_version}


# --- pages and baselines -----------------------------------------------------------

# Tag name -> every how many reports carries it.
BENCH_TAGS = {"web": 3, "retest": 50, "embargo": 1000}


def ensure_tags_and_views(
    plan: Any, user: Any, shared: bool = True
) -> tuple[dict[str, int], dict[str, Any]]:
    """The bench's tags on the loaded reports and three shared saved views; idempotent, so a
    --reuse run on data loaded before tags existed gets them too. shared=False (--views
    none): the views are another staff member's own, so the measured user's menu has none."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from meldpunt.reports.models import SavedView, Tag

    ids: dict[str, int] = {}
    with transaction.atomic():
        for name, every in BENCH_TAGS.items():
            tag, created = Tag.objects.get_or_create(name=name)
            ids[name] = tag.pk
            if created:
                with connection.cursor() as c:
                    c.execute(
                        "INSERT INTO reports_report_tags (report_id, tag_id) "
                        "SELECT id, %s FROM reports_report WHERE id %% %s = 0",
                        [tag.pk, every],
                    )
        wanted = {
            "Retest, high": "tag=retest&severity=high",
            "Mine": "assignee=me",
            "Embargoed": "tag=embargo&state=all",
        }
        views = {}
        for name, query in wanted.items():
            views[name], _ = SavedView.objects.get_or_create(
                name=name, defaults={"owner": user, "shared": True, "query": query}
            )
        owner = user if shared else get_user_model().objects.exclude(pk=user.pk).first()
        SavedView.objects.filter(pk__in=[v.pk for v in views.values()]).update(
            owner=owner, shared=shared
        )
    if connection.vendor == "postgresql":
        import triage_load

        # The links were just written: VACUUM sets their visibility map, as autovacuum would.
        triage_load.vacuum_analyze("reports_report_tags")
    return ids, views


def api_token(user: Any) -> str:
    from meldpunt.api.tokens import issue_token

    return issue_token(user, f"bench {uuid.uuid4().hex[:8]}", scopes=["read"])


class Measurement:
    def __init__(
        self,
        name: str,
        page: Callable[[int], Any],
        baseline: Callable[[int], Any],
        baseline_sql: list[tuple[str, list[Any]]],
        prepare: Callable[[int], Any] | None = None,
    ) -> None:
        self.name, self.page, self.baseline, self.baseline_sql = name, page, baseline, baseline_sql
        # Run before each pair, untimed.
        self.prepare = prepare


FLOOR = "floor: empty staff page (vs the inbox's plain query)"
FLOOR_ROWS = "floor: the plain query's 50 rows as a bare staff page"
FLOOR_TITLES = "floor: 50 rows with their titles decrypted, bare staff page"


def commit_elsewhere(what: str = "report") -> None:
    """One committed write, as another process makes it: "report" writes a report's row
    (what a triage, a reply or a new mail does: the data the inbox counts may have changed),
    "heartbeat" the worker's heartbeat (what a running worker commits every few seconds:
    nothing the inbox reads)."""
    from django.db import connection

    if what == "heartbeat":
        from meldpunt.ops.heartbeat import WORKER, beat

        beat(WORKER, force=True)  # the worker's own call
        return
    with connection.cursor() as c:
        c.execute(
            "UPDATE reports_report SET credit = credit "
            "WHERE id = (SELECT min(id) FROM reports_report)"
        )


def measure_pages(
    args: argparse.Namespace, plan: Any, user: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from meldpunt.accounts.gate import SECOND_FACTOR_AT

    client = Client(HTTP_HOST="127.0.0.1", HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    session = client.session
    session[SECOND_FACTOR_AT] = time.time() + 10 * 86400  # no re-prompt during a long run
    session.save()

    def get(path: str) -> Callable[[int], Any]:
        def fetch(_i: int) -> Any:
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}")
            return response

        return fetch

    adapt = connection.ops.adapt_datetimefield_value
    now = adapt(timezone.now())
    rng = random.Random(7)
    search_host = plan.hosts[len(plan.hosts) // 2]
    digest = plan.host_digests[len(plan.hosts) // 2]

    def sql_runner(queries: Callable[[int], list[tuple[str, list[Any]]]]) -> Callable[[int], Any]:
        def run(i: int) -> Any:
            out = []
            with connection.cursor() as c:
                for sql, params in queries(i):
                    c.execute(sql, params)
                    out.append(c.fetchall())
            return out

        return run

    # "Open" as the list of open states: `state <> 'closed'` cannot use an index and scans
    # the whole table (it is EXPLAINed below as well, not timed).
    # One copy of the inbox's plain query and its columns: bench/views.py's rows floor uses it.
    from bench.views import INBOX_SQL as inbox_sql
    from bench.views import LIST_COLS
    from bench.views import OPEN_IN as open_states

    overdue_sql = (
        f"SELECT {LIST_COLS} FROM reports_report r LEFT JOIN auth_user u ON u.id = r.assignee_id "
        f"WHERE r.state IN ({open_states}) AND r.first_response_at IS NULL "
        "AND r.response_due_at < %s ORDER BY r.response_due_at, r.id LIMIT 50"
    )
    not_closed_sql = (
        f"SELECT {LIST_COLS} FROM reports_report r LEFT JOIN auth_user u ON u.id = r.assignee_id "
        "WHERE r.state <> 'closed' ORDER BY r.response_due_at, r.id LIMIT 50"
    )
    host_sql = (
        f"SELECT {LIST_COLS} FROM reports_report r LEFT JOIN auth_user u ON u.id = r.assignee_id "
        "WHERE r.id IN (SELECT h.report_id FROM reports_affectedhost h WHERE h.digest = %s) "
        "ORDER BY r.response_due_at, r.id LIMIT 50"
    )

    # Detail pages: 50 reports, mostly closed ones (as the table is), 10 open ones.
    with connection.cursor() as c:
        c.execute(
            "SELECT id, uid FROM reports_report WHERE state <> 'closed' ORDER BY id DESC LIMIT 10"
        )
        picked = c.fetchall()
        ids = rng.sample(range(1, plan.n + 1), min(40, plan.n))
        c.execute(f"SELECT id, uid FROM reports_report WHERE id IN ({','.join(map(str, ids))})")
        picked += c.fetchall()
    rng.shuffle(picked)
    detail = [(pk, str(uuid.UUID(str(uid)))) for pk, uid in picked]

    def detail_queries(i: int) -> list[tuple[str, list[Any]]]:
        pk, uid = detail[i % len(detail)]
        uid_param = uid.replace("-", "") if connection.vendor == "sqlite" else uid
        return [
            ("SELECT * FROM reports_report WHERE uid = %s", [uid_param]),
            ("SELECT * FROM reports_attachment WHERE report_id = %s ORDER BY created_at, id", [pk]),
            (
                "SELECT m.*, u.username FROM reports_message m LEFT JOIN auth_user u "
                "ON u.id = m.staff_author_id WHERE m.report_id = %s ORDER BY m.created_at, m.id",
                [pk],
            ),
            ("SELECT * FROM reports_note WHERE report_id = %s ORDER BY created_at, id", [pk]),
            ("SELECT * FROM reports_event WHERE report_id = %s ORDER BY created_at, id", [pk]),
        ]

    def detail_page(i: int) -> Any:
        return get(f"/triage/reports/{detail[i % len(detail)][1]}/")(i)

    # The duplicate suggestion for a new report that names two pool hosts.
    new = submit_new_report(plan, search_host, plan.hosts[1])
    suggest = find_suggest_duplicates()
    new_digests = [plan.host_digests[len(plan.hosts) // 2], plan.host_digests[1]]
    # The candidates: the 50 newest other reports naming one of its hosts, with the sealed
    # content the suggestion compares (decrypting is the function's work, not SQL's).
    dup_sql = (
        "SELECT DISTINCT r.id, r.uid, r.created_at, r.state, r.content_blob "
        "FROM reports_report r JOIN reports_affectedhost h ON h.report_id = r.id "
        "WHERE h.digest IN (%s, %s) AND r.id <> %s "
        "ORDER BY r.created_at DESC, r.id DESC LIMIT 50"
    )

    def dup_page(_i: int) -> Any:
        if suggest is None:
            raise RuntimeError("no suggest_duplicates in reports.duplicates or triage.workflow")
        found = suggest(new)
        return list(found) if found is not None else None

    measurements = [
        Measurement(
            "inbox, first page",
            get("/triage/"),
            sql_runner(lambda i: [(inbox_sql, [])]),
            [(inbox_sql, []), (not_closed_sql, [])],
        ),
        # The same page when a report was written since the last load, as on a desk where
        # mail comes in and the team works: nothing the page keeps while the data are
        # unchanged (meldpunt/lib/snapshots.py: counts, tags, staff, views) can be reused.
        Measurement(
            "inbox, first page, a report written before each load",
            get("/triage/"),
            sql_runner(lambda i: [(inbox_sql, [])]),
            [(inbox_sql, [])],
            prepare=lambda _i: commit_elsewhere("report"),
        ),
        # And when only a heartbeat committed (a running worker's, every few seconds).
        Measurement(
            "inbox, first page, a heartbeat before each load",
            get("/triage/"),
            sql_runner(lambda i: [(inbox_sql, [])]),
            [(inbox_sql, [])],
            prepare=lambda _i: commit_elsewhere("heartbeat"),
        ),
        # The floor: the cheapest staff page (bench/views.py), no rows and no report query,
        # against the inbox's plain query: what the bound leaves for the inbox's own work.
        Measurement(
            FLOOR,
            get("/bench/floor-staff-page/"),
            sql_runner(lambda i: [(inbox_sql, [])]),
            [(inbox_sql, [])],
        ),
        Measurement(
            FLOOR_ROWS,
            get("/bench/floor-staff-rows/"),
            sql_runner(lambda i: [(inbox_sql, [])]),
            [(inbox_sql, [])],
        ),
        Measurement(
            "inbox, overdue filter",
            get("/triage/?overdue=1"),
            sql_runner(lambda i: [(overdue_sql, [now])]),
            [(overdue_sql, [now])],
        ),
        Measurement(
            "inbox, search by host (?q=<host>)",
            get(f"/triage/?q={search_host}"),
            sql_runner(lambda i: [(host_sql, [digest])]),
            [(host_sql, [digest])],
        ),
        Measurement("report detail", detail_page, sql_runner(detail_queries), detail_queries(0)),
        Measurement(
            "duplicate suggestion, new report",
            dup_page,
            sql_runner(lambda i: [(dup_sql, [*new_digests, new.pk])]),
            [(dup_sql, [*new_digests, new.pk])],
        ),
    ]
    # Tags and saved views (issue 16): three tags on a third, a fiftieth and a thousandth of
    # the reports, and three shared views the inbox's menu counts on every inbox page.
    tag_ids, views = ensure_tags_and_views(plan, user, shared=args.views == "shared")
    tag_sql = (
        f"SELECT {LIST_COLS} FROM reports_report r LEFT JOIN auth_user u ON u.id = r.assignee_id "
        f"WHERE r.state IN ({open_states}) AND r.id IN "
        "(SELECT t.report_id FROM reports_report_tags t WHERE t.tag_id = %s) "
        "ORDER BY r.response_due_at, r.id LIMIT 50"
    )
    view = views["Retest, high"]
    view_sql = (
        f"SELECT {LIST_COLS} FROM reports_report r LEFT JOIN auth_user u ON u.id = r.assignee_id "
        f"WHERE r.state IN ({open_states}) AND r.severity = 'high' AND r.id IN "
        "(SELECT t.report_id FROM reports_report_tags t WHERE t.tag_id = %s) "
        "ORDER BY r.response_due_at, r.id LIMIT 50"
    )
    from bench.views import API_SQL as api_sql
    from bench.views import FLOOR_QUERIES

    # The titles floor (bench/views.py) runs each page's own plain query.
    FLOOR_QUERIES.update(
        {"tag": (tag_sql, [tag_ids["retest"]]), "view": (view_sql, [tag_ids["retest"]])}
    )
    token = api_token(user)
    api_client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")

    def api_list(_i: int) -> Any:
        response = api_client.get("/api/v1/reports?limit=50")
        if response.status_code != 200 or len(response.json()) != 50:
            raise RuntimeError(f"GET /api/v1/reports answered {response.status_code}")
        return response

    def api_floor_at(path: str) -> Callable[[int], Any]:
        def fetch(_i: int) -> Any:
            response = api_client.get(path)
            if response.status_code != 200 or len(response.json()) != 50:
                raise RuntimeError(f"GET {path} answered {response.status_code}")
            return response

        return fetch

    api_floor = api_floor_at("/bench/floor-api/reports")

    measurements += [
        Measurement(
            FLOOR_TITLES + " (inbox's plain query)",
            get("/bench/floor-staff-titles/inbox/"),
            sql_runner(lambda i: [(inbox_sql, [])]),
            [(inbox_sql, [])],
        ),
        Measurement(
            "inbox, tag filter (?tag=retest)",
            get("/triage/?tag=retest"),
            sql_runner(lambda i: [(tag_sql, [tag_ids["retest"]])]),
            [(tag_sql, [tag_ids["retest"]])],
        ),
        Measurement(
            "inbox, saved view (tag and severity)",
            get(f"/triage/?{view.query}"),
            sql_runner(lambda i: [(view_sql, [tag_ids["retest"]])]),
            [(view_sql, [tag_ids["retest"]])],
        ),
        Measurement(
            "API list, 50 per page (GET /api/v1/reports)",
            api_list,
            sql_runner(lambda i: [(api_sql, [])]),
            [(api_sql, [])],
        ),
        Measurement(
            FLOOR_TITLES + " (tag filter's plain query)",
            get("/bench/floor-staff-titles/tag/"),
            sql_runner(lambda i: [(tag_sql, [tag_ids["retest"]])]),
            [(tag_sql, [tag_ids["retest"]])],
        ),
        Measurement(
            FLOOR_TITLES + " (saved view's plain query)",
            get("/bench/floor-staff-titles/view/"),
            sql_runner(lambda i: [(view_sql, [tag_ids["retest"]])]),
            [(view_sql, [tag_ids["retest"]])],
        ),
        Measurement(
            "floor: bare django-ninja list, same token auth, the plain query's 50 rows",
            api_floor,
            sql_runner(lambda i: [(api_sql, [])]),
            [(api_sql, [])],
        ),
        Measurement(
            "floor: that list through the shared filter function, as dicts, with tag names",
            api_floor_at("/bench/floor-api/reports-filtered"),
            sql_runner(lambda i: [(api_sql, [])]),
            [(api_sql, [])],
        ),
    ]
    with connection.cursor() as c:
        c.execute("SELECT COUNT(*) FROM reports_affectedhost WHERE digest = %s", [digest])
        host_hits = c.fetchone()[0]
    say(f"search host {search_host}: {host_hits} reports")

    if args.only:
        measurements = [m for m in measurements if any(o in m.name for o in args.only)]
    results, explains = [], []
    for m in measurements:
        say(f"[{connection.vendor}] {m.name}: warm-up, then {args.requests} interleaved pairs")
        row: dict[str, Any] = {
            "name": m.name,
            "requests": args.requests,
            "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        }
        page_times: list[float] = []
        base_times: list[float] = []
        error = None
        try:
            for i in range(args.warmup):
                m.page(i)
                m.baseline(i)
            for i in range(args.requests):
                if m.prepare is not None:
                    m.prepare(i)
                t0 = time.perf_counter()
                m.baseline(i)
                t1 = time.perf_counter()
                m.page(i)
                t2 = time.perf_counter()
                base_times.append((t1 - t0) * 1000)
                page_times.append((t2 - t1) * 1000)
        except Exception as exc:  # a page under construction: say so, measure the rest
            error = f"{type(exc).__name__}: {str(exc)[:300]}"
            say(f"  FAILED: {error}")
        if not base_times:
            for i in range(args.requests):
                t0 = time.perf_counter()
                m.baseline(i)
                base_times.append((time.perf_counter() - t0) * 1000)
        row["error"] = error
        row["baseline_ms"] = [pct(base_times, 50), pct(base_times, 95)]
        timed = page_times and not error
        row["page_ms"] = [pct(page_times, 50), pct(page_times, 95)] if timed else None
        # The page's own SQL, captured on one more request.
        captured: list[tuple[float, str, Any]] = []
        if not error:
            with capture_sql(captured):
                m.page(0)
        row["queries"] = len(captured)
        row["query_ms"] = round(sum(q[0] for q in captured), 1)
        slowest = max(captured, key=lambda q: q[0], default=None)
        row["slowest_ms"] = round(slowest[0], 1) if slowest else None
        results.append(row)
        explains.append(
            {
                "name": m.name,
                "captured": [(round(ms, 2), sql) for ms, sql, _p in captured],
                "baseline": [(sql, explain(sql, params)) for sql, params in m.baseline_sql],
                "slowest": (slowest[1], explain(slowest[1], slowest[2])) if slowest else None,
            }
        )
    return results, explains


@contextlib.contextmanager
def capture_sql(into: list[tuple[float, str, Any]]) -> Any:
    """Every statement a request runs, with its wall time (µs resolution, unlike Django's log)."""
    from django.db import connection

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            into.append(((time.perf_counter() - t) * 1000, sql, params))

    # The wrapper list belongs to the connection handler, so it survives SQLite's
    # reconnect per request (CONN_MAX_AGE=0).
    connection.execute_wrappers.append(wrapper)
    try:
        yield
    finally:
        connection.execute_wrappers.remove(wrapper)


def submit_new_report(plan: Any, *hosts: str) -> Any:
    from meldpunt.lib.targets import Target
    from meldpunt.policy.models import PolicyVersion
    from meldpunt.reports.services import NewReport, submit_report

    new = NewReport(
        channel="web",
        language="en",
        policy_version=PolicyVersion.objects.get(pk=plan.policy_version_id),
        category="xss",
        out_of_scope=False,
        targets=[Target(text=f"https://{h}/login", host=h) for h in hosts],
        content={
            "affected_systems": [f"https://{h}/login" for h in hosts],
            "description": "XSS again",
            "steps": "Open it",
            "impact": "Session theft",
            "exploited": "no",
            "already_public": "no",
            "references": "",
            "csirt_notified": "no",
        },
        finder={"name": "", "email": "", "pgp_key": ""},
    )
    return submit_report(new).report


def find_suggest_duplicates() -> Callable[[Any], Any] | None:
    for module in ("meldpunt.reports.duplicates", "meldpunt.triage.workflow"):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        fn = getattr(mod, "suggest_duplicates", None)
        if fn is not None:
            say(f"duplicate suggestion: {module}.suggest_duplicates{inspect.signature(fn)}")
            return fn  # type: ignore[no-any-return]
    say("duplicate suggestion: suggest_duplicates not found (not built yet?)")
    return None


def explain(sql: str, params: list[Any]) -> str:
    from django.db import connection, transaction

    postgres = connection.vendor == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
    try:
        with transaction.atomic(), connection.cursor() as c:
            c.execute(prefix + sql, params)
            rows = c.fetchall()
    except Exception as exc:
        return f"(EXPLAIN failed: {type(exc).__name__}: {exc})"
    if connection.vendor == "postgresql":
        return "\n".join(r[0] for r in rows)
    return "\n".join(f"{r[1]:>3} {r[2]:>3} {r[3]}" for r in rows)


# --- output -------------------------------------------------------------------------


def fmt(pair: list[float] | None) -> str:
    return "-" if pair is None else f"{pair[0]:.1f} / {pair[1]:.1f}"


def summary(results: list[dict[str, Any]]) -> str:
    out = []
    for r in results:
        load = r["load"]
        if r.get("reused"):
            out.append(
                f"**{r['db']}**: measured again on kept data ({load['reports']:,} reports, "
                f"database {r['db_bytes'] / 2**30:.2f} GiB); no load in this run; "
                f"saved views: {r.get('views', 'shared')}.\n"
            )
            continue
        out.append(
            f"**{r['db']}** ({r['versions']['db']}), {r['reports']:,} reports, "
            f"{load['open']:,} open, {load['overdue']:,} overdue, {load['hosts']:,} host rows, "
            f"{load['events']:,} events, {load['messages']:,} messages, "
            f"{load['seals']:,} sealed values; database {r['db_bytes'] / 2**30:.2f} GiB. "
            f"Load: {load['seconds_total']:.0f} s generate+insert "
            f"({load['reports'] / max(load['seconds_total'], 1e-9):,.0f} reports/s; "
            f"{load['seconds_insert']:.0f} s of it waiting on inserts)"
            + (
                f", then {load['seconds_after']:.0f} s VACUUM ANALYZE"
                if load["seconds_after"] > 0.1
                else ""
            )
            + ".\n"
        )
    out.append(
        "| DB | page | n | page p50 / p95 ms | SQL stmts (sum ms, slowest ms) "
        "| baseline p50 / p95 ms | ratio p50 / p95 | p95 < 100 ms "
        f"| p95 < {BOUND_MS:.0f} ms and ≤ {BOUND_RATIO:.0f}x | load avg |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for p in r["pages"]:
            page, base = p["page_ms"], p["baseline_ms"]
            if page is None:
                ratio, ok, bound = "-", f"not measured: {p['error']}", "-"
            else:
                ratio = f"{page[0] / base[0]:.1f} / {page[1] / base[1]:.1f}"
                ok = "yes" if page[1] < TARGET_MS else "**no**"
                within = page[1] < BOUND_MS and page[1] <= BOUND_RATIO * base[1]
                bound = "yes" if within else "**no**"
            stmts = f"{p['queries']} ({p['query_ms']}, {p['slowest_ms']})" if page else "-"
            out.append(
                f"| {r['db']} | {p['name']} | {p['requests']} | {fmt(page)} | {stmts} "
                f"| {fmt(base)} | {ratio} | {ok} | {bound} | {p['loadavg']} |"
            )
    return "\n".join(out)


def details(result: dict[str, Any]) -> str:
    out = [f"\n## Details: {result['db']}, {result['reports']:,} reports\n"]
    for e in result["explain"]:
        out.append(f"### {e['name']}\n")
        if e["captured"]:
            out.append("Page SQL (one request, ms each):\n")
            out.extend(f"    {ms:8.2f}  {sql[:400]}" for ms, sql in e["captured"])
            out.append("")
        for sql, plan in e["baseline"]:
            out.append(f"SQL: `{sql}`\n")
            out.extend("    " + line for line in plan.splitlines())
            out.append("")
        if e["slowest"]:
            out.append(f"Slowest page statement: `{e['slowest'][0][:1500]}`\n")
            out.extend("    " + line for line in e["slowest"][1].splitlines())
            out.append("")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--requests", "-n", type=int, default=60, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="row generator processes")
    parser.add_argument("--pg-database", default="meldpunt_bench_triage")
    parser.add_argument("--keep", action="store_true", help="keep data directory and database")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="measure only the pages whose name contains TEXT (repeatable), e.g. inbox, floor",
    )
    parser.add_argument(
        "--views",
        choices=["shared", "none"],
        default="shared",
        help="the three saved views shared (their counts in every inbox page's menu), or "
        "none in the measured user's menu (the inbox as it is without saved views)",
    )
    parser.add_argument(
        "--reuse",
        type=Path,
        metavar="DATA_DIR",
        help="measure only, on a data directory (and database) kept by --keep; "
        "give the same --reports and --db as the run that made it",
    )
    args = parser.parse_args()
    if args.pg_database.startswith("test"):
        parser.error("refusing to use a database whose name starts with 'test'")
    if args.requests < 1 or args.reports < 100:
        parser.error("need --requests >= 1 and --reports >= 100")

    if args.reuse and args.db == "both":
        parser.error("--reuse needs --db sqlite or --db postgres")
    if args.db != "both":
        result = run_one(args)
        print(details(result))
        print("\n## Summary\n")
        print(summary([result]))
        if args.json:
            args.json.write_text(json.dumps(result, default=str, indent=1))
        return 0

    # Settings are per process: each database runs in its own child process.
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for db in ("sqlite", "postgres"):
            out = Path(tmp) / f"{db}.json"
            cmd = [
                sys.executable,
                __file__,
                "--db",
                db,
                "--reports",
                str(args.reports),
                "--requests",
                str(args.requests),
                "--warmup",
                str(args.warmup),
                "--workers",
                str(args.workers),
                "--pg-database",
                args.pg_database,
                "--json",
                str(out),
            ] + (["--keep"] if args.keep else [])
            cmd += [arg for text in args.only or [] for arg in ("--only", text)]
            subprocess.run(cmd, check=True, stdout=sys.stderr)
            results.append(json.loads(out.read_text()))
    for r in results:
        print(details(r))
    print("\n## Summary\n")
    print(summary(results))
    if args.json:
        args.json.write_text(json.dumps(results, default=str, indent=1))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
