"""Saved views: a named set of the inbox's filters, personal or shared with the team.

A view keeps the inbox's query string; the inbox and the API turn it into the domain's
filter with the same function (`meldpunt.reports.filters.inbox_filter`), so a view lists
the same reports in both. Its owner edits or deletes it; an admin may too once it is shared.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.http import QueryDict

from meldpunt.accounts.models import Role
from meldpunt.reports.filters import ReportFilter, UnknownFilterValue, filter_reports, inbox_filter
from meldpunt.reports.models import Report, SavedView

# The inbox menu counts this many views at most: one COUNT each, on every inbox page.
MAX_SHOWN = 8
# What a view does not keep: the page is where one was, not what one wants to see; and a
# search names a host or URL, which the database only holds sealed or as a keyed hash.
NOT_KEPT = frozenset({"page", "q"})


def visible_views(user: User) -> QuerySet[SavedView]:
    """The user's own views and the team's shared ones."""
    return SavedView.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner")


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


def view_params(view: SavedView) -> dict[str, str]:
    params = QueryDict(view.query)
    return {name: params[name] for name in params if name not in NOT_KEPT}


def view_filter(view: SavedView, user: User) -> ReportFilter:
    """The view's filters for this user ("assigned to me" is whoever applies it)."""
    return inbox_filter(view_params(view), user)


def counts(views: list[SavedView], user: User, now: datetime) -> list[tuple[SavedView, int | None]]:
    """How many reports each view lists now; None for a view whose tag was deleted since."""
    found: list[tuple[SavedView, int | None]] = []
    for view in views:
        try:
            wanted = view_filter(view, user)
        except UnknownFilterValue:
            found.append((view, None))
            continue
        found.append((view, filter_reports(Report.objects.all(), wanted, now).count()))
    return found
