"""Marking a report for the legal reporting clocks, and recording what was sent.

The one place that changes the flags (actively exploited under the CRA, significant incident
under NIS2, when a corrective measure became available) and records a report to an authority
as sent. The desk and the API call these; each change is an event (so it is in the report's
history, the audit log and the promise ledger in the same transaction). No authority is
ever called: staff submit by hand and record when, how and the reference they got.

The finder's answer "exploited: yes" on the form starts the CRA clock on intake, aware
since the report arrived (`flag_from_finder`, when MELDPUNT_CRA_MANUFACTURER is on): the
law's clock runs from awareness, and a report that says so is how the organisation becomes
aware. Staff unmark it when it is not confirmed (the history keeps both). A report received
while the setting was off gets a prompt on its page to confirm instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.dispatch import receiver
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from meldpunt.audit.actors import actor
from meldpunt.reports import reporting_clocks as rc
from meldpunt.reports.lifecycle import lock
from meldpunt.reports.models import Event, Promise, Report
from meldpunt.reports.services import record_event
from meldpunt.reports.signals import event_recorded

UNSET: Any = object()


class RegulatoryError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def current_flags(report: Report) -> rc.Flags:
    return rc.flags(list(Event.objects.filter(report=report, kind=rc.FLAGS_CHANGED)))


def _not_future(field: str, moment: datetime | None, now: datetime) -> None:
    if moment is not None and moment > now:
        raise RegulatoryError(field, _("This moment lies in the future."))


def _flag(
    on: bool, aware: datetime | None, was_on: bool, was_aware: datetime | None, now: datetime
) -> tuple[bool, datetime | None]:
    """A flag and its moment of awareness: a moment alone corrects a flag that is set; a flag
    set without a moment keeps the one it had, or is aware now."""
    on = was_on if on is UNSET else on
    if not on:
        return False, None
    if aware is not UNSET and aware is not None:
        return True, aware
    return True, was_aware if was_on else now


def set_flags(
    report: Report,
    user: User,
    *,
    exploited: bool = UNSET,
    exploited_aware_at: datetime | None = UNSET,
    nis2_incident: bool = UNSET,
    nis2_aware_at: datetime | None = UNSET,
    fix_available_at: datetime | None = UNSET,
    member_states: str = UNSET,
) -> rc.Flags:
    """Change the flags (what is not given stays); a flag set without a moment of awareness
    is aware now. Records one event with the whole new state, or nothing if unchanged."""
    now = timezone.now()
    with transaction.atomic():
        locked = lock(report)
        old = current_flags(locked)
        new = old
        on, aware = _flag(exploited, exploited_aware_at, old.exploited, old.exploited_aware_at, now)
        new = replace(new, exploited=on, exploited_aware_at=aware)
        on, aware = _flag(nis2_incident, nis2_aware_at, old.nis2_incident, old.nis2_aware_at, now)
        new = replace(new, nis2_incident=on, nis2_aware_at=aware)
        if fix_available_at is not UNSET:
            new = replace(new, fix_available_at=fix_available_at)
        if member_states is not UNSET:
            new = replace(new, member_states=member_states.strip()[:200])
        _not_future("exploited_aware_at", new.exploited_aware_at, now)
        _not_future("nis2_aware_at", new.nis2_aware_at, now)
        _not_future("fix_available_at", new.fix_available_at, now)
        if new != old:
            record_event(locked, rc.FLAGS_CHANGED, actor(user), **new.as_data())
    return new


def record_sent(
    report: Report, user: User, step: str, *, sent_at: datetime, channel: str, reference: str
) -> Event:
    """Record a step as submitted to the authority (the evidence that keeps its promise)."""
    if step not in rc.STEPS:
        raise RegulatoryError("step", _("Unknown reporting step."))
    if channel not in rc.CHANNELS:
        raise RegulatoryError("channel", _("Unknown way of submitting."))
    with transaction.atomic():
        locked = lock(report)
        if not rc.regime_on(rc.STEPS[step]):
            raise RegulatoryError("step", _("This reporting obligation is not configured."))
        if rc.start(step, current_flags(locked)) is None:
            raise RegulatoryError("step", _("The clock of this step has not started."))
        _not_future("sent_at", sent_at, timezone.now())
        return record_event(
            locked,
            rc.SENT,
            actor(user),
            step=step,
            sent_at=sent_at.isoformat(),
            submitted_via=channel,
            reference=reference.strip()[:200],
        )


@dataclass(frozen=True)
class Clock:
    """One step as the report page, the API and the export show it."""

    step: str
    regime: str
    promise: Promise
    sent: dict[str, Any] | None  # sent_at, channel, reference, by, recorded_at


def clocks(report: Report, ledger: list[Promise]) -> list[Clock]:
    """The steps that run on this report (their promise applies), in the law's order."""
    events = list(Event.objects.filter(report=report, kind=rc.SENT))
    rows = []
    for promise in ledger:
        if promise.kind not in rc.STEPS or promise.state == Promise.State.NOT_APPLICABLE:
            continue
        done = rc.sent(events, promise.kind)
        evidence = None
        if done is not None:
            evidence = {
                "sent_at": str(done.data["sent_at"]),
                "submitted_via": str(done.data.get("submitted_via", "")),
                "reference": str(done.data.get("reference", "")),
                "by": done.actor,
                "recorded_at": done.created_at.isoformat(),
            }
        rows.append(Clock(promise.kind, rc.STEPS[promise.kind], promise, evidence))
    return rows


def export(report: Report, ledger: list[Promise]) -> list[dict[str, Any]]:
    """The clocks with their evidence, for the report's export (facts, no draft text)."""
    return [
        {
            "step": c.step,
            "regime": c.regime,
            "state": c.promise.state,
            "due_at": c.promise.due_at.isoformat() if c.promise.due_at else None,
            "settled_at": c.promise.settled_at.isoformat() if c.promise.settled_at else None,
            # Who recorded it stays inside (the export names no team member).
            "sent": {k: v for k, v in c.sent.items() if k != "by"} if c.sent else None,
        }
        for c in clocks(report, ledger)
    ]


def _when(moment: datetime | None) -> str:
    if moment is None:
        return _("[to be completed]")
    return str(formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT"))


def draft(report: Report, step: str) -> str:
    """A prefilled text with what the authority asks for, for staff to check and copy.

    Product: the affected systems the finder named; nature: the report's category and the
    impact described; corrective measures: the fix as far as known; member states: as
    entered. Staff complete what is marked and remove what must not leave the organisation.
    """
    f = current_flags(report)
    content = report.content
    todo = _("[to be completed]")
    product = ", ".join(str(s) for s in content.get("affected_systems", [])) or todo
    events = list(report.events.all())
    fixed = rc.fix_available(events, f)
    if fixed is not None:
        measures = _("A corrective measure is available since %(when)s.") % {"when": _when(fixed)}
    elif report.expected_fix_date:
        measures = _("A corrective measure is expected by %(date)s.") % {
            "date": formats.date_format(report.expected_fix_date, "DATE_FORMAT")
        }
    else:
        measures = todo
    regime = rc.STEPS[step]
    aware = f.exploited_aware_at if regime == rc.CRA else f.nis2_aware_at
    titles = {
        rc.CRA_EARLY_WARNING: _(
            "Early warning of an actively exploited vulnerability (CRA Art. 14(2)(a))"
        ),
        rc.CRA_NOTIFICATION: _("Vulnerability notification (CRA Art. 14(2)(b))"),
        rc.CRA_FINAL_REPORT: _("Final report (CRA Art. 14(2)(c))"),
        rc.NIS2_EARLY_WARNING: _("Early warning of a significant incident (NIS2 Art. 23(4)(a))"),
        rc.NIS2_NOTIFICATION: _("Incident notification (NIS2 Art. 23(4)(b))"),
        rc.NIS2_FINAL_REPORT: _("Final report (NIS2 Art. 23(4)(d))"),
    }
    lines = [
        str(titles[step]),
        "",
        _("Our reference: %(ref)s") % {"ref": report.reference},
        _("Aware since: %(when)s") % {"when": _when(aware)},
        _("Product: %(product)s") % {"product": product},
        _("Nature of the exploitation: %(nature)s")
        % {"nature": str(content.get("impact") or "").strip() or todo},
        _("Corrective or mitigating measures: %(measures)s") % {"measures": measures},
        _("Member states affected: %(states)s") % {"states": f.member_states or todo},
    ]
    if step in (rc.CRA_FINAL_REPORT, rc.NIS2_FINAL_REPORT):
        lines.append(_("Severity and impact, root cause: %(todo)s") % {"todo": todo})
    return "\n".join(lines)


def flag_from_finder(report: Report) -> bool:
    """The finder answered "exploited: yes": the CRA clock starts, aware since receipt."""
    if not settings.MELDPUNT_CRA_MANUFACTURER:
        return False
    if str(report.content.get("exploited", "")) != "yes":
        return False
    old = current_flags(report)
    if old.exploited:
        return False
    new = replace(old, exploited=True, exploited_aware_at=report.created_at)
    record_event(report, rc.FLAGS_CHANGED, "finder", **new.as_data())
    return True


@receiver(event_recorded)
def _on_received(sender: type, report: Report, event: Event, **kwargs: Any) -> None:
    # In the intake's own transaction, like every listener of a new report.
    if event.kind == "received":
        flag_from_finder(report)
