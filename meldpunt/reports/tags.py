"""Tags on reports: the admins define them, the team puts them on and takes them off.

Every tag put on or taken off is an event on the report (and so an audit entry), whoever
does it: the report page, a bulk action in the inbox or the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from meldpunt.audit.actors import actor
from meldpunt.lib import snapshots
from meldpunt.reports.lifecycle import lock
from meldpunt.reports.models import Report, Tag
from meldpunt.reports.services import record_event


def tag_directory() -> tuple[tuple[str, int, uuid.UUID], ...]:
    """Every tag as (name, id, uid), by name; kept while nothing changed within a page
    (meldpunt/lib/snapshots.py), so a page's filters, menu and forms read the tags once."""
    return snapshots.rows(
        ("tags",), lambda: Tag.objects.order_by("name").values_list("name", "pk", "uid")
    )


def tag_names() -> tuple[str, ...]:
    """Every tag's name, the values a tag filter accepts."""
    return tuple(name for name, _pk, _uid in tag_directory())


def tag_id(name: str) -> int | None:
    """The id of the tag with this name, if there is one."""
    return next((pk for found, pk, _uid in tag_directory() if found == name), None)


def tags_of(report_ids: Iterable[int]) -> Mapping[int, tuple[tuple[str, str], ...]]:
    """Each report's tags as (name, colour), by name, in one statement and without model
    instances (a list of 50 reports spent a quarter of its time in prefetching Tag objects:
    bench/README.md); within a page kept while no tag was put on or taken off, or renamed
    (the links and tags are look-up tables: meldpunt/lib/snapshots.py)."""
    wanted = tuple(report_ids)
    if not wanted:  # an empty page: nothing to ask (and no SQL to check)
        return MappingProxyType({})
    through: Any = Report.tags.through  # the stubs do not know the link table's columns

    def links() -> Any:
        return (
            through.objects.filter(report_id__in=list(wanted))
            .order_by("tag__name")
            .values_list("report_id", "tag__name", "tag__colour")
        )

    found: dict[int, list[tuple[str, str]]] = {}
    for report_id, name, colour in snapshots.rows(("tags of", wanted), links):
        found.setdefault(report_id, []).append((name, colour))
    return MappingProxyType({pk: tuple(tags) for pk, tags in found.items()})


def tag_names_of(report_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each report's tag names by name (tags_of without the colours)."""
    return {pk: [name for name, _ in tags] for pk, tags in tags_of(report_ids).items()}


def change_tags_locked(
    locked: Report, user: User, add: Iterable[Tag] = (), remove: Iterable[Tag] = ()
) -> tuple[list[str], list[str]]:
    """Put tags on and take tags off a report the caller has locked; one event per change."""
    present = set(locked.tags.values_list("pk", flat=True))
    added = [t for t in add if t.pk not in present]
    removed = [t for t in remove if t.pk in present]
    if added:
        locked.tags.add(*added)
    if removed:
        locked.tags.remove(*removed)
    for tag in added:
        record_event(locked, "tag_added", actor(user), tag=tag.name)
    for tag in removed:
        record_event(locked, "tag_removed", actor(user), tag=tag.name)
    return [t.name for t in added], [t.name for t in removed]


def set_tags(report: Report, user: User, tags: Iterable[Tag]) -> tuple[list[str], list[str]]:
    """Make these the report's tags; returns the names added and removed."""
    wanted = {t.pk: t for t in tags}
    with transaction.atomic():
        locked = lock(report)
        current = list(locked.tags.all())
        return change_tags_locked(
            locked,
            user,
            add=[t for pk, t in sorted(wanted.items())],
            remove=[t for t in current if t.pk not in wanted],
        )
