"""The report life cycle (DESIGN.md, "Report life cycle"): states, moves and duplicates.

Plain functions that the views and the tests call alike. Every action locks the report row
with `select_for_update` inside a transaction, checks its rule again under the lock (two
triagers may click at once) and appends an Event: history is never edited.

Credit for a duplicate: the report a duplicate points to (`duplicate_of`, followed to the
first report) holds the finding. Nobody's credit preference is changed; whether a report
closed as a duplicate earns credit is the policy's choice, `MELDPUNT_DUPLICATE_CREDIT`
(`earns_credit`): "first" (none), or "all". `credit_holder` names the first report and
`credited_reports` every report whose finder is credited for its finding. Hall of fame and
advisories credit only reports that earn credit. Closing a report as a duplicate, with its
message to the finder, is `meldpunt.reports.messages.mark_duplicate`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from meldpunt.audit.actors import actor
from meldpunt.reports.labels import label
from meldpunt.reports.models import Report, Resolution, State
from meldpunt.reports.services import record_event


class WorkflowError(Exception):
    """An action the life cycle does not allow now; the message is meant for the triager."""


NO_RESOLUTION = frozenset({""})
# Closing before a fix: everything except "resolved", which needs a fix first.
REJECTED = frozenset(Resolution.values) - {Resolution.RESOLVED}
RESOLVED = frozenset({Resolution.RESOLVED})

# The one table of allowed moves: from a state, to a state, with the resolutions it may carry.
# needs_info -> triaged is the first response sent once the finder has answered the question.
TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    State.RECEIVED: {
        State.NEEDS_INFO: NO_RESOLUTION,
        State.TRIAGED: NO_RESOLUTION,
        State.CLOSED: REJECTED,
    },
    State.NEEDS_INFO: {
        State.RECEIVED: NO_RESOLUTION,
        State.TRIAGED: NO_RESOLUTION,
        State.CLOSED: REJECTED,
    },
    State.TRIAGED: {State.FIX_IN_PROGRESS: NO_RESOLUTION, State.CLOSED: REJECTED},
    State.FIX_IN_PROGRESS: {State.FIXED: NO_RESOLUTION},
    State.FIXED: {State.PUBLISHED: NO_RESOLUTION, State.CLOSED: RESOLVED},
    State.PUBLISHED: {State.CLOSED: RESOLVED},
    State.CLOSED: {State.RECEIVED: NO_RESOLUTION},  # re-opening
}


def lock(report: Report) -> Report:
    """The report's row, locked until the caller's transaction ends."""
    return Report.objects.select_for_update().get(pk=report.pk)


def check_transition(from_state: str, to_state: str, resolution: str = "") -> None:
    allowed = TRANSITIONS.get(from_state, {}).get(to_state)
    if allowed is None:
        raise WorkflowError(
            _("A report cannot go from “%(from)s” to “%(to)s”.")
            % {"from": label(from_state), "to": label(to_state)}
        )
    if resolution not in allowed:
        if allowed == NO_RESOLUTION:
            raise WorkflowError(_("Only a closed report has a resolution."))
        raise WorkflowError(
            _("A report in “%(from)s” is closed as one of: %(choices)s.")
            % {"from": label(from_state), "choices": ", ".join(sorted(map(label, allowed)))}
        )


def check_move(report: Report, to_state: str, resolution: str = "") -> None:
    """May a triager move this report so (a duplicate also needs its original)?"""
    if to_state == State.TRIAGED and report.first_response_at is None:
        raise WorkflowError(_("A report is triaged by sending the first response."))
    check_transition(report.state, to_state, resolution)


def can_close_as(report: Report, resolution: str) -> bool:
    return resolution in TRANSITIONS.get(report.state, {}).get(State.CLOSED, ())


def allowed_moves(report: Report) -> list[tuple[str, str]]:
    """(to state, resolution) pairs open to a triager now; triaging goes by the first response."""
    return [
        (to, resolution)
        for to, resolutions in TRANSITIONS.get(report.state, {}).items()
        if to != State.TRIAGED or report.first_response_at is not None
        for resolution in sorted(resolutions)
        if resolution != Resolution.DUPLICATE  # needs the original: see mark_duplicate
    ]


def _root(original: Report) -> Report:
    seen = {original.pk}
    while original.duplicate_of_id is not None and original.duplicate_of_id not in seen:
        seen.add(original.duplicate_of_id)
        original = Report.objects.get(pk=original.duplicate_of_id)
    return original


RETENTION_STATES = (State.PUBLISHED, State.CLOSED)


def retention_start(report: Report, to_state: str) -> datetime | None:
    """The retention clock runs from publication or closing; reopening a report stops it."""
    if to_state not in RETENTION_STATES:
        return None
    return report.retention_from or timezone.now()


def move_locked(
    locked: Report,
    to_state: str,
    user: User | None,
    resolution: str = "",
    duplicate_of: Report | None = None,
) -> None:
    """Change the state of a report the caller has locked, and record it (user None: system)."""
    check_transition(locked.state, to_state, resolution)
    original = _root(duplicate_of) if duplicate_of is not None else None
    if (resolution == Resolution.DUPLICATE) != (original is not None):
        raise WorkflowError(_("A duplicate names the report it duplicates, and only a duplicate."))
    if original is not None and original.pk == locked.pk:
        raise WorkflowError(_("A report cannot be a duplicate of itself or of its duplicate."))
    before, before_resolution, before_original = (
        locked.state,
        locked.resolution,
        locked.duplicate_of,
    )
    locked.state, locked.resolution, locked.duplicate_of = to_state, resolution, original
    locked.retention_from = retention_start(locked, to_state)
    locked.save(update_fields=["state", "resolution", "duplicate_of", "retention_from"])
    reopened = before == State.CLOSED
    data: dict[str, Any] = {"from": before, "to": to_state, "resolution": resolution}
    if reopened:
        data["previous_resolution"] = before_resolution
        if before_original is not None:
            data["previous_duplicate_of"] = before_original.reference
    if original is not None:
        data["duplicate_of"] = original.reference
        record_event(original, "duplicate_linked", actor(user), duplicate=locked.reference)
    if reopened and before_original is not None:
        record_event(before_original, "duplicate_unlinked", actor(user), duplicate=locked.reference)
    record_event(locked, "reopened" if reopened else "state_changed", actor(user), **data)


def transition(
    report: Report,
    to_state: str,
    actor_user: User,
    resolution: str | None = None,
    duplicate_of: Report | None = None,
) -> Report:
    """Move a report along the life cycle; WorkflowError says why a move is not allowed."""
    with transaction.atomic():
        locked = lock(report)
        check_move(locked, to_state, resolution or "")
        move_locked(locked, to_state, actor_user, resolution or "", duplicate_of)
    report.refresh_from_db()
    return report


def credit_holder(report: Report) -> Report:
    """The report whose finder is credited for this finding: the first one reported."""
    return _root(report)


def earns_credit(report: Report) -> bool:
    """Is this report's finder credited for its finding? For a duplicate the policy decides."""
    return report.resolution != Resolution.DUPLICATE or duplicates_earn_credit()


def duplicates_earn_credit() -> bool:
    return bool(settings.MELDPUNT_DUPLICATE_CREDIT == "all")


def credited_reports(report: Report) -> list[Report]:
    """This report and its duplicates (and theirs), oldest first, as far as they earn credit."""
    found, seen, todo = [], {report.pk}, [report]
    while todo:
        current = todo.pop()
        if earns_credit(current):
            found.append(current)
        for duplicate in current.duplicates.exclude(pk__in=seen):
            seen.add(duplicate.pk)
            todo.append(duplicate)
    return sorted(found, key=lambda r: (r.created_at, r.pk))
