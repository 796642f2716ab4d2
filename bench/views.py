"""The benchmark's reference points on the same server as the real submission.

- `baseline`: a minimal view that inserts one row (what the issue measures against).
- `floor_parse` and `floor_page`: what any handler of the report form pays before it stores
  anything: the CSRF check and parsing the same multipart body; then also rendering the
  receipt page. They store nothing, validate nothing and encrypt nothing, so no
  implementation of the submission can be faster than them (bench/README.md).

- `floor_staff_page`: the cheapest staff page (bench/triage.py): the same middleware, session,
  sign-in and second-factor gate, staff profile and staff base template as the inbox, with no
  rows and no report query. No staff list page can be faster; the inbox's own work is what it
  costs above this.

- `floor_staff_rows`: that page plus the inbox's plain query (`INBOX_SQL`, the baseline
  bench/triage.py times the inbox against), its 50 rows escaped into a table with
  `format_html_join` (the cheapest way Django has; the inbox's rows are made the same way).
  No decryption, no filters, no form, no counts: no inbox that lists 50 reports can be
  faster.

- `floor_staff_titles`: the rows floor with what issue 15 puts in every inbox row on top of
  the plain columns: each row's title, which only the sealed content holds. The plain query
  of a page (`FLOOR_QUERIES[name]`, filled by bench/triage.py with its baselines) fetches the
  content blobs with the rows, and each is opened and cut to a title as the inbox does
  (`reports.summary.title`). Still no filters, form, counts, chips or badges: no inbox page
  that shows 50 titles for that query can be faster (a cache of opened titles would keep
  report text outside the sealed store, so it is not an option).

- `floor_api`: a bare django-ninja API (the same `StaffApi` class, so the same JSON-only
  wrapping) with one endpoint behind the same token authentication (`TokenAuth("read")`: the
  keyed-hash look-up, the last-used write, the audit binding) that returns the API's plain
  query's 50 rows as they come from the cursor: no filters, no response schema, no pydantic
  validation. No API list of 50 reports on this stack can be faster.

- `floor_api_filtered`: that endpoint with what issue 16 asks of the list on top, and nothing
  else: its rows go through the filter function it shares with the inbox
  (`reports.filters.filter_reports`, here with no filter given, as the bare list asks) on a
  Django queryset in the list's order, fetched as dicts (no model instances, no schema, no
  validation), and each report's tag names (`reports.tags.tag_names_of`). No list that
  shares the inbox's filter function and shows tags can be faster on this stack.

Routed only by bench/urls.py, the URLconf of bench/settings.py
(DJANGO_SETTINGS_MODULE=bench.settings); nothing under meldpunt/ knows about them.
"""

# ruff: noqa: S608  (SQL here is built from constants only, never input)
from __future__ import annotations

import itertools
import secrets
import uuid
from types import SimpleNamespace
from typing import Any, cast

from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html_join
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from meldpunt.accounts.access import staff_profile
from meldpunt.accounts.gate import staff_required
from meldpunt.api.api import StaffApi, TokenAuth
from meldpunt.lib import crypto
from meldpunt.lib.pages import render_private
from meldpunt.lib.sealed import Sealed
from meldpunt.reports.filters import OPEN_STATES, ReportFilter, filter_reports
from meldpunt.reports.models import Report
from meldpunt.reports.summary import title
from meldpunt.reports.tags import tag_names_of

# The inbox's plain query (bench/triage.py's baseline): the list columns of the first 50 open
# reports by response deadline, with the assignee's name.
LIST_COLS = (
    "r.id, r.uid, r.created_at, r.state, r.severity, r.category, r.response_due_at, "
    "r.first_response_at, r.expected_fix_date, r.in_scope, r.out_of_scope, u.username"
)
OPEN_IN = ", ".join(f"'{s}'" for s in OPEN_STATES)
INBOX_SQL = (
    f"SELECT {LIST_COLS} FROM reports_report r LEFT JOIN auth_user u ON u.id = r.assignee_id "
    f"WHERE r.state IN ({OPEN_IN}) ORDER BY r.response_due_at, r.id LIMIT 50"
)

# The API list's plain query (bench/triage.py's baseline for GET /api/v1/reports): every
# report by deadline and id, 50.
API_SQL = (
    f"SELECT {LIST_COLS} FROM reports_report r LEFT JOIN auth_user u ON u.id = r.assignee_id "
    "ORDER BY r.response_due_at, r.id LIMIT 50"
)
# A page's plain query by name, for floor_staff_titles; bench/triage.py fills it.
FLOOR_QUERIES: dict[str, tuple[str, list[Any]]] = {"inbox": (INBOX_SQL, [])}

_table_ready = False
_serial = itertools.count(1)


def _ensure_table() -> None:
    global _table_ready
    if _table_ready:
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS bench_baseline (id INTEGER, note TEXT)")
    except DatabaseError:
        pass  # PostgreSQL: another worker created it at the same moment
    _table_ready = True


@csrf_exempt
@require_POST
def baseline(request: HttpRequest) -> HttpResponse:
    _ensure_table()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_baseline (id, note) VALUES (1, %s)", ["x"])
    return HttpResponse("ok")


def _parse(request: HttpRequest) -> int:
    """Read the form as the report view does (CSRF has been checked by the middleware)."""
    return len(request.POST) + len(request.FILES)


@require_POST
def floor_parse(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"parsed {_parse(request)} fields")


@require_POST
def floor_page(request: HttpRequest) -> HttpResponse:
    _parse(request)
    # A stand-in with what the receipt template reads; a reference unique per process.
    report = SimpleNamespace(
        reference=f"MP-0000-{next(_serial)}-{secrets.token_hex(4)}",
        response_due_at=timezone.now(),
    )
    context = {"report": report, "code": "BENCH-FLOOR-PAGE", "repeated": False}
    return render_private(request, "intake/receipt.html", context)


# The staff base template with an empty content block, compiled once (as the cached loader
# does for the real pages); bench/ has no template directory of its own.
_EMPTY_STAFF_PAGE = engines["django"].from_string(
    '{% extends "triage/base.html" %}{% block title %}Floor{% endblock %}'
    "{% block content %}<h1>Floor</h1>{% endblock %}"
)


@require_safe
@staff_required
def floor_staff_page(request: HttpRequest) -> HttpResponse:
    staff_profile(request)
    response = HttpResponse(_EMPTY_STAFF_PAGE.render({}, request))
    add_never_cache_headers(response)
    return response


_ROWS_PAGE = engines["django"].from_string(
    '{% extends "triage/base.html" %}{% block title %}Floor{% endblock %}'
    "{% block content %}<h1>Floor</h1><table><tbody>{{ rows }}</tbody></table>{% endblock %}"
)
_ROW = "<tr>" + "<td>{}</td>" * 12 + "</tr>\n"


@require_safe
@staff_required
def floor_staff_rows(request: HttpRequest) -> HttpResponse:
    staff_profile(request)
    with connection.cursor() as c:
        c.execute(INBOX_SQL)
        rows = c.fetchall()
    response = HttpResponse(_ROWS_PAGE.render({"rows": format_html_join("", _ROW, rows)}, request))
    add_never_cache_headers(response)
    return response


_TITLED_ROW = "<tr>" + "<td>{}</td>" * 13 + "</tr>\n"
# The sealed content's associated data, by the descriptor's own rule (lib.sealed), for a row
# known only by its uid: no model instance is built for it.
_CONTENT = cast(Sealed, Report.content)  # on the class, the descriptor itself


def _row_of(uid: Any) -> SimpleNamespace:
    return SimpleNamespace(_meta=Report._meta, uid=uuid.UUID(str(uid)))


@require_safe
@staff_required
def floor_staff_titles(request: HttpRequest, name: str) -> HttpResponse:
    staff_profile(request)
    sql, params = FLOOR_QUERIES[name]
    # The same statement with the sealed content fetched alongside (the inbox needs two).
    sql = sql.replace(" FROM reports_report r ", ", r.content_blob FROM reports_report r ", 1)
    with connection.cursor() as c:
        c.execute(sql, params)
        rows = c.fetchall()
    titled = (
        (
            *row[:-1],
            title(crypto.open_json(row[-1], _CONTENT.aad(_row_of(row[1])))),
        )
        for row in rows
    )
    response = HttpResponse(
        _ROWS_PAGE.render({"rows": format_html_join("", _TITLED_ROW, titled)}, request)
    )
    add_never_cache_headers(response)
    return response


floor_api = StaffApi(
    title="floor", version="floor", docs_url=None, openapi_url=None, urls_namespace="floor_api"
)


_FLOOR_COLUMNS = (
    "pk", "uid", "created_at", "state", "severity", "category", "response_due_at",
    "first_response_at", "expected_fix_date", "in_scope", "out_of_scope", "assignee__username",
)  # fmt: skip


@floor_api.get("/reports-filtered", auth=TokenAuth("read"))
def floor_api_filtered(request: HttpRequest) -> list[dict[str, Any]]:
    now = timezone.now()
    reports = filter_reports(Report.objects.order_by("response_due_at", "pk"), ReportFilter(), now)
    rows = list(reports.values(*_FLOOR_COLUMNS)[:50])
    names = tag_names_of([row["pk"] for row in rows])
    return [{**row, "tags": names.get(row["pk"], [])} for row in rows]


@floor_api.get("/reports", auth=TokenAuth("read"))
def floor_api_list(request: HttpRequest) -> list[dict[str, Any]]:
    with connection.cursor() as c:
        c.execute(API_SQL)
        names = [column[0] for column in c.description]
        return [dict(zip(names, row, strict=True)) for row in c.fetchall()]
