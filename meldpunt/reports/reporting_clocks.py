"""The legal reporting clocks: CRA Art. 14 (actively exploited vulnerability) and NIS2 Art. 23
(significant incident), as steps with a due time each.

Pure rules over a report's history: the flags are the newest `regulatory_flags_changed`
event (written by `meldpunt.reports.regulatory`), a step is reported by a
`regulatory_report_sent` event. The promise ledger registers one promise per step (see
`meldpunt.reports.promises`), so the steps are pending, at risk, kept or broken like every
other promise.

Hours are elapsed time (24 h after 23:30 on the eve of a clock change is 00:30 two days
later on the wall clock, one hour "later" than naive); days and months are counted on the
wall clock of MELDPUNT_TIME_ZONE, as the law's "within 14 days" or "one month" is read.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from meldpunt.reports.models import Event, State

FLAGS_CHANGED = "regulatory_flags_changed"
SENT = "regulatory_report_sent"

CRA, NIS2 = "cra", "nis2"
CRA_EARLY_WARNING = "cra_early_warning"
CRA_NOTIFICATION = "cra_notification"
CRA_FINAL_REPORT = "cra_final_report"
NIS2_EARLY_WARNING = "nis2_early_warning"
NIS2_NOTIFICATION = "nis2_notification"
NIS2_FINAL_REPORT = "nis2_final_report"
STEPS: dict[str, str] = {  # step -> regime, in the order of the law
    CRA_EARLY_WARNING: CRA,
    CRA_NOTIFICATION: CRA,
    CRA_FINAL_REPORT: CRA,
    NIS2_EARLY_WARNING: NIS2,
    NIS2_NOTIFICATION: NIS2,
    NIS2_FINAL_REPORT: NIS2,
}
# How a report went to the authority: recorded by hand (no call to any authority is made).
CHANNELS = ("enisa_srp", "ccb_form", "email", "other")


def regime_on(regime: str) -> bool:
    """Is the organisation subject to this regime (MELDPUNT_CRA_MANUFACTURER, _NIS2_ENTITY)?"""
    if regime == CRA:
        return bool(settings.MELDPUNT_CRA_MANUFACTURER)
    return bool(settings.MELDPUNT_NIS2_ENTITY)


def any_regime_on() -> bool:
    return regime_on(CRA) or regime_on(NIS2)


@dataclass(frozen=True)
class Flags:
    exploited: bool = False
    exploited_aware_at: datetime | None = None
    nis2_incident: bool = False
    nis2_aware_at: datetime | None = None
    fix_available_at: datetime | None = None
    member_states: str = ""  # where the product is made available / the incident has effect

    def as_data(self) -> dict[str, Any]:
        return {
            "exploited": self.exploited,
            "exploited_aware_at": _iso(self.exploited_aware_at),
            "nis2_incident": self.nis2_incident,
            "nis2_aware_at": _iso(self.nis2_aware_at),
            "fix_available_at": _iso(self.fix_available_at),
            "member_states": self.member_states,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def flags(events: Sequence[Event]) -> Flags:
    """The flags as the newest change left them (none: nothing flagged)."""
    last = next((e for e in reversed(events) if e.kind == FLAGS_CHANGED), None)
    if last is None:
        return Flags()
    d = last.data
    return Flags(
        bool(d.get("exploited")),
        _moment(d.get("exploited_aware_at")),
        bool(d.get("nis2_incident")),
        _moment(d.get("nis2_aware_at")),
        _moment(d.get("fix_available_at")),
        str(d.get("member_states", "")),
    )


def sent(events: Sequence[Event], step: str) -> Event | None:
    """The first record of this step as sent (a later one is a correction of the evidence)."""
    return next((e for e in events if e.kind == SENT and e.data.get("step") == step), None)


def sent_at(event: Event) -> datetime:
    return datetime.fromisoformat(str(event.data["sent_at"]))


def after_hours(start: datetime, hours: int) -> datetime:
    return start.astimezone(UTC) + timedelta(hours=hours)


def after_days(start: datetime, days: int) -> datetime:
    """Wall-clock days in MELDPUNT_TIME_ZONE (aware arithmetic within one zone)."""
    return timezone.localtime(start, timezone.get_default_timezone()) + timedelta(days=days)


def after_month(start: datetime) -> datetime:
    """The same wall-clock time one calendar month later (31 Jan -> 28/29 Feb)."""
    local = timezone.localtime(start, timezone.get_default_timezone())
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


def fix_available(events: Sequence[Event], f: Flags) -> datetime | None:
    """When a corrective measure became available: as entered, else first marked fixed."""
    if f.fix_available_at is not None:
        return f.fix_available_at
    fixed = next(
        (e for e in events if e.kind == "state_changed" and e.data.get("to") == State.FIXED),
        None,
    )
    return fixed.created_at if fixed else None


def start(step: str, f: Flags) -> datetime | None:
    """When the clock of this step's regime started (None: not flagged)."""
    if STEPS[step] == CRA:
        return f.exploited_aware_at if f.exploited else None
    return f.nis2_aware_at if f.nis2_incident else None


def due(step: str, events: Sequence[Event], f: Flags) -> datetime | None:
    """When the step falls due; None while it cannot be computed yet (no fix yet)."""
    began = start(step, f)
    if began is None:
        return None
    if step in (CRA_EARLY_WARNING, NIS2_EARLY_WARNING):
        return after_hours(began, 24)
    if step in (CRA_NOTIFICATION, NIS2_NOTIFICATION):
        return after_hours(began, 72)
    if step == CRA_FINAL_REPORT:
        fixed = fix_available(events, f)
        return after_days(fixed, 14) if fixed else None
    # NIS2: one month after the notification was submitted (or was due, until it is).
    notified = sent(events, NIS2_NOTIFICATION)
    return after_month(sent_at(notified) if notified else after_hours(began, 72))
