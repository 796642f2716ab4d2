"""The promise ledger: every promise of the policy, per report, with its state and evidence.

A registry of promise definitions (`PROMISES`; `register` adds one, e.g. a legal reporting
clock) and one evaluator: each definition reads the report's facts (events, team messages,
the mails that carried them) and says pending (with its due time), kept, broken or not
applicable, with the evidence. "At risk" is derived: pending and due within
MELDPUNT_PROMISE_RISK_HOURS; pending past due is broken.

The result is stored in `Promise` rows so the inbox filters in the database. `refresh` runs
in the transaction of every event (`services.record_event`); `refresh_due` is the worker's
periodic pass for what time and mail delivery change, and it also computes the ledger of
reports that have none yet (reports from before the ledger existed: the backfill).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from meldpunt.lib.deadlines import end_of_day
from meldpunt.reports import clock, reporting_clocks, signals
from meldpunt.reports.models import (
    UPDATE_STATES,
    Event,
    Message,
    OutboundMail,
    Promise,
    Report,
    Resolution,
    State,
)

PENDING, KEPT, AT_RISK, BROKEN, NOT_APPLICABLE = (
    Promise.State.PENDING,
    Promise.State.KEPT,
    Promise.State.AT_RISK,
    Promise.State.BROKEN,
    Promise.State.NOT_APPLICABLE,
)
# A mail in one of these states did not reach the finder: its message does not keep a promise.
LOST = OutboundMail.LOST


@dataclass(frozen=True)
class Outcome:
    state: str  # pending, kept, broken or not applicable: at risk is derived from the time
    due_at: datetime | None = None
    settled_at: datetime | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


NA = Outcome(NOT_APPLICABLE)


@dataclass
class Facts:
    """What a definition may read: loaded once per evaluation."""

    report: Report
    events: list[Event]
    messages: list[Message]  # the team's, oldest first
    mails: dict[int, list[str]]  # message pk -> states of the mails that carried it
    now: datetime

    def first(self, kind: str, **data: Any) -> Event | None:
        return next((e for e in self.events if _matches(e, kind, data)), None)

    def last(self, kind: str, **data: Any) -> Event | None:
        return next((e for e in reversed(self.events) if _matches(e, kind, data)), None)

    def counts(self, message: Message) -> bool:
        """Did the message reach the finder (or may it still)? Not if all its mails were lost."""
        states = self.mails.get(message.pk, [])
        return not states or any(s not in LOST for s in states)

    def message_evidence(self, message: Message) -> dict[str, Any]:
        sent = next(
            (e for e in self.events if e.kind == "message_sent" and _is_about(e, message)), None
        )
        states = self.mails.get(message.pk, [])
        return {
            **(event_evidence(sent) if sent else {"at": message.created_at.isoformat()}),
            "message": str(message.uid),
            "mail": states[-1] if states else None,
        }


def _matches(event: Event, kind: str, data: dict[str, Any]) -> bool:
    return event.kind == kind and all(event.data.get(k) == v for k, v in data.items())


def _is_about(event: Event, message: Message) -> bool:
    return bool(event.data.get("message") == str(message.uid))


def event_evidence(event: Event) -> dict[str, Any]:
    return {"event": event.pk, "kind": event.kind, "at": event.created_at.isoformat()}


def by_time(due: datetime, settled: datetime, evidence: dict[str, Any]) -> Outcome:
    """Settled: kept if in time, else broken (settled late)."""
    return Outcome(KEPT if settled <= due else BROKEN, due, settled, evidence)


@dataclass(frozen=True)
class Definition:
    kind: str
    evaluate: Callable[[Facts], Outcome]
    # Does the finder see it on their status page (in plain words)?
    shown_to_finder: bool = True


PROMISES: dict[str, Definition] = {}


def register(kind: str, shown_to_finder: bool = True) -> Callable[..., Any]:
    def add(evaluate: Callable[[Facts], Outcome]) -> Callable[[Facts], Outcome]:
        PROMISES[kind] = Definition(kind, evaluate, shown_to_finder)
        return evaluate

    return add


def _closed_at(f: Facts) -> Event | None:
    if f.report.state != State.CLOSED:
        return None
    return f.last("state_changed", to=State.CLOSED.value)


@register("first_response")
def first_response(f: Facts) -> Outcome:
    """A first answer with the assessment (and fix date) by response_due_at."""
    due = f.report.response_due_at
    answer = next((m for m in f.messages if m.is_first_response and f.counts(m)), None)
    if answer is not None:
        return by_time(due, answer.created_at, f.message_evidence(answer))
    closed = _closed_at(f)
    if closed is not None and f.report.first_response_at is None:
        # Closed without an answer (spam, withdrawn): only a broken promise if it was late.
        return NA if closed.created_at <= due else Outcome(BROKEN, due, None, {})
    lost = next((m for m in f.messages if m.is_first_response), None)
    return Outcome(PENDING, due, None, f.message_evidence(lost) if lost else {})


def _left_updates_at(f: Facts) -> datetime | None:
    if f.report.state in UPDATE_STATES:
        return None
    moved = next(
        (
            e
            for e in reversed(f.events)
            if e.kind == "state_changed" and e.data.get("to") not in UPDATE_STATES
        ),
        None,
    )
    return moved.created_at if moved else f.now


@register("progress_updates")
def progress_updates(f: Facts) -> Outcome:
    """An update at least every MELDPUNT_PROGRESS_UPDATE_DAYS from the first response on."""
    start = f.report.first_response_at
    if start is None:
        return NA
    end = _left_updates_at(f)
    updates = [m for m in f.messages if m.created_at >= start and f.counts(m)]
    last: datetime = start
    last_evidence: dict[str, Any] = {"at": start.isoformat()}
    for message in updates:
        if end is not None and message.created_at > end:
            break
        due = clock.progress_update_due(last)
        if message.created_at > due:
            return Outcome(BROKEN, due, message.created_at, f.message_evidence(message))
        last, last_evidence = message.created_at, f.message_evidence(message)
    due = clock.progress_update_due(last)
    if end is None:
        return Outcome(PENDING, due, None, last_evidence)
    if end > due:
        return Outcome(BROKEN, due, None, last_evidence)
    return Outcome(KEPT, due, end, last_evidence)


def _fix_dates(f: Facts) -> list[tuple[Event | None, date]]:
    """The fix date the first response promised, then each move of it (with its event).

    Corrections before the first response promised nothing yet: the last of them counts.
    """
    dates: list[tuple[Event | None, date]] = []
    answered = f.report.first_response_at
    for e in f.events:
        if e.kind == "assessed" and "expected_fix_date" in e.data.get("fields", []):
            value = e.data.get("expected_fix_date")
            if not value:
                continue
            promised_later = answered is None or e.created_at <= answered
            if promised_later and dates:
                dates.pop()
            dates.append((e, date.fromisoformat(str(value))))
    if not dates and f.report.expected_fix_date:
        dates.append((None, f.report.expected_fix_date))
    return dates


@register("fix_date")
def fix_date(f: Facts) -> Outcome:
    """Fixed by the expected date, or the finder told of a new date before the old one passed."""
    dates = _fix_dates(f)
    if not dates or f.report.valid is False:
        return NA
    fixed = f.first("state_changed", to=State.FIXED.value)
    due = end_of_day(dates[0][1])
    for moved, new_date in dates[1:]:
        if moved is None:  # only the fallback has no event, and it is alone
            continue
        if fixed is not None and fixed.created_at <= moved.created_at:
            break
        if moved.created_at > due:
            return Outcome(BROKEN, due, moved.created_at, event_evidence(moved))
        told = next(
            (m for m in f.messages if moved.created_at <= m.created_at <= due and f.counts(m)),
            None,
        )
        if told is None:
            if f.now <= due:
                evidence = {**event_evidence(moved), "moved_to": new_date.isoformat()}
                return Outcome(PENDING, due, None, evidence)
            return Outcome(BROKEN, due, None, event_evidence(moved))
        due = end_of_day(new_date)
    if fixed is not None:
        return by_time(due, fixed.created_at, event_evidence(fixed))
    if f.report.state == State.CLOSED:
        return NA
    return Outcome(PENDING, due)


def _credit_at(f: Facts, moment: datetime) -> str:
    before = [e for e in f.events if e.kind == "credit_changed" and e.created_at <= moment]
    return str(before[-1].data.get("credit", "")) if before else f.report.credit


@register("credit")
def credit(f: Facts) -> Outcome:
    """On publication the advisory credits the finder as they chose."""
    duplicate_without_credit = (
        f.report.resolution == Resolution.DUPLICATE and settings.MELDPUNT_DUPLICATE_CREDIT != "all"
    )
    published = f.last("advisory_published")
    if duplicate_without_credit or (published is None and not _offered(f)):
        return NA
    if published is None:
        return Outcome(PENDING)
    changed = f.last("credit_changed")
    if changed is not None and changed.created_at > published.created_at:
        # A later choice is honoured by the next revision; a withdrawal revises at once.
        return Outcome(PENDING, None, None, event_evidence(changed))
    evidence = {**event_evidence(published), "credit": _credit_at(f, published.created_at)}
    return Outcome(KEPT, None, published.created_at, evidence)


def _offered(f: Facts) -> Event | None:
    return f.first("advisory_drafted") or f.first("advisory_report_added")


@register("publication_involvement")
def publication_involvement(f: Facts) -> Outcome:
    """The finder reviews the draft before publication; no publication before their date
    unless the reason is recorded."""
    offered = _offered(f)
    published = f.first("advisory_published")
    if published is None:
        if offered is None:
            return NA
        reviewed = f.last("advisory_reviewed")
        if reviewed is not None:  # involved: what is left is to publish as agreed
            return Outcome(PENDING, None, None, event_evidence(reviewed))
        # Not answered yet: at risk as the scheduled moment comes near.
        scheduled = f.last("advisory_scheduled")
        unscheduled = f.last("advisory_unscheduled")
        due = None
        if scheduled and (unscheduled is None or unscheduled.created_at < scheduled.created_at):
            due = datetime.fromisoformat(str(scheduled.data["publish_at"]))
        return Outcome(PENDING, due, None, event_evidence(offered))
    early = f.first("advisory_published_early")
    if offered is None or offered.created_at > published.created_at:
        return Outcome(BROKEN, None, published.created_at, event_evidence(published))
    if early is not None and not early.data.get("reason"):
        return Outcome(BROKEN, None, published.created_at, event_evidence(early))
    reviewed = f.last("advisory_reviewed")
    shown = reviewed if reviewed and reviewed.created_at <= published.created_at else offered
    evidence = {**event_evidence(shown), "published": published.created_at.isoformat()}
    if early is not None:
        evidence["early_reason"] = str(early.data["reason"])
    return Outcome(KEPT, None, published.created_at, evidence)


@register("data_deletion", shown_to_finder=False)
def data_deletion(f: Facts) -> Outcome:
    """After the fix the finder is reminded to delete what they obtained."""
    fixed = f.first("state_changed", to=State.FIXED.value)
    if fixed is None:
        return NA
    due = clock.progress_update_due(fixed.created_at)
    reminded = f.first("deletion_reminder_sent")
    if reminded is not None:
        return by_time(due, reminded.created_at, event_evidence(reminded))
    return Outcome(PENDING, due)


def _reporting_step(step: str) -> Callable[[Facts], Outcome]:
    """A step of a legal reporting clock (CRA, NIS2): kept by recording it as sent in time."""

    def evaluate(f: Facts) -> Outcome:
        if not reporting_clocks.regime_on(reporting_clocks.STEPS[step]):
            return NA
        flags = reporting_clocks.flags(f.events)
        if reporting_clocks.start(step, flags) is None:
            return NA
        due = reporting_clocks.due(step, f.events, flags)
        done = reporting_clocks.sent(f.events, step)
        if done is not None:
            evidence = {
                **event_evidence(done),
                "sent_at": str(done.data["sent_at"]),
                "submitted_via": str(done.data.get("submitted_via", "")),
                "reference": str(done.data.get("reference", "")),
            }
            settled = reporting_clocks.sent_at(done)
            if due is None:
                return Outcome(KEPT, None, settled, evidence)
            return by_time(due, settled, evidence)
        return Outcome(PENDING, due)

    return evaluate


for _step in reporting_clocks.STEPS:
    # The authorities', not the finder's: never on the finder's status page.
    register(_step, shown_to_finder=False)(_reporting_step(_step))


# --- Evaluation and storage ---------------------------------------------------------------


def risk_margin() -> timedelta:
    return timedelta(hours=settings.MELDPUNT_PROMISE_RISK_HOURS)


def effective(outcome: Outcome, now: datetime) -> str:
    """Pending past due is broken; pending within the margin is at risk."""
    if outcome.state != PENDING or outcome.due_at is None:
        return outcome.state
    if outcome.due_at < now:
        return BROKEN
    return AT_RISK if outcome.due_at <= now + risk_margin() else PENDING


def facts(report: Report, now: datetime) -> Facts:
    messages = list(Message.objects.filter(report=report, author=Message.Author.STAFF))
    mails: dict[int, list[str]] = {}
    carried = (
        OutboundMail.objects.filter(report=report, thread_message__isnull=False)
        .exclude(status=OutboundMail.Status.CANCELLED)
        .order_by("created_at", "pk")
        .values_list("thread_message_id", "status")
    )
    for message_pk, status in carried:
        mails.setdefault(message_pk, []).append(status)
    return Facts(report, list(Event.objects.filter(report=report)), messages, mails, now)


def evaluate(report: Report, now: datetime | None = None) -> dict[str, Outcome]:
    """Every registered promise of this report, as of now (nothing stored)."""
    known = facts(report, now or timezone.now())
    return {kind: definition.evaluate(known) for kind, definition in PROMISES.items()}


FIELDS = ("state", "due_at", "settled_at", "evidence")


def refresh(report: Report, now: datetime | None = None) -> list[Promise]:
    """Evaluate and store the ledger of a report (read afresh from the database).

    Runs inside the caller's transaction (every event): rows that did not change are only
    stamped, and a row another process created meanwhile is not an error.
    """
    now = now or timezone.now()
    current = Report.objects.defer("content_blob", "finder_blob", "assessment_blob").get(
        pk=report.pk
    )
    wanted = {
        kind: Promise(
            report=current,
            kind=kind,
            state=effective(outcome, now),
            due_at=outcome.due_at,
            settled_at=outcome.settled_at,
            evidence=outcome.evidence,
            evaluated_at=now,
        )
        for kind, outcome in evaluate(current, now).items()
    }
    stored = {p.kind: p for p in Promise.objects.filter(report=current)}
    if missing := [row for kind, row in wanted.items() if kind not in stored]:
        Promise.objects.bulk_create(missing, ignore_conflicts=True)
        stored = {p.kind: p for p in Promise.objects.filter(report=current)}
    # Rows written just now (a new report's ledger) carry this time already: no stamp for them.
    stale = any(p.evaluated_at != now for p in stored.values())
    changed = []
    newly_late: list[Promise] = []
    for kind, row in wanted.items():
        old = stored[kind]
        if any(getattr(old, name) != getattr(row, name) for name in FIELDS):
            if row.state != old.state and row.state in (AT_RISK, BROKEN):
                # Listeners queue their work in the caller's transaction (after the update below).
                newly_late.append(old)
            for name in FIELDS:
                setattr(old, name, getattr(row, name))
            changed.append(old)
        old.evaluated_at = now
    if changed:
        Promise.objects.bulk_update(changed, FIELDS)
    if stale:
        Promise.objects.filter(report=current).update(evaluated_at=now)
    for promise in newly_late:
        signals.promise_changed.send(sender=Report, report=current, promise=promise)
    return [stored[kind] for kind in wanted]


def start(report: Report, event: Event) -> list[Promise]:
    """The first ledger of a report stored in this transaction, whose only event is `event`.

    What `refresh` would store, without reading back what the caller has just written: no
    message, no mail and no ledger row exist yet, so one insert does it (and no promise can
    have newly become late, so there is nothing to signal).
    """
    now = event.created_at
    known = Facts(report, [event], [], {}, now)
    rows = []
    for kind, definition in PROMISES.items():
        outcome = definition.evaluate(known)
        rows.append(
            Promise(
                report=report,
                kind=kind,
                state=effective(outcome, now),
                due_at=outcome.due_at,
                settled_at=outcome.settled_at,
                evidence=outcome.evidence,
                evaluated_at=now,
            )
        )
    Promise.objects.bulk_create(rows)
    return rows


def ledger(report: Report) -> list[Promise]:
    """The stored ledger in registry order; computed on first read if the report has none."""
    rows = {p.kind: p for p in Promise.objects.filter(report=report)}
    if set(PROMISES) - set(rows):
        rows = {p.kind: p for p in refresh(report)}
    return [rows[kind] for kind in PROMISES]


def promises_for_finder(report: Report) -> list[Promise]:
    """The promises the finder's status page speaks of: theirs, and only those that apply."""
    return [
        p for p in ledger(report) if PROMISES[p.kind].shown_to_finder and p.state != NOT_APPLICABLE
    ]


def at_risk(now: datetime) -> Q:
    """Reports with a promise at risk or broken, in the database (between periodic passes the
    time is applied here too, so a pending promise that just came near counts)."""
    late = Q(state__in=[BROKEN, AT_RISK]) | Q(state=PENDING, due_at__lte=now + risk_margin())
    return Q(Exists(Promise.objects.filter(late, report=OuterRef("pk"))))


BATCH = 500


def refresh_due(now: datetime | None = None) -> int:
    """The periodic pass: promises whose time came, mail that changed state, reports without
    a ledger (the backfill); a batch at a time."""
    now = now or timezone.now()
    timed = Promise.objects.filter(
        state__in=[PENDING, AT_RISK], due_at__lte=now + risk_margin()
    ).exclude(state=AT_RISK, due_at__gte=now)
    # Mail that changed state (sent, bounced, failed) after the report's ledger was computed.
    changed_mail = OutboundMail.objects.filter(
        Exists(
            Promise.objects.filter(
                report=OuterRef("report"), evaluated_at__lt=OuterRef("status_changed_at")
            )
        )
    )
    pks = set(timed.values_list("report_id", flat=True)[:BATCH])
    pks |= {pk for pk in changed_mail.values_list("report_id", flat=True)[:BATCH] if pk}
    pks |= set(
        Report.objects.filter(~Exists(Promise.objects.filter(report=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    for pk in sorted(pks):
        refresh(Report(pk=pk), now)
    return len(pks)
