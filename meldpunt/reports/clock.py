"""The report's clock: when the finder is owed a progress update, and when a fix is late.

The calendar maths (calendar or business days, holidays) is `meldpunt.lib.deadlines`;
this module applies it to a report's promises.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from meldpunt.lib.deadlines import due_after, end_of_day
from meldpunt.reports.models import FIX_STATES, UPDATE_STATES, Message, Report


def progress_update_due(last_contact: dt.datetime) -> dt.datetime:
    """When the next progress update is due after the team last wrote to the finder."""
    return due_after(last_contact, settings.MELDPUNT_PROGRESS_UPDATE_DAYS)


def last_team_contact(report: Report) -> dt.datetime | None:
    """The first response or the latest team message since, whichever is later."""
    if report.first_response_at is None:
        return None
    latest = (
        Message.objects.filter(report=report, author=Message.Author.STAFF)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return max(report.first_response_at, latest) if latest else report.first_response_at


def next_update_due(report: Report) -> dt.datetime | None:
    """When the finder is owed the next progress update; None while none is owed.

    Before the first response the first-response deadline applies instead; once the
    report is published or closed, the cadence stops.
    """
    if report.state not in UPDATE_STATES:
        return None
    contact = last_team_contact(report)
    return None if contact is None else progress_update_due(contact)


def fix_due_at(report: Report) -> dt.datetime | None:
    """The end of the expected fix date: the finder was given a date, not a time."""
    return end_of_day(report.expected_fix_date) if report.expected_fix_date else None


def fix_overdue(report: Report, now: dt.datetime | None = None) -> bool:
    """A fix date can only be missed once it was set (with the assessment) and until the fix."""
    due = fix_due_at(report)
    return bool(due and report.state in FIX_STATES and (now or timezone.now()) > due)
