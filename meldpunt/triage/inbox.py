"""The team's inbox: reports by the nearest promise, filtered on clear columns only.

Filters and ordering use clear columns only, so the list stays fast at a million reports;
the title and first host come from the sealed content of the rows on the page, never more.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, cast

from django import forms
from django.core.paginator import Page, Paginator
from django.db.models import BooleanField, Case, OrderBy, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.formats import get_format
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import get_language, gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from meldpunt.accounts.access import can_change, staff_profile
from meldpunt.accounts.gate import staff_required
from meldpunt.accounts.models import StaffProfile
from meldpunt.begbounty.store import rule_names as low_value_rule_names
from meldpunt.lib import snapshots
from meldpunt.lib.forms import Form
from meldpunt.lib.fragments import Fragments, fields_key
from meldpunt.lib.pages import render_private
from meldpunt.lib.precompiled import ByIds, Precompiled
from meldpunt.lib.sealed import Sealed
from meldpunt.lib.templatetags.html_time import html_datetime
from meldpunt.policy.commitments import category_label
from meldpunt.reports import ssvc
from meldpunt.reports.filters import (
    ALL_STATES,
    ME,
    NOT_ASSESSED,
    UNASSIGNED,
    filter_reports,
    inbox_filter,
)
from meldpunt.reports.labels import SCOPE_CHECK_LABELS, SEVERITY_LABELS, STATE_LABELS
from meldpunt.reports.models import Report, State, overdue, queue_order, reference_of
from meldpunt.reports.promises import at_risk
from meldpunt.reports.reach import not_reached
from meldpunt.reports.saved_views import MAX_SHOWN, clean_query, counts, kept_count, menu
from meldpunt.reports.search import is_searchable
from meldpunt.reports.summary import Summary, summary
from meldpunt.reports.tags import tag_names, tags_of
from meldpunt.triage.bulk import BulkForm, bulk_menus

PER_PAGE = 50
_ANY_UID = uuid.UUID(int=0)

# The models' choices carry no translated labels; the team reads these.


class InboxFilter(Form):
    q = forms.CharField(
        label=_("Reference, host or URL"),
        help_text=_("A search looks in all states unless you choose one."),
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"type": "search", "spellcheck": "false"}),
    )
    state = forms.ChoiceField(
        label=_("State"),
        required=False,
        choices=[("", _("Open")), *STATE_LABELS.items(), (ALL_STATES, _("Any state"))],
    )
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)
    severity = forms.ChoiceField(
        label=_("Severity"),
        required=False,
        choices=[("", _("Any")), *SEVERITY_LABELS.items(), (NOT_ASSESSED, _("Not assessed"))],
    )
    ssvc = forms.ChoiceField(
        label=_("SSVC decision"),
        required=False,
        # CISA's decision names stay English (SSVC's terms), as on the report page.
        choices=[
            ("", _("Any")),
            *((v.slug, v.name) for v in ssvc.table().outcome.values),
            (NOT_ASSESSED, _("Not decided")),
        ],
    )
    scope = forms.ChoiceField(
        label=_("Scope"),
        required=False,
        choices=[("", _("Any")), ("in", _("In scope")), ("out", _("Out of scope"))],
    )
    scope_check = forms.ChoiceField(
        label=_("Scope inventory"),
        required=False,
        choices=[("", _("Any")), *SCOPE_CHECK_LABELS.items()],
    )
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)
    not_reached = forms.BooleanField(label=_("Finder not reached"), required=False)
    at_risk = forms.BooleanField(label=_("Promises at risk or broken"), required=False)
    tag = forms.ChoiceField(label=_("Tag"), required=False)
    low_value = forms.ChoiceField(
        label=_("Likely low value"),
        required=False,
        choices=[("", _("Any")), ("yes", _("Yes")), ("no", _("No"))],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

        def staff() -> QuerySet[Any]:
            return StaffProfile.objects.order_by("user__username").values_list(
                "uid", "user__username"
            )

        self.fields["assignee"].choices = [  # type: ignore[attr-defined]
            ("", _("Anyone")),
            (ME, _("Me")),
            (UNASSIGNED, _("Unassigned")),
            *((str(uid), username) for uid, username in snapshots.rows(("staff",), staff)),
        ]
        self.fields["tag"].choices = [  # type: ignore[attr-defined]
            ("", _("Any")),
            *((name, name) for name in tag_names()),
        ]

    def clean_q(self) -> str:
        text: str = self.cleaned_data["q"].strip()
        if text and not is_searchable(text):
            raise forms.ValidationError(
                _("Search for a reference such as MP-2026-0042, a host name or a URL.")
            )
        return text


def _term(term: Any) -> Precompiled:
    return Precompiled(Report, lambda now: term)


# The queue's order as the domain writes it, each term's SQL compiled once per process
# (lib/precompiled.py): the same text, so the queue index still serves it.
_QUEUE = tuple((_term(order.expression), order) for order in queue_order())


def ordered(reports: QuerySet[Report], state: str) -> QuerySet[Report]:
    """Open reports in the order they are worked in (queue_order); closed ones newest first."""
    if state == State.CLOSED:
        # No clock runs on a closed report: newest first, straight from the primary key index.
        return reports.order_by("-pk")
    now = timezone.now()  # unused: the order does not depend on the time
    return reports.order_by(
        *(
            OrderBy(
                term.at(now, reports.db),
                descending=order.descending,
                nulls_first=order.nulls_first,
                nulls_last=order.nulls_last,
            )
            for term, order in _QUEUE
        )
    )


class _Plural:
    """One of Django's TIME_STRINGS (same messages, same catalogue) in one language, each
    number translated once: the lazy originals build a proxy per use, and a page asks for
    the same few ("3 days", "2 hours") 100 times."""

    def __init__(self, singular: str, plural: str) -> None:
        self.singular, self.plural = singular, plural
        self._done: dict[int, str] = {}

    def __mod__(self, values: dict[str, int]) -> str:
        found = self._done.get(values["num"])
        if found is None:
            found = ngettext(self.singular, self.plural, values["num"]) % values
            if len(self._done) < 200:  # years are the only unbounded number: a bound
                self._done[values["num"]] = found
        return found


# Per language: Any, as the stubs ask for str though Django's TIME_STRINGS are lazy too.
_TIME_STRINGS: dict[str | None, Any] = {}


def _time_strings() -> Any:
    """The time words in the active language (made once per language, in that language)."""
    language = get_language()
    found = _TIME_STRINGS.get(language)
    if found is None:
        found = _TIME_STRINGS[language] = {
            unit: _Plural(f"%(num)d {unit}", f"%(num)d {unit}s")
            for unit in ("year", "month", "week", "day", "hour", "minute")
        }
    return found


def _since(then: datetime, now: datetime, words: Any = None) -> str:
    return timesince(then, now, time_strings=words or _time_strings())


def _until(then: datetime, now: datetime, words: Any = None) -> str:
    return timeuntil(then, now, time_strings=words or _time_strings())


@dataclass(frozen=True)
class Row:
    report: Any  # a Listed
    state: Any
    severity: Any
    category: Any
    summary: Summary
    tags: tuple[tuple[str, str], ...]  # (name, colour)
    url: str
    age: str
    clock: str  # the first-response clock in words
    clock_kind: str  # "late", "meta" or ""


@require_safe
@staff_required
def inbox(request: HttpRequest) -> HttpResponse:
    # The counts, tags, staff and saved views this page reads are kept until a transaction
    # commits (meldpunt/lib/snapshots.py): reloading the inbox asks them again.
    with snapshots.page():
        staff_profile(request)
        form = InboxFilter(request.GET)
        form.is_valid()  # invalid filters are left out of cleaned_data, named on the page, ignored
        now = timezone.now()
        filters = form.cleaned_data
        wanted = inbox_filter(filters, request.user)

        def made(at: datetime) -> QuerySet[Report, dict[str, Any]]:
            found = ordered(filter_reports(listing(at), wanted, at), filters.get("state", ""))
            return cast(QuerySet[Report, dict[str, Any]], found)

        shown = request.GET.copy()
        shown.pop("page", None)
        query = shown.urlencode()  # what the page shows; its filter is made from this alone

        def first_page() -> list[dict[str, Any]]:
            # Its SQL, made from the query, the user, the look-ups and the time alone, is
            # kept (meldpunt/lib/snapshots.py); its rows are read each time.
            question = ("inbox rows", request.user.pk, query)
            return snapshots.values(question, lambda at: made(at)[: PER_PAGE + 1], now)

        page = page_of(
            lambda: made(now),
            request.GET.get("page"),
            lambda: kept_count(("inbox count", request.user.pk, query), wanted, now),
            # Not for a search: a reference names its report by its row (made each time).
            None if wanted.reads_reports() else first_page,
        )
        bulk = bulk_controls(request)
        context = {
            "form": form,
            "filter_fields": filter_fields(form),
            # Where the bulk actions return to: this page of these filters.
            "back": f"?{request.GET.urlencode()}" if request.GET else "",
            "ignored": [form.fields[name].label for name in form.errors],
            "page": page,
            "rows": table_rows(rows(list(page), now), selectable=bulk is not None),
            "now": now,
            "bulk": bulk,
            # The page's own count serves the saved view it is (when every filter was valid).
            **views_context(request, now, None if form.errors else (query, page.paginator.count)),
        }
        return render_private(request, "triage/inbox.html", context, 400 if form.errors else 200)


# The filter and bulk forms' fields, rendered once per language, values and choices (the
# choices are read on every request and are part of the key): meldpunt/lib/fragments.py.
_FRAGMENTS = Fragments(size=64)
_FILTER_FIELDS = (
    "q", "state", "assignee", "severity", "ssvc", "scope", "scope_check", "tag", "low_value",
    "overdue", "not_reached", "at_risk",
)  # fmt: skip


def filter_fields(form: InboxFilter) -> SafeString:
    def render() -> SafeString:
        # The template engine's output is safe already (every value escaped by the fields).
        return render_to_string("triage/inbox_filters.html", {"form": form})

    key = fields_key(form, _FILTER_FIELDS)
    # A search is not kept: its text can come from a report, and it is rarely asked twice.
    if key is None or form.data.get("q"):
        return render()
    return _FRAGMENTS.get(("filters", key), render)


def bulk_controls(request: HttpRequest) -> SafeString | None:
    """The bulk actions' controls for those who may change reports, None for the others;
    kept under the language and the form's menus, the only things their HTML depends on
    (the form is made only to render them)."""
    if not can_change(request):
        return None
    menus = bulk_menus()

    def render() -> SafeString:
        form = BulkForm(menus=menus, auto_id="bulk-%s")
        return render_to_string("triage/bulk_controls.html", {"form": form})

    return _FRAGMENTS.get(("bulk", get_language(), menus), render)


def page_of(
    reports: Callable[[], QuerySet[Report, dict[str, Any]]],
    number: Any,
    count: Callable[[], int],
    first_rows: Callable[[], list[dict[str, Any]]] | None = None,
) -> Page[dict[str, Any]]:
    """The page asked for, as Paginator.get_page gives it, with `count()` for how many
    reports match (the domain's count_reports, read from memory while nothing changed); a
    first page shorter than a full one is its own count (a narrow filter pays its query once).
    `first_rows()`, where given, reads the first PER_PAGE + 1 rows (kept SQL), else the
    queryset `reports()` makes is read."""
    if number not in (None, "", "1"):
        paginator = Paginator(reports(), PER_PAGE)
        paginator.count = count()
        return paginator.get_page(number)
    first = first_rows() if first_rows is not None else list(reports()[: PER_PAGE + 1])
    paginator = Paginator(first, PER_PAGE)
    paginator.count = len(first) if len(first) <= PER_PAGE else count()
    return Page(first[:PER_PAGE], 1, paginator)


def views_context(
    request: HttpRequest, now: datetime, known: tuple[str, int] | None
) -> dict[str, Any]:
    """The saved views in the inbox's menu, each with its count (a few: one COUNT each; the
    view being shown takes the page's count: known is the page's query without its page
    number, and its count). The page's count serves a view only for exactly its filters: a
    search within the view's filters marks the view as current, but counts fewer reports."""
    user = staff_profile(request).user
    views = menu(user, MAX_SHOWN + 1)
    current = clean_query(request.GET.urlencode())
    return {
        "views": counts(views[:MAX_SHOWN], user, now, known),
        "more_views": len(views) > MAX_SHOWN,
        "current_query": current,
    }


_CONTENT = cast(Sealed, Report.content)  # on the class, the descriptor itself

_LISTED = (
    "uid", "created_at", "state", "category", "severity", "ssvc_decision", "scope_verdict",
    "low_value_rule", "response_due_at", "first_response_at", "assignee__username",
)  # fmt: skip


def _flag(condition: Callable[[datetime], Q]) -> Precompiled:
    return Precompiled(
        Report,
        lambda now: Case(When(condition(now), then=Value(True)), default=Value(False)),
        BooleanField(),
    )


# Each row's badges, by the domain's own rules; their SQL is compiled once per process (it
# cost the page more to compile than to run: bench/README.md), only the time moves.
_FLAGS = {
    "overdue": _flag(overdue),
    "not_reached": _flag(lambda now: not_reached()),
    "promises_late": _flag(at_risk),
}


def listing(now: datetime) -> QuerySet[Report]:
    """Clear columns only: the sealed blobs are not even fetched. As values, not reports:
    only what a row shows, 12 of the report's 46 columns, the assignee's name and the flags.
    (Typed as the reports' queryset, which the domain's filters take; it gives dicts.)"""
    reports = Report.objects.annotate(
        **{name: flag.at(now, Report.objects.db) for name, flag in _FLAGS.items()}
    )
    return cast(QuerySet[Report], reports.values("pk", *_LISTED, *_FLAGS))


# The rows' sealed content, by id: one statement, compiled once per number of rows.
_BLOBS = ByIds(Report, "pk", "content_blob")


class Listed(SimpleNamespace):
    """A report as the inbox lists it: listing()'s values as attributes."""


def rows(listed: list[dict[str, Any]], now: datetime) -> list[Row]:
    """The page's rows, their texts made here: per row in the template they cost the page
    most of its time (bench/README.md). Only the rows' own content is fetched and opened."""
    reports = [Listed(**row) for row in listed]
    sealed = dict(_BLOBS.rows([r.pk for r in reports]))
    tags = tags_of(r.pk for r in reports)
    # One reverse() for the page: the report URLs differ only in the uid.
    url = reverse("triage:report", args=[_ANY_UID]).replace(str(_ANY_UID), "{}")
    # The labels translated once for the page, not once per row.
    states = {code: str(label) for code, label in STATE_LABELS.items()}
    severities = {code: str(label) for code, label in SEVERITY_LABELS.items()}
    categories = {r.category: str(category_label(r.category)) for r in reports}
    words, clocks = _time_strings(), _clock_words()
    return [
        Row(
            r,
            states.get(r.state, r.state),
            severities.get(r.severity, r.severity),
            categories[r.category],
            summary(_CONTENT.open_row(Report, r.uid, sealed.get(r.pk))),  # None: deleted meanwhile
            tags.get(r.pk, ()),
            url.format(r.uid),
            _since(r.created_at, now, words),
            *_clock(r, now, words, clocks),
        )
        for r in reports
    ]


def _clock_words() -> dict[str, str]:
    return {
        "responded": gettext("responded"),
        "closed": gettext("no response needed"),
        "late": gettext("Overdue by %(late)s"),
        "left": gettext("%(left)s left"),
    }


def _clock(report: Any, now: datetime, words: Any, clocks: dict[str, str]) -> tuple[str, str]:
    if report.first_response_at:
        return clocks["responded"], ""
    if report.state == State.CLOSED:
        return clocks["closed"], "meta"
    if report.overdue:
        return clocks["late"] % {"late": _since(report.response_due_at, now, words)}, "late"
    return clocks["left"] % {"left": _until(report.response_due_at, now, words)}, ""


# One table row; every value in it is escaped (finders write the titles and hosts), with the
# standard library's html.escape on plain strings and one join per page: format_html per
# cell cost the page ~8 ms at 50 rows (bench/README.md). Same output as Django's escape().
_ROW = (
    '<tr{}>\n{}<th scope="row"><a href="{}">{}</a>{}{}{}{}</th>\n<td class="title">{}{}</td>\n'
    "<td>{}</td>\n<td>{}</td>\n"
    '<td><span class="state state-{}">{}</span></td>\n<td>{}</td>\n<td>{}</td>\n<td>{}</td>\n'
    '<td><time datetime="{}" title="{}">{}</time></td>\n<td class="clock">{}</td>\n</tr>\n'
)


_SELECT = (
    '<td><input type="checkbox" name="reports" value="{}" id="select-{}">'
    '<label for="select-{}" class="visually-hidden">{}</label></td>\n'
)
_LOW_VALUE = ' <span class="badge badge-low-value" data-low-value="{}">{}</span>'
_CHIP = ' <span class="chip chip-{}" data-tag="{}">{}</span>'


def _e(value: Any) -> str:
    """Escaped text of any value (lazy translations and numbers included)."""
    return html.escape(str(value))


@lru_cache(maxsize=4096)
def _received_cell(created_at: datetime, zone: tzinfo, language: str | None) -> tuple[str, str]:
    """A row's received moment, as its `<time datetime>` and in the active language's format
    (`language`, part of the key: its format and month names are what is made here, as
    date_format() does). The same reports head the inbox on every load, and formatting them
    was ~5% of its time."""
    local = timezone.localtime(created_at, zone)
    formatted = dateformat.format(local, get_format("DATETIME_FORMAT"))
    return _e(html_datetime(local)), _e(formatted)


def table_rows(rows: list[Row], selectable: bool = False) -> SafeString:
    """The table's rows as HTML, made here: through the template engine's look-ups per
    variable they cost the page more than its SQL (bench/README.md). Everything is escaped:
    every value goes through _e(); only the constant markup below is not."""
    none = '<span class="meta">—</span>'
    overdue_class = ' class="overdue"'
    not_reached = (
        ' <span class="badge badge-not-reached" data-finder-reached="no">'
        f"{_e(gettext('finder not reached'))}</span>"
    )
    late_promise = (
        ' <span class="badge badge-promise-risk" data-promises="at-risk">'
        f"{_e(gettext('promise at risk'))}</span>"
    )
    # What the scope inventory says, where it needs a look: not covered by the policy.
    scope_badges = {
        verdict: f' <span class="badge badge-scope" data-scope-check="{verdict}">{_e(label)}</span>'
        for verdict, label in (
            ("out_of_scope", gettext("out of scope")),
            ("third_party", gettext("third party")),
            ("unknown", gettext("not in the inventory")),
        )
    }
    # One query, and only when a row on the page is labelled.
    labelled = any(row.report.low_value_rule for row in rows)
    rule_names = low_value_rule_names() if labelled else {}
    low_value_label = gettext("likely low value: %(rule)s")
    select_label = gettext("Select %(ref)s")
    not_assessed = f'<span class="meta">{_e(gettext("not assessed"))}</span>'
    decisions = {
        v.slug: f'<span class="ssvc ssvc-{_e(v.slug)}" data-ssvc="{_e(v.slug)}" lang="en">'
        f"{_e(v.name)}</span>"
        for v in ssvc.table().outcome.values
    }
    unassigned = f'<span class="meta">{_e(gettext("unassigned"))}</span>'
    clock_markup = {
        "late": '<strong class="late">{}</strong>',
        "meta": '<span class="meta">{}</span>',
    }
    zone, language = timezone.get_current_timezone(), get_language()
    html_rows = []
    for row in rows:
        r = row.report
        uid = _e(r.uid)
        reference = reference_of(r.created_at, r.pk, zone)
        html_rows.append(
            _ROW.format(
                overdue_class if r.overdue else "",
                _SELECT.format(uid, uid, uid, _e(select_label % {"ref": reference}))
                if selectable
                else "",
                _e(row.url),
                _e(reference),
                not_reached if r.not_reached else "",
                late_promise if r.promises_late else "",
                scope_badges.get(r.scope_verdict, ""),
                _LOW_VALUE.format(
                    _e(r.low_value_rule),
                    _e(
                        low_value_label
                        % {"rule": rule_names.get(r.low_value_rule, r.low_value_rule)}
                    ),
                )
                if r.low_value_rule
                else "",
                _e(row.summary.title or "—"),
                "".join(_CHIP.format(_e(colour), _e(name), _e(name)) for name, colour in row.tags),
                _e(row.category),
                f"<code>{_e(row.summary.host)}</code>" if row.summary.host else none,
                _e(r.state),
                _e(row.state),
                f'<span class="severity severity-{_e(r.severity)}">{_e(row.severity)}</span>'
                if row.severity
                else not_assessed,
                decisions.get(r.ssvc_decision, none),
                _e(r.assignee__username) if r.assignee__username else unassigned,
                *_received_cell(r.created_at, zone, language),
                _e(row.age),
                clock_markup[row.clock_kind].format(_e(row.clock))
                if row.clock_kind in clock_markup
                else _e(row.clock),
            )
        )
    return SafeString("".join(html_rows))  # nosec B703 (every value went through _e above)
