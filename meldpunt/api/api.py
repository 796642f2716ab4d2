"""The staff JSON API (`/api/v1/`), for automation. Same permission rules as the pages."""

from __future__ import annotations

import base64
import contextlib
import contextvars
import functools
import hashlib
import json
import logging
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.urls import URLPattern, URLResolver, re_path
from django.utils import timezone, translation
from django.utils.translation.trans_real import parse_accept_lang_header
from ninja import Field, Form, NinjaAPI, Query, Schema, Status, UploadedFile
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.params import functions as param_functions
from ninja.security import HttpBearer
from pydantic import field_validator

from meldpunt.accounts.access import can_change, get_for_staff, staff_profile
from meldpunt.accounts.models import Role
from meldpunt.advisories import exports, publishing
from meldpunt.advisories.models import Advisory
from meldpunt.api import tokens
from meldpunt.api.models import ApiToken
from meldpunt.api.tokens import token_for
from meldpunt.audit.actors import actor, staff
from meldpunt.audit.log import append as audit
from meldpunt.audit.log import bind as audit_bind
from meldpunt.lib import snapshots
from meldpunt.lib.uploads import IncomingFile, file_response, read_uploads, shown_file_name
from meldpunt.policy.commitments import CATEGORIES
from meldpunt.reports import (
    assessment,
    lifecycle,
    messages,
    notes,
    outbox,
    regulatory,
    services,
    ssvc,
)
from meldpunt.reports import reporting_clocks as rc
from meldpunt.reports.assessment import primary_score
from meldpunt.reports.duplicates import suggest_duplicates
from meldpunt.reports.filters import (
    SCOPE_CHECKS,
    SEVERITIES,
    SSVC_DECISIONS,
    STATES,
    ReportFilter,
    UnknownFilterValue,
    filter_reports,
)
from meldpunt.reports.models import (
    Credit,
    Message,
    Note,
    OutboundMail,
    Report,
    Resolution,
    SavedView,
    Tag,
    TagColour,
    is_overdue,
    reference_of,
)
from meldpunt.reports.promises import ledger
from meldpunt.reports.reach import finder_reach
from meldpunt.reports.saved_views import (
    MayNotEdit,
    check_query,
    create_view,
    delete_view,
    view_filter,
    visible_views,
)
from meldpunt.reports.tags import set_tags, tag_names, tag_names_of
from meldpunt.scope.inventory import AssetSpec, upsert
from meldpunt.scope.inventory import checked as scope_checked
from meldpunt.scope.matching import KINDS as SCOPE_KINDS
from meldpunt.scope.matching import STATUSES as SCOPE_STATUSES
from meldpunt.scope.matching import AssetError
from meldpunt.scope.models import Asset

log = logging.getLogger(__name__)


class ScopeMissing(Exception):
    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


class TokenAuth(HttpBearer):
    """A live token that holds `scope`: no token (or a dead one) is 401, a token without
    the scope 403 `insufficient_scope`. The token's staff member's role still applies."""

    def __init__(self, scope: str = "read") -> None:
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        found = token_for(token)
        if found is None:
            return None
        # The token's staff member, for the one access layer that the pages use too.
        request.user = found.user
        # Every audit entry this request writes names the token (the view runs in a context
        # of its own, see _api_view, so this ends with the request).
        audit_bind(via="api", token=found.name, token_id=found.pk)
        request.api_scopes = list(found.scopes)  # type: ignore[attr-defined]
        _require_scope(request, self.scope)
        return found.user


def _require_scope(request: HttpRequest, scope: str) -> None:
    if scope not in getattr(request, "api_scopes", ()):
        raise ScopeMissing(scope)


READ, TRIAGE, PUBLISH, ADMIN = (TokenAuth(s) for s in ("read", "triage", "publish", "admin"))


class StaffApi(NinjaAPI):
    """A NinjaAPI that answers JSON to everything under its prefix: a client of the API
    must never have to parse an HTML error page (ninja answers a wrong method in text, and
    a path it does not know falls through to the site's HTML 404)."""

    @property
    def urls(self) -> tuple[list[URLResolver | URLPattern], str, str]:
        patterns, app_name, namespace = super().urls
        wrapped: list[URLResolver | URLPattern] = [
            URLPattern(p.pattern, _api_view(p.callback), p.default_args, p.name)
            if isinstance(p, URLPattern)
            else p
            for p in patterns
        ]
        not_found = re_path(r"", _api_view(_not_found), name="not_found")
        return [*wrapped, not_found], app_name, namespace


def problem(code: str, detail: Any) -> dict[str, Any]:
    """Every error's body: a stable `code` for programs, `detail` for people (see ERRORS)."""
    return {"code": code, "detail": detail}


def api_language(request: HttpRequest) -> str:
    """English unless the client's Accept-Language asks for one of ours: not the site's
    default, nor a language cookie or session that a browser left behind."""
    offered = {code for code, _name in settings.LANGUAGES}
    header = request.headers.get("Accept-Language", "")
    for code, _quality in parse_accept_lang_header(header):
        base = code.split("-")[0].lower()
        if base in offered or base == "en":
            return base
    return "en"


def _api_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)  # keeps ninja's csrf_exempt mark
    def json_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        language = api_language(request)
        # A page's kept answers (meldpunt/lib/snapshots.py), as on the desk's pages: the
        # token, the tags of the listed reports and the tag directory are read once while
        # none changes (requests that read only: snapshots.page_for).
        with translation.override(language), snapshots.page_for(request.method):
            # A context of its own: what the token binds for the audit log ends here.
            response = contextvars.copy_context().run(view, request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = JsonResponse(problem("method_not_allowed", "Method not allowed"), status=405)
            response["Allow"] = allowed
        response["Content-Language"] = language
        return response

    return json_view


def _not_found(request: HttpRequest) -> HttpResponse:
    return JsonResponse(problem("not_found", "Not Found"), status=404)


# The stable error codes, by status. A client branches on `code`; `detail` is for people,
# in English unless the request's Accept-Language asks for Dutch or French.
ERRORS: dict[str, str] = {
    "bad_request": "400: the request contradicts itself (e.g. a message without duplicate_of)",
    "unknown_reference": "400: no report has the reference given (duplicate_of)",
    "workflow_refused": "400: the report's life cycle does not allow this now",
    "unauthorized": "401: no token, or one that is unknown or revoked",
    "forbidden": "403: the token's staff member may read but not change reports (or this "
    "saved view)",
    "insufficient_scope": "403: the token lacks the scope the operation needs (see its doc)",
    "not_found": "404: no such report, saved view (or path)",
    "conflict": "409: the thing to add is there already (e.g. a scope asset)",
    "method_not_allowed": "405: the path does not take this method (see the Allow header)",
    "precondition_failed": "412: If-Match names a version that is no longer current",
    "storage_full": "507: no room to store the attachments now; nothing was stored or sent",
    "invalid": "422: input the schema or a filter refuses; `detail` lists each problem",
    "server_error": "500: a fault on our side, logged without the request's data",
}
_CODES = list(ERRORS)
_CODES_DOC = "Error codes: " + "; ".join(f"`{c}` ({why})" for c, why in ERRORS.items())
# What each scope opens; a token never does more than its staff member's role allows.
SCOPES_DOC = (
    "Token scopes: `read` every GET; `triage` changes to reports (state, assessment, messages, "
    "notes), saved views and advisory drafts, scheduling on time; `publish` publishing, and "
    "scheduling earlier than a finder approved (the pages ask a fresh second factor for both); "
    "`admin` "
    "listing and revoking everyone's tokens (admins only). "
    "Tokens made before scopes hold read and triage. "
    "Reports and advisories carry an ETag; send it back as If-Match on a change to get "
    "412 instead of overwriting someone else's change (If-Match is optional)."
)


def _enum(values: list[str] | tuple[str, ...]) -> Any:
    """Documents a field's values in the OpenAPI document; the domain checks them."""
    return Field(json_schema_extra={"enum": list(values)})


# The docs page is ours (meldpunt/api/views.py docs, at /api/v1/docs): ninja's would be open
# to anyone and without our policy. The schema is at /api/v1/openapi.json.
api = StaffApi(
    title="Meldpunt staff API",
    version="1",
    auth=READ,
    description=f"{SCOPES_DOC}\n\n{_CODES_DOC}",
    docs_url=None,
    openapi_url="/openapi.json",
    urls_namespace="api",
)


# OpenAPI links: which answer's values feed which next operation (a client, or schemathesis's
# stateful test, follows them: list → one report → its notes, tags, assessment, advisory).
_REPORT_OPERATIONS = {
    "ReadReport": "read_report",
    "ListNotes": "list_notes",
    "AddNote": "post_note",
    "Assess": "assess_report",
    "SetTags": "put_tags",
    "ChangeState": "change_state",
    "DuplicateSuggestions": "duplicate_suggestions",
    "StartAdvisory": "start_advisory",
}
_ADVISORY_OPERATIONS = {
    "ReadAdvisory": "read_advisory",
    "UpdateAdvisory": "update_advisory",
    "ScheduleAdvisory": "schedule_advisory",
}


def _links(status: int, operations: dict[str, str], **parameters: str) -> dict[str, Any]:
    """`openapi_extra` for an operation whose `status` answer leads to `operations` (link
    name: view function), each given `parameters` (name: runtime expression)."""
    module = __name__.replace(".", "_")  # ninja's operationId: module_function
    links = {
        name: {"operationId": f"{module}_{function}", "parameters": dict(parameters)}
        for name, function in operations.items()
    }
    return {"responses": {status: {"links": links}}}  # ninja keys answers by int


def _ssvc_values(field: str) -> list[str]:
    return ["", *(v.slug for v in ssvc.point(field).values)]


class ReportSummary(Schema):
    uid: uuid.UUID
    reference: str
    state: str = _enum(STATES)
    resolution: str = _enum(["", *Resolution.values])  # "" while the report is open
    category: str = _enum([code for code, _label, _oos in CATEGORIES])
    out_of_scope: bool
    severity: str = _enum(SEVERITIES)  # "" while not assessed
    # The score that gives the severity: the configured primary CVSS version's, else the other.
    cvss_score: float | None
    cvss_version: str | None
    assignee: str | None
    created_at: datetime
    response_due_at: datetime
    first_response_at: datetime | None
    overdue: bool
    tags: list[str]  # the tags' names (GET /tags lists them)
    # What the scope inventory says of the systems the report names; "" when not checked.
    scope_verdict: str = _enum(["", *SCOPE_CHECKS[:-1]])
    low_value_rule: str  # the "likely low value" rule that matched on intake, "" if none
    # SSVC: CISA's decision ("" until all four decision points are answered) and the decision
    # table it came from ("CISA Coordinator 2.0.3"); the answers are in the report's detail.
    ssvc_decision: str = _enum(list(SSVC_DECISIONS))
    ssvc_tree: str


class ReportEvent(Schema):
    created_at: datetime
    kind: str
    actor: str


class Delivery(Schema):
    """What became of a mail: its state, never its address or content."""

    state: OutboundMail.Status
    attempts: int
    next_attempt_at: datetime | None  # only while queued or deferred
    last_error: str  # the error's class and SMTP code, e.g. "SMTPRecipientsRefused 451"
    sent_at: datetime | None
    bounced_at: datetime | None


class MessageAttachment(Schema):
    uid: uuid.UUID  # GET /reports/{uid}/attachments/{attachment_uid} downloads it
    name: str
    size: int


class ReportMessage(Schema):
    uid: uuid.UUID
    created_at: datetime
    author: str = _enum(Message.Author.values)
    text: str
    # The mail that carried this message to the finder; null when none was sent (a
    # finder's own message, or a finder without address).
    delivery: Delivery | None
    attachments: list[MessageAttachment]


class ReportPromise(Schema):
    kind: str
    state: str  # pending, kept, at_risk, broken or not_applicable
    due_at: datetime | None
    settled_at: datetime | None
    evidence: dict[str, Any]  # event id/kind/time, message uid, mail state: facts, no text


class ReportAttachment(Schema):
    uid: uuid.UUID
    name: str  # as sent, minus control characters; download for the content
    size: int
    created_at: datetime
    message_uid: uuid.UUID | None  # the message it came with; null: with the report


class ReportDetail(ReportSummary):
    language: str = _enum(list(settings.SUPPORTED_LANGUAGES))
    affected_systems: list[str]
    description: str
    steps: str
    impact: str
    expected_fix_date: date | None
    valid: bool | None  # null while not assessed
    in_scope: bool | None
    cvss31_vector: str
    cvss40_vector: str
    cwe: str  # CWE-<number>, or ""
    # The SSVC decision points as answered ("" while not answered; PATCH .../assessment).
    ssvc_exploitation: str = _enum(_ssvc_values("ssvc_exploitation"))
    ssvc_automatable: str = _enum(_ssvc_values("ssvc_automatable"))
    ssvc_technical_impact: str = _enum(_ssvc_values("ssvc_technical_impact"))
    ssvc_mission_impact: str = _enum(_ssvc_values("ssvc_mission_impact"))
    credit: str = _enum(Credit.values)
    finder_name: str
    finder_email: str
    has_pgp_key: bool
    events: list[ReportEvent]
    messages: list[ReportMessage]
    finder_reached: bool
    # Why not: a mail state (deferred, failed, bounced, unknown) or "unread" (no address and
    # the team's newest message, of not_reached_since, not opened on the status page).
    finder_not_reached_reason: str | None
    not_reached_since: datetime | None
    promises: list[ReportPromise]
    attachments: list[ReportAttachment]


class Problem(Schema):
    code: str = _enum(_CODES)
    detail: str


class Invalid(Schema):
    """What the API answers to input the schema or a filter refuses: one entry per problem,
    each with `loc`, `msg` and `type` (an unknown filter value: type `enum`, ctx.allowed)."""

    code: str = _enum(["invalid"])
    detail: list[dict[str, Any]]


# What every operation can answer besides its own: no or a bad token, a token without the
# scope, input the schema refuses, and a server error (as JSON too, see `_server_error`).
COMMON: dict[int, Any] = {401: Problem, 403: Problem, 422: Invalid, 500: Problem}

_BY_STATUS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found"}


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = _BY_STATUS.get(exc.status_code, "bad_request")
    return api.create_response(request, problem(code, str(exc)), status=exc.status_code)


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(request, problem("unauthorized", "Unauthorized"), status=401)


@api.exception_handler(ScopeMissing)
def _insufficient_scope(request: HttpRequest, exc: ScopeMissing) -> HttpResponse:
    detail = f"this operation needs a token with the {exc.scope} scope"
    return api.create_response(request, problem("insufficient_scope", detail), status=403)


@api.exception_handler(Http404)
def _missing(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, problem("not_found", "Not Found"), status=404)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api.create_response(request, problem("invalid", exc.errors), status=422)


@api.exception_handler(UnknownFilterValue)
def _unknown_filter_value(request: HttpRequest, exc: UnknownFilterValue) -> HttpResponse:
    entry = _unknown_value(["query", exc.field], exc.value, exc.allowed)
    return api.create_response(request, problem("invalid", [entry]), status=422)


def _unknown_value(loc: list[str | int], value: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """A 422 entry for a value outside its list, naming the values there are."""
    shown = ", ".join(repr(v) for v in allowed if v)
    return {
        "loc": loc,
        "msg": f"Input should be one of {shown}",
        "type": "enum",
        "input": value,
        "ctx": {"allowed": [v for v in allowed if v]},
    }


@api.exception_handler(Exception)
def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The frames and the class only: an exception's text can quote report data or an
    # address, and the request (its body, its token) is never logged.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    route = request.resolver_match.route if request.resolver_match else "-"
    log.error("api %s %s failed: %s\n%s", request.method, route, type(exc).__name__, frames)
    return api.create_response(
        request, problem("server_error", "Internal server error"), status=500
    )


def _tag_enum(schema: dict[str, Any]) -> None:
    names = list(tag_names())
    if names:  # an empty enum would allow nothing, not anything
        schema["enum"] = names


class Filters(Schema):
    # Checked by the domain's ReportFilter (an unknown value is a 422 naming the allowed).
    state: str | None = Field(None, json_schema_extra={"enum": list(STATES)})
    severity: str | None = Field(None, json_schema_extra={"enum": [s for s in SEVERITIES if s]})
    # CISA's SSVC decision; "none" lists the reports without one yet.
    ssvc_decision: str | None = Field(
        None, json_schema_extra={"enum": [*(d for d in SSVC_DECISIONS if d), "none"]}
    )
    assignee: str | None = None  # a user name, or "unassigned"
    overdue: bool | None = None
    not_reached: bool | None = None  # the finder was not reached
    promises_at_risk: bool | None = None  # a promise at risk or broken
    low_value: bool | None = None  # labelled "likely low value" by a rule (or not)
    q: str | None = None  # a reference (MP-YYYY-NNNN) or an affected host or URL
    # A tag's name (GET /tags); an unknown one is a 422 naming the tags there are. The
    # OpenAPI document lists the tags there are when it is fetched.
    tag: str | None = Field(None, json_schema_extra=_tag_enum)
    # What the scope inventory says of the systems the report names ("unchecked": received
    # while the inventory was empty); apart from the team's own assessment of its scope.
    scope_check: str | None = Field(None, json_schema_extra={"enum": list(SCOPE_CHECKS)})
    # A saved view's uid (GET /saved-views): its filters, as the inbox applies them, replace
    # the other filters given here; a view the token's staff member cannot see is a 404.
    view: uuid.UUID | None = None
    limit: int = Field(50, ge=1, le=200)
    # Bounded: an offset beyond what a database integer holds would be a 500, not a page.
    offset: int = Field(0, ge=0, le=1_000_000_000)
    # Where the page before ended (its Link: rel="next"); stable while reports come and go.
    cursor: str | None = Field(None, max_length=200)


def _user(request: HttpRequest) -> User:
    """The staff member whose token authenticated this request (ninja sets request.auth)."""
    user: User = request.auth  # type: ignore[attr-defined]
    return user


# The columns a summary reads (and the cursor: response_due_at, uid); a list reads these
# alone, as values, not as reports.
_SUMMARISED = (
    "pk", "uid", "created_at", "state", "resolution", "category", "out_of_scope", "severity",
    "cvss31_vector", "cvss40_vector", "assignee__username", "response_due_at",
    "first_response_at", "scope_verdict", "low_value_rule", "ssvc_decision", "ssvc_tree",
)  # fmt: skip


def _summary(report: Report, now: datetime, tags: list[str] | None = None) -> dict[str, Any]:
    """One report's summary; `tags`, when the caller fetched the names already (a list)."""
    row = {name: getattr(report, name) for name in _SUMMARISED if name != "assignee__username"}
    row["assignee__username"] = report.assignee.get_username() if report.assignee else None
    return _summary_of(row, now, tags if tags is not None else [t.name for t in report.tags.all()])


def _summary_of(
    row: dict[str, Any], now: datetime, tags: list[str], zone: tzinfo | None = None
) -> dict[str, Any]:
    """The summary of a report read as values (_SUMMARISED), with its tags' names; `zone`,
    the current time zone, when a list has looked it up once for all its rows."""
    score = primary_score(row["cvss31_vector"], row["cvss40_vector"])
    return {
        "uid": row["uid"],
        "reference": reference_of(row["created_at"], row["pk"], zone),
        "state": row["state"],
        "resolution": row["resolution"],
        "category": row["category"],
        "out_of_scope": row["out_of_scope"],
        "severity": row["severity"],
        "cvss_score": float(score.score) if score else None,
        "cvss_version": score.version if score else None,
        "assignee": row["assignee__username"],
        "created_at": row["created_at"],
        "response_due_at": row["response_due_at"],
        "first_response_at": row["first_response_at"],
        "overdue": is_overdue(row["state"], row["first_response_at"], row["response_due_at"], now),
        "tags": tags,
        "scope_verdict": row["scope_verdict"],
        "low_value_rule": row["low_value_rule"],
        "ssvc_decision": row["ssvc_decision"],
        "ssvc_tree": row["ssvc_tree"],
    }


# Times and uids as the renderer writes them (NinjaJSONEncoder leaves them to Django's).
_JSON_VALUE = DjangoJSONEncoder().default
_TIMES = ("created_at", "response_due_at", "first_response_at")


@functools.lru_cache(maxsize=8192)
def _json_text(value: datetime | uuid.UUID, offset: timedelta | None) -> str:
    """A time's or uid's JSON text, made once per value and UTC offset (equal moments in
    two zones are equal keys, and differ in their text): the same reports head the list on
    every request. A moment or an id, no report content."""
    text: str = _JSON_VALUE(value)
    return text


def _as_json(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary with its uid and times already in their JSON form: the same text, without
    the encoder's round through its fallback for each of them (a list's 200 values)."""
    summary["uid"] = _json_text(summary["uid"], None)
    for name in _TIMES:
        if (moment := summary[name]) is not None:
            summary[name] = _json_text(moment, moment.utcoffset())
    return summary


def _wanted(filters: Filters, user: User) -> ReportFilter:
    """The API's filters as the domain's: no state given means every state."""
    unassigned = filters.assignee == "unassigned"
    named = filters.assignee and not unassigned
    wanted = ReportFilter(
        states=(filters.state,) if filters.state else None,
        search=filters.q or "",
        assignees=User.objects.filter(username=filters.assignee) if named else None,
        unassigned=unassigned,
        severity=filters.severity or None,
        ssvc_decision=("" if filters.ssvc_decision == "none" else filters.ssvc_decision or None),
        overdue=filters.overdue,
        not_reached=filters.not_reached,
        promises_at_risk=filters.promises_at_risk,
        tag=filters.tag,
        scope_check=filters.scope_check,
        low_value=filters.low_value,
    )
    if filters.view is not None:
        wanted = view_filter(_saved_view(user, filters.view), user)
    return wanted


def _saved_view(user: User, uid: uuid.UUID) -> SavedView:
    visible = visible_views(user)
    view = visible.filter(uid=uid).first()
    if view is None:
        # As for reports: missing and someone else's personal view answer alike.
        raise HttpError(404, "view: no saved view with that uid (GET /saved-views)")
    return view


class BadCursor(Exception):
    pass


@api.exception_handler(BadCursor)
def _bad_cursor(request: HttpRequest, exc: BadCursor) -> HttpResponse:
    entry = {"loc": ["query", "cursor"], "msg": "Not a cursor this API gave", "type": "value"}
    return api.create_response(request, problem("invalid", [entry]), status=422)


def _cursor(row: Mapping[str, Any]) -> str:
    """Opaque to clients: the row's place in the order, by its uid (never a database id)."""
    place = json.dumps([row["response_due_at"].isoformat(), str(row["uid"])])
    return base64.urlsafe_b64encode(place.encode()).decode().rstrip("=")


def _after(reports: QuerySet[Report], cursor: str) -> QuerySet[Report]:
    try:
        due_text, uid = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        due = datetime.fromisoformat(due_text)
        if due.tzinfo is None:
            raise ValueError(due_text)
        pk = Report.objects.filter(uid=uuid.UUID(uid)).values_list("pk", flat=True).first()
    except (ValueError, TypeError, UnicodeDecodeError):
        raise BadCursor from None
    later = Q(response_due_at__gt=due)
    # The cursor's report may be gone (retention); then the rows at its exact moment go too.
    return reports.filter(later | Q(response_due_at=due, pk__gt=pk) if pk else later)


@api.get(
    "/reports",
    response={200: list[ReportSummary], 404: Problem, **COMMON},
    summary="List reports",
    openapi_extra=_links(200, _REPORT_OPERATIONS, uid="$response.body#/0/uid"),
    description='By response deadline. Pages: follow the Link header\'s rel="next" (a '
    "cursor, stable while reports come and go); limit/offset still work.",
)
def list_reports(
    request: HttpRequest, filters: Query[Filters], response: HttpResponse
) -> HttpResponse:
    now = timezone.now()
    user = _user(request)
    wanted = _wanted(filters, user)

    def rows(at: datetime) -> QuerySet[Report, dict[str, Any]]:
        reports = filter_reports(Report.objects.order_by("response_due_at", "pk"), wanted, at)
        if filters.cursor:
            reports = _after(reports, filters.cursor)
        values: QuerySet[Report, dict[str, Any]] = reports.values(*_SUMMARISED)
        return values[filters.offset : filters.offset + filters.limit]

    if filters.cursor or wanted.reads_reports():
        page = list(rows(now))  # made from data: the cursor's or the reference's report
    else:  # made from the filters, the user, the look-ups and the time: compiled once
        asked = tuple(sorted(filters.model_dump(exclude={"cursor"}).items()))
        page = snapshots.values(("API list", user.pk, *asked), rows, now)
    if len(page) == filters.limit:
        query = request.GET.copy()
        query.pop("offset", None)
        query["cursor"] = _cursor(page[-1])
        response["Link"] = f'<{request.path}?{query.urlencode()}>; rel="next"'
    names = tag_names_of([row["pk"] for row in page])
    zone = timezone.get_current_timezone()
    summaries = [_as_json(_summary_of(row, now, names.get(row["pk"], []), zone)) for row in page]
    # Rendered as ninja renders a validated list: _summary_of builds ReportSummary's fields
    # (uid and times in their JSON form), and validating 50 of our own dicts again cost the
    # list a quarter of its time (bench/README.md). tests/test_api.py checks the items against
    # the schema, and that they read as each report's own summary does.
    return api.create_response(request, summaries, temporal_response=response)


def _report(request: HttpRequest, uid: uuid.UUID) -> Report:
    return get_for_staff(
        request, Report.objects.select_related("assignee").prefetch_related("tags"), uid=uid
    )


@api.get(
    "/reports/{uid}",
    response={200: ReportDetail, 404: Problem, **COMMON},
    summary="Read one report, decrypted",
    openapi_extra=_links(200, _REPORT_OPERATIONS, uid="$response.body#/uid"),
)
def read_report(request: HttpRequest, uid: uuid.UUID, response: HttpResponse) -> dict[str, Any]:
    report = _report(request, uid)
    response["ETag"] = report_etag(report)
    audit("report_viewed", staff(_user(request)), report.reference, via="api")
    content, finder = report.content, report.finder
    reach = finder_reach(report)
    return {
        **_summary(report, timezone.now()),
        "language": report.language,
        "affected_systems": content.get("affected_systems", []),
        "description": content.get("description", ""),
        "steps": content.get("steps", ""),
        "impact": content.get("impact", ""),
        "expected_fix_date": report.expected_fix_date,
        "valid": report.valid,
        "in_scope": report.in_scope,
        "cvss31_vector": report.cvss31_vector,
        "cvss40_vector": report.cvss40_vector,
        "cwe": report.cwe,
        **{field: getattr(report, field) for field in ssvc.FIELDS.values()},
        "credit": report.credit,
        "finder_name": finder.get("name", ""),
        "finder_email": finder.get("email", ""),
        "has_pgp_key": report.has_pgp_key,
        "events": [
            {"created_at": e.created_at, "kind": e.kind, "actor": e.actor}
            for e in report.events.all()
        ],
        "messages": [
            _message_out(m, _newest(m.mails.all()))
            for m in report.messages.prefetch_related(
                Prefetch("mails", OutboundMail.objects.defer("envelope_blob")), "attachments"
            )
        ],
        "finder_reached": reach.reached,
        "finder_not_reached_reason": reach.reason or None,
        "not_reached_since": reach.since,
        "promises": [
            {
                "kind": p.kind,
                "state": p.state,
                "due_at": p.due_at,
                "settled_at": p.settled_at,
                "evidence": p.evidence,
            }
            for p in ledger(report)
        ],
        "attachments": [
            {
                "uid": a.uid,
                "name": shown_file_name(str(a.meta.get("name", ""))),
                "size": a.size,
                "created_at": a.created_at,
                "message_uid": a.message.uid if a.message else None,
            }
            for a in report.attachments.select_related("message").order_by("pk")
        ],
    }


@api.get(
    "/reports/{uid}/attachments/{attachment_uid}",
    response={404: Problem, **COMMON},
    summary="Download a file the finder sent (as on the pages: always as an attachment)",
    openapi_extra={
        "responses": {
            "200": {
                "description": "The file, decrypted",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        }
    },
)
def download_attachment(request: HttpRequest, uid: uuid.UUID, attachment_uid: uuid.UUID) -> Any:
    report = _report(request, uid)
    found = services.download_attachment(report, attachment_uid, actor(_user(request)))
    if found is None:
        raise Http404
    attachment, data = found
    return file_response(data, str(attachment.meta.get("name", "")))


def _message_out(message: Message, mail: OutboundMail | None) -> dict[str, Any]:
    return {
        "uid": message.uid,
        "created_at": message.created_at,
        "author": message.author,
        "text": message.body.get("text", ""),
        "delivery": outbox.delivery(mail),
        "attachments": [
            {"uid": a.uid, "name": shown_file_name(str(a.meta.get("name", ""))), "size": a.size}
            for a in message.attachments.all()
        ],
    }


def _newest(mails: Any) -> OutboundMail | None:
    return max(mails, key=lambda m: m.created_at, default=None)


class OutboxMail(Delivery):
    uid: uuid.UUID
    kind: str
    created_at: datetime
    status_changed_at: datetime | None
    report: str | None  # the report's reference
    report_uid: uuid.UUID | None
    message_uid: uuid.UUID | None  # the staff message it carries news of


class OutboxFilters(Schema):
    state: OutboundMail.Status | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000_000)


@api.get(
    "/outbox",
    response={200: list[OutboxMail], **COMMON},
    summary="List outbound mails and their delivery state, newest first",
)
def list_outbox(request: HttpRequest, filters: Query[OutboxFilters]) -> list[dict[str, Any]]:
    staff_profile(request)  # any staff member; the token made request.user one
    state = filters.state.value if filters.state else ""
    mails = outbox.listing(state).select_related("thread_message")
    return [
        {
            **(outbox.delivery(m) or {}),
            "uid": m.uid,
            "kind": m.kind,
            "created_at": m.created_at,
            "status_changed_at": m.status_changed_at,
            "report": m.report.reference if m.report else None,
            "report_uid": m.report.uid if m.report else None,
            "message_uid": m.thread_message.uid if m.thread_message else None,
        }
        for m in mails[filters.offset : filters.offset + filters.limit]
    ]


# --- Versions: ETag and If-Match ------------------------------------------------------------
# A report's version is its newest history event (every change to a report records one, in
# the change's transaction); an advisory's is its status, draft version and update time.
# A write that sends If-Match with another version gets 412; without If-Match it goes
# ahead (the header is optional, so scripts written before it keep working).


def _etag(*parts: Any) -> str:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return f'"{digest[:32]}"'


def report_etag(report: Report) -> str:
    newest = report.events.order_by("-pk").values_list("pk", flat=True).first()
    return _etag("report", report.uid, newest)


def advisory_etag(advisory: Advisory) -> str:
    return _etag(
        "advisory", advisory.uid, advisory.status, advisory.draft_version, advisory.updated_at
    )


class PreconditionFailed(Exception):
    pass


@api.exception_handler(PreconditionFailed)
def _precondition_failed(request: HttpRequest, exc: PreconditionFailed) -> HttpResponse:
    detail = "If-Match: this was changed since you read it; read it again"
    return api.create_response(request, problem("precondition_failed", detail), status=412)


def check_if_match(request: HttpRequest, current: str) -> None:
    wanted = request.headers.get("If-Match")
    if wanted is None or wanted.strip() == "*":
        return
    tags = [t.strip().removeprefix("W/") for t in wanted.split(",")]
    if current not in tags:
        raise PreconditionFailed


@contextlib.contextmanager
def _report_change(request: HttpRequest, report: Report, response: HttpResponse) -> Iterator[None]:
    """One change of a report (the body of the with): under its row lock, only if If-Match
    still names it; the answer then carries the new ETag. What the change raises goes out."""
    with transaction.atomic():
        check_if_match(request, report_etag(lifecycle.lock(report)))
        yield
    response["ETag"] = report_etag(report)


IF_MATCH_DOC = (
    "Send the ETag of your last read as If-Match: if the object changed since, the answer is "
    "412 `precondition_failed` and nothing changes. Without If-Match the change is made."
)
WRITES: dict[int, Any] = {400: Problem, 404: Problem, 412: Problem, **COMMON}


def require_change_role(request: HttpRequest) -> None:
    if not can_change(request):
        raise HttpError(403, "viewers cannot change reports")


class StateChange(Schema):
    to: str
    resolution: str | None = None
    duplicate_of: str | None = None  # the original's reference, for resolution "duplicate"
    # With duplicate_of: the message to the duplicate's finder, sent with the change (as the
    # desk does); without it the report is only closed, and its status page says why.
    message: str | None = Field(
        default=None, max_length=settings.MELDPUNT_MAX_TEXT_CHARS, pattern=r"\S"
    )


class NewMessage(Schema):
    # Not blank (at least one non-space character) and no longer than a report may be:
    # the schema refuses what the desk would refuse, with 422.
    text: str = Field(min_length=1, max_length=settings.MELDPUNT_MAX_TEXT_CHARS, pattern=r"\S")
    first_response: bool = False


@api.post(
    "/reports/{uid}/state",
    auth=TRIAGE,
    response={200: ReportSummary, **WRITES},
    summary="Change a report's state",
    openapi_extra=_links(200, {"ReadReport": "read_report"}, uid="$response.body#/uid"),
    description=IF_MATCH_DOC,
)
def change_state(
    request: HttpRequest, uid: uuid.UUID, change: StateChange, response: HttpResponse
) -> Any:
    require_change_role(request)
    report = _report(request, uid)
    original = None
    if change.message is not None and not change.duplicate_of:
        return Status(400, problem("bad_request", "message: only with duplicate_of"))
    if change.duplicate_of:
        original = Report.objects.by_reference(change.duplicate_of)
        if original is None:
            return Status(
                400, problem("unknown_reference", "duplicate_of: no report with that reference")
            )
    try:
        with _report_change(request, report, response):
            if original is not None:
                messages.mark_duplicate(report, original, _user(request), change.message or "")
            else:
                lifecycle.transition(report, change.to, _user(request), change.resolution)
    except lifecycle.WorkflowError as refused:
        return Status(400, problem("workflow_refused", str(refused)))
    return Status(200, _summary(_report(request, uid), timezone.now()))


@api.post(
    "/reports/{uid}/messages",
    auth=TRIAGE,
    response={201: ReportMessage, **WRITES},
    summary="Send a message to the finder (optionally the first response)",
    description=IF_MATCH_DOC,
)
def post_message(
    request: HttpRequest, uid: uuid.UUID, new: NewMessage, response: HttpResponse
) -> Any:
    require_change_role(request)
    return _send_message(request, _report(request, uid), new, [], response)


# At most as many as a finder may send (MELDPUNT_MAX_ATTACHMENTS): the document says so too.
MESSAGE_FILES = param_functions.File(None, max_length=settings.MELDPUNT_MAX_ATTACHMENTS)
ATTACHMENTS_DOC = (
    "The same message as POST /reports/{uid}/messages, sent as multipart/form-data with "
    "files (`files`, repeated; none sends a plain message): an operation of its own, so "
    "that each keeps one body type in the OpenAPI document. The files get the limits and "
    "checks of a finder's uploads (count, size: 422 `invalid` naming the file), are "
    "stored sealed and shown to the finder on the status page; a mail in clear only says "
    "how many there are. 507 `storage_full`: no room for them, nothing was stored or sent. "
) + IF_MATCH_DOC


@api.post(
    "/reports/{uid}/messages/attachments",
    auth=TRIAGE,
    response={201: ReportMessage, 507: Problem, **WRITES},
    summary="Send a message with attachments to the finder (multipart)",
    description=ATTACHMENTS_DOC,
)
def post_message_with_attachments(
    request: HttpRequest,
    uid: uuid.UUID,
    new: Form[NewMessage],
    response: HttpResponse,
    files: list[UploadedFile] | None = MESSAGE_FILES,
) -> Any:
    require_change_role(request)
    report = _report(request, uid)  # a 404 before the files are looked at
    try:
        incoming = read_uploads(files or [])
    except forms.ValidationError as refused:
        entry = {"loc": ["body", "files"], "msg": " ".join(refused.messages), "type": "value"}
        return Status(422, problem("invalid", [entry]))
    return _send_message(request, report, new, incoming, response)


def _send_message(
    request: HttpRequest,
    report: Report,
    new: NewMessage,
    files: list[IncomingFile],
    response: HttpResponse,
) -> Any:
    """The message of both operations, once the caller checked the role and found the report."""
    send = messages.send_first_response if new.first_response else messages.send_message
    try:
        with _report_change(request, report, response):
            message = send(report, _user(request), new.text, files=files)
    except lifecycle.WorkflowError as refused:
        return Status(400, problem("workflow_refused", str(refused)))
    except services.StorageFull:
        detail = "no room to store the attachments now: nothing was stored or sent"
        return Status(507, problem("storage_full", detail))
    return Status(201, _message_out(message, _newest(message.mails.defer("envelope_blob"))))


class TagOut(Schema):
    name: str
    colour: str = _enum(TagColour.values)
    description: str


class TagNames(Schema):
    # The report's tags after the change: each name must be a tag's (GET /tags).
    tags: list[str] = Field(max_length=100)


@api.get("/tags", response={200: list[TagOut], **COMMON}, summary="List the tags")
def list_tags(request: HttpRequest) -> list[dict[str, Any]]:
    staff_profile(request)
    return [
        {"name": t.name, "colour": t.colour, "description": t.description}
        for t in Tag.objects.all()
    ]


@api.put(
    "/reports/{uid}/tags",
    auth=TRIAGE,
    response={200: ReportSummary, 403: Problem, 404: Problem, **COMMON},
    summary="Set a report's tags (each tag put on or taken off is an event)",
    openapi_extra=_links(200, {"ReadReport": "read_report"}, uid="$response.body#/uid"),
)
def put_tags(request: HttpRequest, uid: uuid.UUID, change: TagNames) -> Any:
    require_change_role(request)
    report = _report(request, uid)
    found = {t.name: t for t in Tag.objects.filter(name__in=change.tags)}
    unknown = [
        _unknown_value(["body", "change", "tags", i], name, tag_names())
        for i, name in enumerate(change.tags)
        if name not in found
    ]
    if unknown:
        return Status(422, problem("invalid", unknown))
    set_tags(report, _user(request), found.values())
    return Status(200, _summary(_report(request, uid), timezone.now()))


class SavedViewOut(Schema):
    uid: uuid.UUID
    name: str
    owner: str
    shared: bool
    query: str  # the inbox's query string; GET /reports?view=<uid> applies it


@api.get(
    "/saved-views",
    response={200: list[SavedViewOut], **COMMON},
    summary="List the saved views this token's staff member can apply",
)
def list_saved_views(request: HttpRequest) -> list[dict[str, Any]]:
    staff_profile(request)
    return [_view_out(v) for v in visible_views(_user(request))]


class NewSavedView(Schema):
    name: str = Field(min_length=1, max_length=80, pattern=r"\S")
    # The inbox's query string (as GET /saved-views lists it), checked as the inbox checks
    # it: an unknown state, severity, tag, assignee or scope is a 422 naming the allowed ones.
    query: str = Field("", max_length=2000)
    shared: bool = False  # shared with the team: everyone may apply it, admins change it


def _view_out(view: SavedView) -> dict[str, Any]:
    return {
        "uid": view.uid,
        "name": view.name,
        "owner": view.owner.get_username(),
        "shared": view.shared,
        "query": view.query,
    }


@api.post(
    "/saved-views",
    auth=TRIAGE,
    response={201: SavedViewOut, **COMMON},
    summary="Save the inbox's filters under a name, for oneself or shared with the team",
)
def create_saved_view(request: HttpRequest, new: NewSavedView) -> Any:
    user = staff_profile(request).user
    query = check_query(new.query, user)  # UnknownFilterValue: a 422
    return Status(201, _view_out(create_view(user, new.name.strip(), query, new.shared)))


@api.delete(
    "/saved-views/{uid}",
    auth=TRIAGE,
    response={204: None, 403: Problem, 404: Problem, **COMMON},
    summary="Delete a saved view: one's own, or (admins) a shared one",
)
def delete_saved_view(request: HttpRequest, uid: uuid.UUID) -> Any:
    user = staff_profile(request).user
    try:
        delete_view(_saved_view(user, uid), user)
    except MayNotEdit:
        return Status(403, problem("forbidden", "only its owner (or, shared, an admin) may"))
    return Status(204, None)


# --- Assessment -----------------------------------------------------------------------------


class AssessmentChange(Schema):
    """Only the fields sent change; an empty vector, CWE or assignee clears it."""

    valid: bool | None = None
    in_scope: bool | None = None
    cvss31_vector: str | None = Field(None, max_length=200)
    cvss40_vector: str | None = Field(None, max_length=300)
    cwe: str | None = Field(None, max_length=20)
    assignee: str | None = Field(None, max_length=150)  # a user name; "" unassigns
    expected_fix_date: date | None = None
    # SSVC decision points (the values GET /reports/{uid} lists); "" or null clears one.
    # The decision is computed from them, never sent.
    ssvc_exploitation: str | None = Field(None, max_length=20)
    ssvc_automatable: str | None = Field(None, max_length=20)
    ssvc_technical_impact: str | None = Field(None, max_length=20)
    ssvc_mission_impact: str | None = Field(None, max_length=20)


def _assessment_values(change: AssessmentChange) -> dict[str, Any]:
    values = change.model_dump(exclude_unset=True)
    if "assignee" in values:
        name = values["assignee"] or ""
        values["assignee"] = User.objects.filter(username=name).first() if name else None
        if name and values["assignee"] is None:
            raise assessment.AssessmentError("assignee", "no staff member with that user name")
    for flag in ("valid", "in_scope"):
        if flag in values and values[flag] is None:
            del values[flag]  # "not yet known" is where a report starts, not a change
    for text in ("cvss31_vector", "cvss40_vector", "cwe", *ssvc.FIELDS.values()):
        if text in values and values[text] is None:
            values[text] = ""  # null clears, as for the assignee (a stored null was a 500)
    return values


@api.patch(
    "/reports/{uid}/assessment",
    auth=TRIAGE,
    response={200: ReportSummary, **WRITES},
    summary="Assess a report: validity, scope, CVSS vectors, SSVC, CWE, assignee, fix date",
    openapi_extra=_links(200, {"ReadReport": "read_report"}, uid="$response.body#/uid"),
    description=IF_MATCH_DOC,
)
def assess_report(
    request: HttpRequest, uid: uuid.UUID, change: AssessmentChange, response: HttpResponse
) -> Any:
    require_change_role(request)
    report = _report(request, uid)
    try:
        with _report_change(request, report, response):
            assessment.assess(report, _user(request), **_assessment_values(change))
    except assessment.AssessmentError as refused:
        entry = {"loc": ["body", "change", refused.field], "msg": str(refused), "type": "value"}
        return Status(422, problem("invalid", [entry]))
    return Status(200, _summary(_report(request, uid), timezone.now()))


# --- Legal reporting clocks (CRA Art. 14, NIS2 Art. 23) ------------------------------------


class RegulatoryFlags(Schema):
    exploited: bool | None = None  # actively exploited (CRA): starts the CRA clock
    exploited_aware_at: datetime | None = None  # default: now
    nis2_incident: bool | None = None  # significant incident (NIS2): starts the NIS2 clock
    nis2_aware_at: datetime | None = None  # default: now
    fix_available_at: datetime | None = None  # default: when the report was marked fixed
    member_states: str | None = Field(None, max_length=200)


class RegulatorySent(Schema):
    step: str = Field(json_schema_extra={"enum": list(rc.STEPS)})
    sent_at: datetime
    submitted_via: str = Field(json_schema_extra={"enum": list(rc.CHANNELS)})
    reference: str = Field("", max_length=200)


class RegulatoryState(Schema):
    flags: dict[str, Any]
    clocks: list[dict[str, Any]]


def _aware(moment: datetime | None) -> datetime | None:
    """A moment without an offset is read in MELDPUNT_TIME_ZONE."""
    if moment is None or timezone.is_aware(moment):
        return moment
    return timezone.make_aware(moment)


def _regulatory_state(report: Report) -> dict[str, Any]:
    return {
        "flags": regulatory.current_flags(report).as_data(),
        "clocks": regulatory.export(report, ledger(report)),
    }


def _regulatory_refused(refused: regulatory.RegulatoryError) -> Any:
    entry = {"loc": ["body", refused.field], "msg": str(refused), "type": "value"}
    return Status(422, problem("invalid", [entry]))


REGULATORY_DOC = (
    "The legal reporting clocks run only when the organisation is configured as a CRA "
    "manufacturer or NIS2 entity. Moments without an offset are read in the site's time zone. "
)


@api.patch(
    "/reports/{uid}/regulatory",
    auth=TRIAGE,
    response={200: RegulatoryState, **WRITES},
    summary="Mark a report actively exploited (CRA) or a significant incident (NIS2)",
    description=REGULATORY_DOC + IF_MATCH_DOC,
)
def set_regulatory_flags(
    request: HttpRequest, uid: uuid.UUID, change: RegulatoryFlags, response: HttpResponse
) -> Any:
    require_change_role(request)
    report = _report(request, uid)
    values = change.model_dump(exclude_unset=True)
    for flag in ("exploited", "nis2_incident", "member_states"):
        if flag in values and values[flag] is None:
            del values[flag]
    for name in ("exploited_aware_at", "nis2_aware_at", "fix_available_at"):
        if name in values:
            values[name] = _aware(values[name])
    try:
        with _report_change(request, report, response):
            regulatory.set_flags(report, _user(request), **values)
    except regulatory.RegulatoryError as refused:
        return _regulatory_refused(refused)
    return Status(200, _regulatory_state(report))


@api.post(
    "/reports/{uid}/regulatory/sent",
    auth=TRIAGE,
    response={200: RegulatoryState, **WRITES},
    summary="Record a step of a legal reporting clock as sent to the authority",
    description=REGULATORY_DOC
    + "Nothing is sent by Meldpunt: this records your submission. "
    + IF_MATCH_DOC,
)
def record_regulatory_sent(
    request: HttpRequest, uid: uuid.UUID, sent: RegulatorySent, response: HttpResponse
) -> Any:
    require_change_role(request)
    report = _report(request, uid)
    try:
        with _report_change(request, report, response):
            regulatory.record_sent(
                report,
                _user(request),
                sent.step,
                sent_at=_aware(sent.sent_at) or timezone.now(),
                channel=sent.submitted_via,
                reference=sent.reference,
            )
    except regulatory.RegulatoryError as refused:
        return _regulatory_refused(refused)
    return Status(200, _regulatory_state(report))


# --- Notes ----------------------------------------------------------------------------------


class ReportNote(Schema):
    uid: uuid.UUID
    created_at: datetime
    author: str | None
    text: str


class NewNote(Schema):
    text: str = Field(min_length=1, max_length=settings.MELDPUNT_MAX_TEXT_CHARS, pattern=r"\S")


def _note(note: Note) -> dict[str, Any]:
    author = note.author.get_username() if note.author else None
    return {
        "uid": note.uid,
        "created_at": note.created_at,
        "author": author,
        "text": note.body.get("text", ""),
    }


@api.get(
    "/reports/{uid}/notes",
    response={200: list[ReportNote], 404: Problem, **COMMON},
    summary="The team's internal notes on a report, oldest first",
)
def list_notes(request: HttpRequest, uid: uuid.UUID) -> list[dict[str, Any]]:
    report = _report(request, uid)
    return [_note(n) for n in report.notes.select_related("author")]


@api.post(
    "/reports/{uid}/notes",
    auth=TRIAGE,
    response={201: ReportNote, **WRITES},
    summary="Add an internal note (never shown to the finder)",
    openapi_extra=_links(201, {"ListNotes": "list_notes"}, uid="$request.path.uid"),
)
def post_note(request: HttpRequest, uid: uuid.UUID, new: NewNote) -> Any:
    require_change_role(request)
    report = _report(request, uid)
    return Status(201, _note(notes.add_note(report, _user(request), new.text)))


# --- Duplicates -----------------------------------------------------------------------------
# Marking is a state change (POST /state with duplicate_of and the message to the finder);
# unmarking is reopening it (POST /state with to "received"), as on the desk.


class DuplicateSuggestion(Schema):
    reference: str
    uid: uuid.UUID
    state: str = _enum(STATES)
    similarity: int  # percent of words in common in the descriptions


@api.get(
    "/reports/{uid}/duplicate-suggestions",
    response={200: list[DuplicateSuggestion], 404: Problem, **COMMON},
    summary="Reports about a same host, most similar first (what the desk suggests)",
)
def duplicate_suggestions(request: HttpRequest, uid: uuid.UUID) -> list[dict[str, Any]]:
    report = _report(request, uid)
    return [
        {
            "reference": s.report.reference,
            "uid": s.report.uid,
            "state": s.report.state,
            "similarity": s.percent,
        }
        for s in suggest_duplicates(report)
    ]


# --- Advisories -----------------------------------------------------------------------------


class AdvisoryOut(Schema):
    uid: uuid.UUID
    identifier: str
    status: str = _enum(Advisory.Status.values)
    language: str
    draft_version: int
    publish_at: datetime | None
    published_at: datetime | None
    reports: list[str]  # the references of the reports it is published for
    draft: dict[str, Any]
    missing: list[str]  # what the draft still needs before it can be published


class OsvPackage(Schema):
    ecosystem: str = Field(json_schema_extra={"enum": list(exports.OSV_ECOSYSTEMS)})
    name: str = Field(min_length=1, max_length=200)
    introduced: str = Field("", max_length=200)  # "" for every version before `fixed`
    fixed: str = Field("", max_length=200)

    @field_validator("ecosystem")
    @classmethod
    def _known_ecosystem(cls, value: str) -> str:
        if value not in exports.OSV_ECOSYSTEMS:
            raise ValueError("not an ecosystem of the OSV schema")
        return value


class AdvisoryChange(Schema):
    """Only the fields sent change (publishing.DRAFT_FIELDS and the schedule's settings)."""

    title: str | None = Field(None, max_length=300)
    summary: str | None = Field(None, max_length=settings.MELDPUNT_MAX_TEXT_CHARS)
    remediation: str | None = Field(None, max_length=settings.MELDPUNT_MAX_TEXT_CHARS)
    cvss31_vector: str | None = Field(None, max_length=200)
    cvss40_vector: str | None = Field(None, max_length=300)
    cwe: str | None = Field(None, max_length=20)
    cve: str | None = Field(None, max_length=30, pattern=r"^(CVE-\d{4}-\d{4,19})?$")
    # For the OSV document: [{"ecosystem", "name", "introduced", "fixed"}], see OsvPackage.
    packages: list[OsvPackage] | None = Field(None, max_length=50)
    ssvc: str | None = Field(None, max_length=300)  # the SSVC decision in words; "" leaves it out
    publish_at: datetime | None = None


class ScheduleRequest(Schema):
    # Needed (one of these) when the moment is before the one a finder approved.
    early_reason: str = Field("", json_schema_extra={"enum": ["", *publishing.EARLY_REASONS]})


class PublishRequest(Schema):
    summary: str = Field("", max_length=500)  # what changed; required for a later revision
    early_reason: str = Field("", json_schema_extra={"enum": ["", *publishing.EARLY_REASONS]})
    skip_review: bool = False  # publish although no finder answered the draft


def _advisory(request: HttpRequest, uid: uuid.UUID) -> Advisory:
    return get_for_staff(request, Advisory.objects.all(), uid=uid)


def _advisory_out(advisory: Advisory, response: HttpResponse) -> dict[str, Any]:
    response["ETag"] = advisory_etag(advisory)
    return {
        "uid": advisory.uid,
        "identifier": advisory.identifier,
        "status": advisory.status,
        "language": advisory.language,
        "draft_version": advisory.draft_version,
        "publish_at": advisory.publish_at,
        "published_at": advisory.published_at,
        "reports": [r.reference for r in advisory.reports.order_by("pk")],
        "draft": advisory.draft,
        "missing": [str(m) for m in publishing.missing(publishing.content_of(advisory))],
    }


def _refused(refused: Exception) -> Status[Any]:
    return Status(400, problem("workflow_refused", str(refused)))


@api.post(
    "/reports/{uid}/advisories",
    auth=TRIAGE,
    response={201: AdvisoryOut, **WRITES},
    summary="Start an advisory draft from a fixed report",
    openapi_extra=_links(201, _ADVISORY_OPERATIONS, uid="$response.body#/uid"),
)
def start_advisory(request: HttpRequest, uid: uuid.UUID, response: HttpResponse) -> Any:
    require_change_role(request)
    report = _report(request, uid)
    try:
        advisory = publishing.start_draft(report, _user(request))
    except (publishing.AdvisoryError, lifecycle.WorkflowError) as refused:
        return _refused(refused)
    return Status(201, _advisory_out(advisory, response))


@api.get(
    "/advisories/{uid}",
    response={200: AdvisoryOut, 404: Problem, **COMMON},
    summary="Read an advisory and its draft",
    openapi_extra=_links(200, _ADVISORY_OPERATIONS, uid="$response.body#/uid"),
)
def read_advisory(request: HttpRequest, uid: uuid.UUID, response: HttpResponse) -> Any:
    return _advisory_out(_advisory(request, uid), response)


@api.get(
    "/advisories/{uid}/cve.json",
    response={200: dict[str, Any], 404: Problem, **COMMON},
    summary="The published advisory as a CVE JSON 5 record (CVE Record Format 5.1)",
    description="404 `not_found` while the advisory is unpublished, has no CVE id, or has no "
    "English text; `detail` says which. Nothing is sent to the CVE services.",
)
def advisory_cve_record(request: HttpRequest, uid: uuid.UUID) -> Any:
    advisory = _advisory(request, uid)
    revisions = list(advisory.revisions.order_by("number"))
    record = exports.cve_record(advisory, revisions)
    if record is None:
        detail = " ".join(str(m) for m in exports.cve_missing(advisory, revisions))
        return Status(404, problem("not_found", detail))
    return record


@api.get(
    "/advisories/{uid}/osv.json",
    response={200: dict[str, Any], 404: Problem, **COMMON},
    summary="The published advisory as an OSV document (OSV schema 1.7)",
    description="404 `not_found` while the advisory is unpublished or names no packages. "
    "The same document is public at /advisories/<identifier>/osv.json once published.",
)
def advisory_osv(request: HttpRequest, uid: uuid.UUID) -> Any:
    advisory = _advisory(request, uid)
    document = exports.osv_document(advisory, list(advisory.revisions.order_by("number")))
    if document is None:
        return Status(404, problem("not_found", "no published advisory about packages"))
    return document


def _change_advisory(
    request: HttpRequest, advisory: Advisory, response: HttpResponse, change: Callable[[], Any]
) -> Any:
    """One change of an advisory: under its row lock, only if If-Match still names it."""
    try:
        with transaction.atomic():
            locked = Advisory.objects.select_for_update().get(pk=advisory.pk)
            check_if_match(request, advisory_etag(locked))
            change()
    except publishing.AdvisoryError as refused:
        return _refused(refused)
    return _advisory_out(advisory, response)


@api.patch(
    "/advisories/{uid}",
    auth=TRIAGE,
    response={200: AdvisoryOut, **WRITES},
    summary="Change an advisory's draft or its publication moment",
    openapi_extra=_links(200, {"ReadAdvisory": "read_advisory"}, uid="$response.body#/uid"),
    description=IF_MATCH_DOC,
)
def update_advisory(
    request: HttpRequest, uid: uuid.UUID, change: AdvisoryChange, response: HttpResponse
) -> Any:
    require_change_role(request)
    advisory = _advisory(request, uid)
    data = change.model_dump(exclude_unset=True)
    if "packages" in data:  # every key, the defaults too, as the form stores them
        data["packages"] = [p.model_dump() for p in change.packages or []]
    return _change_advisory(
        request, advisory, response, lambda: publishing.update_draft(advisory, data, _user(request))
    )


@api.post(
    "/advisories/{uid}/schedule",
    auth=TRIAGE,
    response={200: AdvisoryOut, **WRITES},
    summary="Schedule a draft for its publication moment",
    description="A moment before the one a finder approved needs `early_reason` and a token "
    "with the publish scope (the pages ask for a fresh second factor). " + IF_MATCH_DOC,
)
def schedule_advisory(
    request: HttpRequest, uid: uuid.UUID, body: ScheduleRequest, response: HttpResponse
) -> Any:
    require_change_role(request)
    advisory = _advisory(request, uid)
    if publishing.schedules_early(advisory) is not None:
        _require_scope(request, "publish")
    return _change_advisory(
        request,
        advisory,
        response,
        lambda: publishing.schedule(advisory, _user(request), body.early_reason),
    )


@api.post(
    "/advisories/{uid}/publish",
    auth=PUBLISH,
    response={200: AdvisoryOut, **WRITES},
    summary="Publish now (or a new revision); needs a token with the publish scope",
    description="The token-world form of the pages' fresh second factor: only a token with "
    "the publish scope publishes. Earlier than promised needs `early_reason`. " + IF_MATCH_DOC,
)
def publish_advisory(
    request: HttpRequest, uid: uuid.UUID, body: PublishRequest, response: HttpResponse
) -> Any:
    require_change_role(request)
    advisory = _advisory(request, uid)
    return _change_advisory(
        request,
        advisory,
        response,
        lambda: publishing.publish(
            advisory,
            summary=body.summary,
            user=_user(request),
            early_reason=body.early_reason,
            skip_review=body.skip_review,
        ),
    )


# --- The scope inventory -------------------------------------------------------------------


class AssetOut(Schema):
    uid: uuid.UUID
    kind: str = _enum(list(SCOPE_KINDS))
    value: str  # normalised: a domain in its ASCII (punycode) form, a URL prefix, an address
    subdomains: bool  # a domain: and every name under it
    status: str = _enum(list(SCOPE_STATUSES))
    note: str
    contact: str  # third party: where to report instead (a mail address or a URL)


class NewAsset(Schema):
    kind: str = Field(json_schema_extra={"enum": list(SCOPE_KINDS)})
    value: str = Field(min_length=1, max_length=300)
    subdomains: bool = False
    status: str = Field(json_schema_extra={"enum": list(SCOPE_STATUSES)})
    note: str = Field("", max_length=500)
    contact: str = Field("", max_length=300)


def _asset_out(asset: Asset) -> dict[str, Any]:
    return {
        "uid": asset.uid,
        "kind": asset.kind,
        "value": asset.value,
        "subdomains": asset.subdomains,
        "status": asset.status,
        "note": asset.note,
        "contact": asset.contact,
    }


def _scope_admin(request: HttpRequest) -> User | None:
    """The token's staff member when an admin: the inventory is theirs to change."""
    return _user(request) if staff_profile(request).role == Role.ADMIN else None


_NOT_ADMIN = "only an admin changes the scope inventory"


@api.get(
    "/scope",
    response={200: list[AssetOut], **COMMON},
    summary="The scope inventory: what the policy covers, leaves out, or belongs to others",
)
def list_scope(request: HttpRequest) -> list[dict[str, Any]]:
    staff_profile(request)
    return [_asset_out(a) for a in Asset.objects.all()]


@api.post(
    "/scope",
    auth=ADMIN,
    response={201: AssetOut, 409: Problem, **COMMON},
    summary="Add an asset to the scope inventory (an admin's token with the admin scope)",
    description="A value its kind refuses (a CIDR range with host bits set, a malformed "
    "domain) is a 422 saying why; an asset already there is a 409. Open reports are not "
    "checked again until `meldpunt scope-check` or the desk's button.",
)
def add_scope_asset(request: HttpRequest, new: NewAsset) -> Any:
    user = _scope_admin(request)
    if user is None:
        return Status(403, problem("forbidden", _NOT_ADMIN))
    try:
        spec = scope_checked(
            AssetSpec(new.kind, new.value, new.status, new.subdomains, new.note, new.contact)
        )
    except AssetError as exc:
        entry = {"loc": ["body", "new", "value"], "msg": str(exc), "type": "value"}
        return Status(422, problem("invalid", [entry]))
    if Asset.objects.filter(kind=spec.kind, value=spec.value, subdomains=spec.subdomains).exists():
        return Status(409, problem("conflict", "this asset is in the inventory already"))
    with transaction.atomic():
        asset, _created = upsert(spec)
        audit(
            "scope_asset_added",
            staff(user),
            asset=str(asset),
            kind=asset.kind,
            status=asset.status,
        )
    return Status(201, _asset_out(asset))


@api.delete(
    "/scope/{uid}",
    auth=ADMIN,
    response={204: None, 404: Problem, **COMMON},
    summary="Remove an asset from the scope inventory (an admin's token with the admin scope)",
)
def remove_scope_asset(request: HttpRequest, uid: uuid.UUID) -> Any:
    user = _scope_admin(request)
    if user is None:
        return Status(403, problem("forbidden", _NOT_ADMIN))
    asset = Asset.objects.filter(uid=uid).first()
    if asset is None:
        raise Http404
    with transaction.atomic():
        audit(
            "scope_asset_removed",
            staff(user),
            asset=str(asset),
            kind=asset.kind,
            status=asset.status,
        )
        asset.delete()
    return Status(204, None)


# --- Tokens (the admin scope) ---------------------------------------------------------------


class TokenOut(Schema):
    uid: uuid.UUID
    name: str
    owner: str  # the staff member's user name
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def _token_out(token: ApiToken) -> dict[str, Any]:
    return {
        "uid": token.uid,
        "name": token.name,
        "owner": token.user.get_username(),
        "scopes": token.scopes,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }


@api.get(
    "/tokens",
    auth=ADMIN,
    response={200: list[TokenOut], **COMMON},
    summary="Every API token (an admin's), newest first; never a secret",
)
def list_tokens(request: HttpRequest) -> list[dict[str, Any]]:
    return [_token_out(t) for t in tokens.visible_tokens(_user(request))[:1000]]


@api.delete(
    "/tokens/{token_uid}",
    auth=ADMIN,
    response={200: TokenOut, 404: Problem, **COMMON},
    summary="Revoke a token (e.g. one that leaked)",
)
def revoke_token(request: HttpRequest, token_uid: uuid.UUID) -> Any:
    revoked = tokens.revoke(_user(request), token_uid)
    if revoked is None:
        raise Http404
    return _token_out(revoked)
