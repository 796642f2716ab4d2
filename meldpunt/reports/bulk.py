"""One action on many reports at once: all of them or none.

The rule for a bulk action that some reports refuse: nothing changes, and the refusal names
each report that refused and why. Every report is locked and checked first, in one
transaction; only if all allow the action is it applied, each report getting its own events
(and so its own audit entries) exactly as if it had been changed on its own page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from meldpunt.reports import assessment, lifecycle, messages
from meldpunt.reports.models import Report, Resolution, State, Tag
from meldpunt.reports.tags import change_tags_locked

# What "close with a message" may close as: the answers to noise, not to a finding.
BULK_CLOSE_RESOLUTIONS = (Resolution.SPAM, Resolution.INVALID)
MAX_REPORTS = 200  # a page of the inbox is 50; a bound keeps one transaction short


@dataclass(frozen=True)
class Refusal:
    reference: str
    reason: str


class BulkRefused(Exception):
    """Some reports refused the action: nothing was changed."""

    def __init__(self, refusals: list[Refusal]) -> None:
        super().__init__(f"{len(refusals)} reports refused")
        self.refusals = refusals


@dataclass(frozen=True)
class Assign:
    assignee: User


@dataclass(frozen=True)
class AddTag:
    tag: Tag


@dataclass(frozen=True)
class RemoveTag:
    tag: Tag


@dataclass(frozen=True)
class Move:
    to_state: str
    resolution: str = ""


@dataclass(frozen=True)
class CloseWithMessage:
    """Close as spam or invalid; `text_for` gives each report its own message."""

    resolution: str
    text_for: Callable[[Report], str]
    template: str = ""


Action = Assign | AddTag | RemoveTag | Move | CloseWithMessage


def _check(locked: Report, action: Action) -> None:
    """Raise WorkflowError (or AssessmentError) if this report refuses the action."""
    if isinstance(action, Move):
        lifecycle.check_move(locked, action.to_state, action.resolution)
    elif isinstance(action, CloseWithMessage):
        if action.resolution not in BULK_CLOSE_RESOLUTIONS:
            raise lifecycle.WorkflowError(_("Close as spam or invalid only."))
        lifecycle.check_transition(locked.state, State.CLOSED, action.resolution)
        messages.check_text(action.text_for(locked))
    elif (
        isinstance(action, Assign)
        and not assessment.assignable_staff().filter(pk=action.assignee.pk).exists()
    ):
        raise assessment.AssessmentError(
            "assignee", _("Assign the report to a triager or an admin.")
        )


def _apply(locked: Report, action: Action, user: User) -> None:
    if isinstance(action, Assign):
        assessment.assess(locked, user, assignee=action.assignee)
    elif isinstance(action, AddTag):
        change_tags_locked(locked, user, add=[action.tag])
    elif isinstance(action, RemoveTag):
        change_tags_locked(locked, user, remove=[action.tag])
    elif isinstance(action, Move):
        lifecycle.move_locked(locked, action.to_state, user, action.resolution)
    else:
        messages.close_with_message(
            locked, user, action.resolution, action.text_for(locked), action.template
        )


def apply_to_all(reports: Sequence[Report], action: Action, user: User) -> int:
    """Apply the action to every report or, if any refuses, to none (BulkRefused)."""
    with transaction.atomic():
        # Locked in primary key order: two bulk actions at once cannot deadlock.
        locked = list(
            Report.objects.select_for_update().filter(pk__in=[r.pk for r in reports]).order_by("pk")
        )
        refusals = []
        for report in locked:
            try:
                _check(report, action)
            except lifecycle.WorkflowError as refused:  # AssessmentError is one too
                refusals.append(Refusal(report.reference, str(refused)))
        if refusals:
            raise BulkRefused(refusals)
        for report in locked:
            _apply(report, action, user)
    return len(locked)
