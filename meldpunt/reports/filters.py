"""Filtering reports on clear columns: one function for the staff inbox and the API alike.

Nothing here opens a sealed field, so a filter stays fast at a million reports; a search
by host goes through the blind index (`meldpunt.reports.search`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import connections
from django.db.models import Func, IntegerField, Q, QuerySet
from django.db.models.expressions import Star

from meldpunt.reports import ssvc
from meldpunt.reports.models import Report, Severity, State, open_states, overdue
from meldpunt.reports.promises import at_risk
from meldpunt.reports.reach import not_reached
from meldpunt.reports.search import matching
from meldpunt.reports.tags import tag_id, tag_names

# The values each enumerated filter accepts: the one list that the inbox's form, the API's
# check and its OpenAPI document share.
STATES: tuple[str, ...] = tuple(State.values)
# "" is "not assessed yet".
SEVERITIES: tuple[str, ...] = ("", *Severity.values)
# The SSVC decisions (meldpunt.reports.ssvc); "" is "not decided yet".
SSVC_DECISIONS: tuple[str, ...] = ("", *ssvc.DECISIONS)
# What the scope inventory said of the systems a report names (Report.scope_verdict, set by
# meldpunt.scope); "unchecked" is "" there: received while the inventory was empty.
SCOPE_CHECKS: tuple[str, ...] = ("in_scope", "out_of_scope", "third_party", "unknown", "unchecked")
UNCHECKED = "unchecked"


# The inbox's words for "any state", "assigned to me", "unassigned" and "not assessed".
ALL_STATES, ME, UNASSIGNED, NOT_ASSESSED = "all", "me", "none", "unset"
# Listed as an IN list, not as "not closed": that can use the (state, response_due_at) index.
OPEN_STATES = tuple(open_states())


class UnknownFilterValue(ValueError):
    """A filter given a value outside its list: "nothing matches" would hide a typo."""

    def __init__(self, field: str, value: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"{field}: unknown value {value!r}")
        self.field, self.value, self.allowed = field, value, allowed


@dataclass(frozen=True)
class ReportFilter:
    """What to keep; each field narrows the list, and None (or empty) means "any"."""

    states: Collection[str] | None = None
    search: str = ""  # a reference (MP-YYYY-NNNN), a host name, an IP address or a URL
    assignees: QuerySet[User] | None = None
    unassigned: bool = False
    severity: str | None = None  # "" for reports not assessed yet
    ssvc_decision: str | None = None  # "" for reports without an SSVC decision yet
    in_scope: bool | None = None
    overdue: bool | None = None
    not_reached: bool | None = None  # the finder was not reached (meldpunt.reports.reach)
    promises_at_risk: bool | None = None  # a promise at risk or broken (the ledger)
    tag: str | None = None  # a tag's name (meldpunt.reports.tags)
    # The scope inventory's verdict (SCOPE_CHECKS), apart from the team's own `in_scope`.
    scope_check: str | None = None
    # Labelled "likely low value" by a rule (meldpunt.begbounty), or not.
    low_value: bool | None = None
    # The tag's id, looked up once with the check that the tag exists (filter_reports).
    tag_id: int = field(init=False, default=0, repr=False, compare=False)

    def __post_init__(self) -> None:
        for state in self.states or ():
            if state not in STATES:
                raise UnknownFilterValue("state", state, STATES)
        if self.severity is not None and self.severity not in SEVERITIES:
            raise UnknownFilterValue("severity", self.severity, SEVERITIES)
        if self.ssvc_decision is not None and self.ssvc_decision not in SSVC_DECISIONS:
            raise UnknownFilterValue("ssvc_decision", self.ssvc_decision, SSVC_DECISIONS)
        if self.scope_check is not None and self.scope_check not in SCOPE_CHECKS:
            raise UnknownFilterValue("scope_check", self.scope_check, SCOPE_CHECKS)
        if self.tag is not None:
            found = tag_id(self.tag)
            if found is None:
                raise UnknownFilterValue("tag", self.tag, tag_names())
            object.__setattr__(self, "tag_id", found)  # frozen: set once, here

    def uses_time(self) -> bool:
        """Whether filter_reports asks `now` for this filter (below): the same filter at
        another moment may keep other reports."""
        return self.overdue is not None or self.promises_at_risk is not None

    def reads_reports(self) -> bool:
        """Whether filter_reports reads report rows to make this filter's SQL (a search: a
        reference names its report by its row, search.matching), so that SQL holds data
        and cannot be kept while only the look-ups stay the same."""
        return bool(self.search)


def out_of_scope() -> Q:
    # The team's assessment overrides the category the finder chose.
    return Q(in_scope=False) | Q(in_scope__isnull=True, out_of_scope=True)


def in_scope() -> Q:
    return Q(in_scope=True) | Q(in_scope__isnull=True, out_of_scope=False)


def filter_reports(reports: QuerySet[Report], f: ReportFilter, now: datetime) -> QuerySet[Report]:
    if f.states is not None:
        # An IN list, never "not closed": only the former can use the (state, ...) indexes.
        reports = reports.filter(state__in=list(f.states))
    if f.search:
        reports = matching(reports, f.search)
    if f.unassigned:
        reports = reports.filter(assignee__isnull=True)
    elif f.assignees is not None:
        reports = reports.filter(assignee__in=f.assignees)
    if f.severity is not None:
        reports = reports.filter(severity=f.severity)
    if f.ssvc_decision is not None:
        reports = reports.filter(ssvc_decision=f.ssvc_decision)
    if f.in_scope is not None:
        reports = reports.filter(in_scope() if f.in_scope else out_of_scope())
    if f.scope_check is not None:
        verdict = "" if f.scope_check == UNCHECKED else f.scope_check
        reports = reports.filter(scope_verdict=verdict)
    if f.overdue is not None:
        late = overdue(now)
        reports = reports.filter(late) if f.overdue else reports.exclude(late)
    if f.not_reached is not None:
        lost = not_reached()
        reports = reports.filter(lost) if f.not_reached else reports.exclude(lost)
    if f.promises_at_risk is not None:
        risky = at_risk(now)
        reports = reports.filter(risky) if f.promises_at_risk else reports.exclude(risky)
    if f.low_value is not None:
        labelled = ~Q(low_value_rule="")
        reports = reports.filter(labelled) if f.low_value else reports.exclude(labelled)
    if f.tag is not None:
        # By the tag's id: with the literal id on the link table the planner
        # knows how common the tag is (joining on the name, it guessed, and walked 20,000
        # tagged reports one by one at a million: 115 ms instead of 10; bench/README.md).
        reports = reports.filter(tags=f.tag_id)
    return reports


def _counted(f: ReportFilter, now: datetime) -> QuerySet[Any]:
    """The rows count_reports counts. A tag with no other filter is counted on the link
    table alone (one row per tagged report): joining each link to its report costs ~20x
    more at a million reports and can drop nothing (bench/README.md)."""
    if f.tag is not None and replace(f, tag=None) == ReportFilter():
        links: Any = Report.tags.through  # the link table Django made for the field
        return cast(QuerySet[Any], links.objects.filter(tag_id=f.tag_id))
    return filter_reports(Report.objects.all(), f, now)


def count_reports(f: ReportFilter, now: datetime) -> int:
    """How many reports the filter keeps."""
    return _counted(f, now).count()


class Counting(NamedTuple):
    """One filter's count as a scalar subquery, to be run with others (count_together)."""

    sql: str
    params: tuple[Any, ...]


def counting(f: ReportFilter, now: datetime) -> Counting | int:
    """count_reports of the filter as a scalar subquery; the count itself where no SQL is
    needed (a query that can match nothing) or it takes a statement of its own (one that is
    not one row per report)."""
    rows = _counted(f, now).order_by()
    if rows.query.is_empty():  # e.g. a search that matched nothing: no SQL to run
        return 0
    if rows.query.distinct or rows.query.combinator:  # not one row per report
        return rows.count()
    # COUNT(*) as .count() asks it: COUNT(id) made PostgreSQL read each row for its id where
    # an index alone can say how many rows match (bench/README.md).
    counted = rows.annotate(n=Func(Star(), function="COUNT", output_field=IntegerField()))
    sql, params = counted.values("n").query.get_compiler(using=Report.objects.db).as_sql()
    return Counting(f"({sql})", tuple(params))


def count_together(countings: Sequence[Counting | int]) -> list[int]:
    """The counts, those still to run in one statement, each subquery planned on its own as
    its COUNT would be (the inbox's menu counts several views on a page; a statement each
    cost a round trip and the framework's work around it)."""
    sqls = [c for c in countings if isinstance(c, Counting)]
    if not sqls:
        return [int(c) for c in countings if not isinstance(c, Counting)]
    # One statement: every count from the reports' database.
    with connections[Report.objects.db].cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(c.sql for c in sqls)}", [p for c in sqls for p in c.params]
        )
        counted = iter(cursor.fetchone())
    return [int(next(counted)) if isinstance(c, Counting) else c for c in countings]


def inbox_filter(f: Mapping[str, Any], user: AbstractBaseUser | AnonymousUser) -> ReportFilter:
    """The inbox's filters as the domain's; a search without a chosen state looks everywhere."""
    search: str = f.get("q", "")
    state = f.get("state", "")
    states: tuple[str, ...] | None = None
    if state == "" and not search:
        states = tuple(OPEN_STATES)
    elif state not in ("", ALL_STATES):
        states = (state,)
    assignee = f.get("assignee", "")
    assignees = None
    if assignee == ME:
        assignees = User.objects.filter(pk=user.pk or 0)
    elif assignee and assignee != UNASSIGNED:
        assignees = User.objects.filter(staff__uid=assignee)
    severity = f.get("severity", "")
    scope = f.get("scope", "")
    decision = f.get("ssvc", "")
    return ReportFilter(
        states=states,
        search=search,
        assignees=assignees,
        unassigned=assignee == UNASSIGNED,
        severity=("" if severity == NOT_ASSESSED else severity) if severity else None,
        ssvc_decision=("" if decision == NOT_ASSESSED else decision) if decision else None,
        in_scope=(scope == "in") if scope else None,
        overdue=True if f.get("overdue") else None,
        not_reached=True if f.get("not_reached") else None,
        promises_at_risk=True if f.get("at_risk") else None,
        tag=f.get("tag") or None,
        scope_check=f.get("scope_check") or None,
        low_value={"yes": True, "no": False}.get(f.get("low_value", "")),
    )
