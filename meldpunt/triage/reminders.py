"""Reminders before a deadline and escalation after it, sent once however many workers run.

`send_due_reminders()` is what the worker calls every minute. Each reminder is recorded in
the same transaction that sends it, under a unique (report, kind, deadline) key: a second
worker that gets there at the same moment waits for the first and then finds the row.
Mails name the report by reference only; no report content goes into them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from meldpunt.accounts.models import REPORT_CHANGERS, Role
from meldpunt.reports import clock
from meldpunt.reports.models import FIX_STATES, UPDATE_STATES, Promise, Reminder, Report
from meldpunt.reports.reach import finder_reach, not_reached
from meldpunt.reports.reporting_clocks import CRA, STEPS

log = logging.getLogger(__name__)

SUBJECTS: dict[str, str] = {
    Reminder.Kind.RESPONSE_SOON: "[{ref}] first response due {due}",
    Reminder.Kind.RESPONSE_OVERDUE: "[{ref}] OVERDUE: first response was due {due}",
    Reminder.Kind.UPDATE_DUE: "[{ref}] progress update owed to the finder since {due}",
    Reminder.Kind.FIX_OVERDUE: "[{ref}] expected fix date {due} has passed",
    Reminder.Kind.NOT_REACHED: "[{ref}] the finder was not reached: news of {due}",
    Reminder.Kind.CRA_SOON: "[{ref}] CRA report to the authority due {due}",
    Reminder.Kind.CRA_OVERDUE: "[{ref}] OVERDUE: CRA report to the authority was due {due}",
    Reminder.Kind.NIS2_SOON: "[{ref}] NIS2 report to the authority due {due}",
    Reminder.Kind.NIS2_OVERDUE: "[{ref}] OVERDUE: NIS2 report to the authority was due {due}",
}


def _emails(users: Iterable[User]) -> list[str]:
    return sorted({u.email for u in users if u.email and u.is_active})


def _admins() -> list[str]:
    return _emails(User.objects.filter(staff__role=Role.ADMIN))


def _team_for(report: Report) -> list[str]:
    if report.assignee is not None:
        return _emails([report.assignee])
    return _emails(User.objects.filter(staff__role__in=REPORT_CHANGERS))


def _send_once(report: Report, kind: str, due_at: datetime, to: list[str]) -> bool:
    if not to:
        return False
    try:
        with transaction.atomic():
            Reminder.objects.create(report=report, kind=kind, due_at=due_at, sent_at=timezone.now())
            due = timezone.localtime(due_at).strftime("%Y-%m-%d %H:%M")
            body = (
                f"{SUBJECTS[kind].format(ref=report.reference, due=due)}\n\n"
                f"{settings.MELDPUNT_BASE_URL}/triage/reports/{report.uid}/\n"
            )
            send_mail(SUBJECTS[kind].format(ref=report.reference, due=due), body, None, to)
    except IntegrityError:
        return False  # sent already, by this worker earlier or by another one
    except OSError:
        log.warning("reminder %s for %s could not be sent; will retry", kind, report.reference)
        return False
    log.info("reminder %s for %s sent", kind, report.reference)
    return True


def send_due_reminders(now: datetime | None = None) -> int:
    now = now or timezone.now()
    warn = timedelta(hours=settings.MELDPUNT_REMINDER_HOURS)
    sent = 0
    awaiting = Report.objects.select_related("assignee").filter(
        state__in=UPDATE_STATES, first_response_at=None, response_due_at__lte=now + warn
    )
    for report in awaiting:
        if report.response_due_at > now:
            sent += _send_once(
                report, Reminder.Kind.RESPONSE_SOON, report.response_due_at, _team_for(report)
            )
        else:
            to = sorted(set(_admins()) | set(_team_for(report)))
            sent += _send_once(report, Reminder.Kind.RESPONSE_OVERDUE, report.response_due_at, to)
    sent += _updates_due(now)
    sent += _fixes_overdue(now)
    sent += _finders_not_reached(now)
    sent += _legal_clocks(now)
    return sent


def _legal_clocks(now: datetime) -> int:
    """A step of a legal reporting clock not yet recorded as sent: the assignee (or the team)
    before it falls due, admins too once it is overdue. The ledger's row says the due time."""
    warn = timedelta(hours=settings.MELDPUNT_REMINDER_HOURS)
    open_steps = Promise.objects.select_related("report__assignee").filter(
        kind__in=list(STEPS),
        state__in=[Promise.State.PENDING, Promise.State.AT_RISK, Promise.State.BROKEN],
        settled_at=None,
        due_at__lte=now + warn,
    )
    sent = 0
    for step in open_steps:
        if step.due_at is None:  # filtered above; for the type checker
            continue
        regime = STEPS[step.kind]
        if step.due_at > now:
            to = _team_for(step.report)
            kind = Reminder.Kind.CRA_SOON if regime == CRA else Reminder.Kind.NIS2_SOON
        else:
            to = sorted(set(_admins()) | set(_team_for(step.report)))
            kind = Reminder.Kind.CRA_OVERDUE if regime == CRA else Reminder.Kind.NIS2_OVERDUE
        sent += _send_once(step.report, kind, step.due_at, to)
    return sent


def _finders_not_reached(now: datetime) -> int:
    """After a grace (a deferred mail may still go through), the assignee hears of it once
    per piece of news that did not arrive."""
    grace = timedelta(hours=settings.MELDPUNT_NOT_REACHED_HOURS)
    sent = 0
    for report in Report.objects.select_related("assignee").filter(
        not_reached(), state__in=UPDATE_STATES
    ):
        reach = finder_reach(report)
        if reach.reached or reach.since is None or reach.since + grace > now:
            continue
        sent += _send_once(report, Reminder.Kind.NOT_REACHED, reach.since, _team_for(report))
    return sent


def _updates_due(now: datetime) -> int:
    cadence = timedelta(days=settings.MELDPUNT_PROGRESS_UPDATE_DAYS)
    owed = (
        Report.objects.select_related("assignee")
        .filter(state__in=UPDATE_STATES)
        .exclude(first_response_at=None)
        .annotate(last_update=Max("messages__created_at", filter=Q(messages__author="staff")))
        .filter(last_update__lte=now - cadence)
    )
    sent = 0
    for report in owed:
        # The database filter above is a coarse first pass; the policy's own count decides.
        due = clock.next_update_due(report)
        if due is not None and due <= now:
            sent += _send_once(report, Reminder.Kind.UPDATE_DUE, due, _team_for(report))
    return sent


def _fixes_overdue(now: datetime) -> int:
    today = timezone.localdate(now)
    late = Report.objects.select_related("assignee").filter(
        state__in=FIX_STATES, expected_fix_date__lt=today
    )
    sent = 0
    for report in late:
        # The database filter above is a coarse first pass; the report's clock decides.
        due = clock.fix_due_at(report)
        if due is None or not clock.fix_overdue(report, now):
            continue
        to = sorted(set(_admins()) | set(_team_for(report)))
        sent += _send_once(report, Reminder.Kind.FIX_OVERDUE, due, to)
    return sent
