"""Saved views: a named set of the inbox's filters, personal or shared with the team.

A view keeps the inbox's query string; the inbox and the API turn it into the domain's
filter with the same function (`meldpunt.reports.filters.inbox_filter`), so a view lists
the same reports in both. Its owner edits or deletes it; an admin may too once it is shared.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypeVar

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import QueryDict

from meldpunt.accounts.models import Role, StaffProfile
from meldpunt.audit import log as audit
from meldpunt.audit.actors import staff
from meldpunt.lib import snapshots
from meldpunt.reports.filters import (
    ME,
    UNASSIGNED,
    Counting,
    ReportFilter,
    UnknownFilterValue,
    count_reports,
    count_together,
    counting,
    inbox_filter,
)
from meldpunt.reports.models import SavedView

# The inbox menu counts this many views at most: one COUNT each, on every inbox page.
MAX_SHOWN = 8
# What a view does not keep: the page is where one was, not what one wants to see; and a
# search names a host or URL, which the database only holds sealed or as a keyed hash.
NOT_KEPT = frozenset({"page", "q"})
SCOPES = ("", "in", "out")
LOW_VALUES = ("", "yes", "no")


class MayNotEdit(Exception):
    """The view is someone else's (and, shared, the user is no admin)."""


def visible_views(user: User) -> QuerySet[SavedView]:
    """The user's own views and the team's shared ones."""
    return SavedView.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner")


class Filters(Protocol):
    """A view as far as its filters go: its query string."""

    @property
    def query(self) -> str: ...


V = TypeVar("V", bound=Filters)


class _Query(NamedTuple):
    """A view as its query string alone."""

    query: str


class Listed(NamedTuple):
    """A view as the inbox's menu lists it."""

    uid: uuid.UUID
    name: str
    query: str
    shared: bool


def menu(user: User, limit: int) -> tuple[Listed, ...]:
    """The first `limit` views the user sees, in their order; kept while nothing changed
    within a page (meldpunt/lib/snapshots.py)."""

    def views() -> QuerySet[Any]:
        return visible_views(user).values_list("uid", "name", "query", "shared")[:limit]

    return tuple(Listed(*row) for row in snapshots.rows(("saved views", user.pk, limit), views))


def may_edit(view: SavedView, user: User) -> bool:
    if view.owner_id == user.pk:
        return True
    staff = getattr(user, "staff", None)
    return view.shared and staff is not None and staff.role == Role.ADMIN


def clean_query(query: str) -> str:
    """The query string a view keeps: without "?" and without the page number."""
    params = QueryDict(query.lstrip("?"), mutable=True)
    for name in NOT_KEPT:
        params.pop(name, None)
    return params.urlencode()


def check_query(query: str, user: User) -> str:
    """The query string a view keeps, if the inbox can apply it; else UnknownFilterValue.

    States, severities and tags are checked as the inbox's filter checks them; the assignee
    must be "me", "none" or a staff member's uid, the scope "in" or "out".
    """
    kept = clean_query(query)
    params = QueryDict(kept)
    if (scope := params.get("scope", "")) not in SCOPES:
        raise UnknownFilterValue("scope", scope, SCOPES)
    if (low_value := params.get("low_value", "")) not in LOW_VALUES:
        raise UnknownFilterValue("low_value", low_value, LOW_VALUES)
    assignee = params.get("assignee", "")
    if assignee not in ("", ME, UNASSIGNED) and not _is_staff_uid(assignee):
        raise UnknownFilterValue("assignee", assignee, ("", ME, UNASSIGNED, "<staff uid>"))
    inbox_filter({name: params[name] for name in params}, user)  # raises on a bad value
    return kept


def _is_staff_uid(value: str) -> bool:
    try:
        return StaffProfile.objects.filter(uid=value).exists()
    except (ValueError, ValidationError):
        return False


def create_view(owner: User, name: str, query: str, shared: bool) -> SavedView:
    """Save the inbox's filters under a name (`check_query` first); on the audit log."""
    with transaction.atomic():
        view = SavedView.objects.create(owner=owner, name=name, query=query, shared=shared)
        audit.append(
            "saved_view_created", staff(owner), view=str(view.uid), name=name, shared=shared
        )
    return view


def delete_view(view: SavedView, user: User) -> None:
    """Its owner deletes a view; an admin too once it is shared. Else MayNotEdit."""
    if not may_edit(view, user):
        raise MayNotEdit
    with transaction.atomic():
        audit.append("saved_view_deleted", staff(user), view=str(view.uid), name=view.name)
        view.delete()


def view_params(view: Filters) -> dict[str, str]:
    params = QueryDict(view.query)
    return {name: params[name] for name in params if name not in NOT_KEPT}


def view_filter(view: Filters, user: User) -> ReportFilter:
    """The view's filters for this user ("assigned to me" is whoever applies it)."""
    return inbox_filter(view_params(view), user)


def _sql_of_a_timeless_count(made: tuple[Counting | int, bool] | None) -> bool:
    """Keep a view's count SQL that does not ask the time (nor a count already made)."""
    return made is None or (isinstance(made[0], Counting) and not made[1])


def _timeless(counted: tuple[object, bool]) -> bool:
    """Keep a count whose filter does not ask the time (the second of the pair says it does)."""
    return not counted[1]


def kept_count(question: tuple[Hashable, ...], wanted: ReportFilter, now: datetime) -> int:
    """count_reports, kept within a page while nothing commits (meldpunt/lib/snapshots.py)
    unless the filter asks the time; `question` names what `wanted` was made from (a query
    string and the user: the filter depends on nothing else but the data)."""
    counted, _ = snapshots.answer(
        question, lambda: (count_reports(wanted, now), wanted.uses_time()), keep=_timeless
    )
    return counted


def counts(
    views: Sequence[V], user: User, now: datetime, known: tuple[str, int] | None = None
) -> list[tuple[V, int | None]]:
    """How many reports each view lists now; None for a view whose tag was deleted since.

    known is a (clean query, count) pair already counted for this user (the page being
    shown): a view with that query takes the count instead of a second COUNT. Within a page,
    a count that does not depend on the time is kept while nothing changed
    (meldpunt/lib/snapshots.py): its filter depends only on the query, the user and the data."""
    queries = [clean_query(view.query) for view in views]
    asked = [q for q in dict.fromkeys(queries) if known is None or q != known[0]]

    def made(query: str) -> tuple[Counting | int, bool] | None:
        """A view's count, made ready to run, and whether it asks the time; None for a view
        whose tag was deleted."""
        try:
            wanted = view_filter(_Query(query), user)
        except UnknownFilterValue:
            return None
        return counting(wanted, now), wanted.uses_time()

    def count(positions: list[int]) -> list[tuple[int | None, bool]]:
        # A view's count is made from its query, the user and the look-ups alone (the tags'
        # ids): its SQL is kept under the look-ups' version (a deleted tag stays deleted
        # while none is made), so a report's write leaves it compiled; not when it asks the
        # time, or is a number already. Those to count are counted in one statement.
        ready = snapshots.answers(
            [("view count SQL", user.pk, asked[p]) for p in positions],
            lambda missing: [made(asked[positions[m]]) for m in missing],
            keep=_sql_of_a_timeless_count,
            lookup=True,
        )
        valid = [(p, found) for p, found in zip(positions, ready, strict=True) if found]
        many = count_together([sql for _, (sql, _uses_time) in valid])
        counted = {p: (n, uses_time) for (p, (_, uses_time)), n in zip(valid, many, strict=True)}
        return [counted.get(p, (None, False)) for p in positions]

    questions = [("view count", user.pk, query) for query in asked]
    answered = snapshots.answers(questions, count, _timeless)
    by_query = {query: n for query, (n, _) in zip(asked, answered, strict=True)}
    if known is not None:
        by_query[known[0]] = known[1]
    return [(view, by_query[query]) for view, query in zip(views, queries, strict=True)]
