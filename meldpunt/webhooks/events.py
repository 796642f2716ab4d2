"""Which report events become which webhook events; queued in the event's own transaction.

The one place: `meldpunt.reports.services.record_event` sends `event_recorded` for every
event (received, state changes, assessments, messages, failed mail, published advisories),
and the promise ledger sends `promise_changed`; both arrive here inside the caller's
transaction, so a delivery exists exactly when its event does.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from meldpunt.reports.models import Event, Promise, Report, State
from meldpunt.reports.signals import event_recorded, promise_changed
from meldpunt.webhooks import delivery, payloads, trackers
from meldpunt.webhooks.models import TRACKERS, Delivery, Endpoint

# Report event kinds and the webhook event type each one is.
KINDS: dict[str, str] = {
    "received": "report.received",
    "state_changed": "report.state_changed",
    "reopened": "report.state_changed",
    "assessed": "report.assessed",
    "mail_failed": "mail.failed",
    "advisory_published": "advisory.published",
}


def event_type(event: Event) -> str | None:
    if event.kind == "message":
        return "report.message_from_finder" if event.actor == "finder" else None
    return KINDS.get(event.kind)


@receiver(event_recorded)
def on_event(sender: type, report: Report, event: Event, **kwargs: Any) -> None:
    kind = event_type(event)
    if kind is None:
        return
    extra: dict[str, Any] = {}
    if kind == "report.state_changed":
        extra = {"from": event.data.get("from"), "to": event.data.get("to")}
    elif kind == "advisory.published":
        extra = {"advisory": event.data.get("advisory")}
    queue(kind, report, extra)
    if kind == "report.state_changed" and extra.get("to") == State.TRIAGED:
        queue_issues(report)


@receiver(promise_changed)
def on_promise(sender: type, report: Report, promise: Promise, **kwargs: Any) -> None:
    kind = "promise.broken" if promise.state == Promise.State.BROKEN else "promise.at_risk"
    due = promise.due_at.isoformat() if promise.due_at else None
    queue(kind, report, {"promise": promise.kind, "due_at": due})


def queue(kind: str, report: Report | None, extra: dict[str, Any]) -> list[Delivery]:
    """A delivery for every enabled endpoint that wants this event, sent after the commit."""
    endpoints = [e for e in Endpoint.objects.filter(enabled=True) if kind in e.events]
    return [make(endpoint, kind, report, extra) for endpoint in endpoints]


def queue_issues(report: Report) -> list[Delivery]:
    """A create-an-issue delivery for every enabled tracker endpoint without an issue yet."""
    made = []
    for endpoint in Endpoint.objects.filter(enabled=True, format__in=TRACKERS):
        with transaction.atomic():
            issue = trackers.claim(endpoint, report)
            if issue is None:
                continue
            issue.delivery = make(endpoint, trackers.EVENT, report, {})
            issue.save(update_fields=["delivery"])
            made.append(issue.delivery)
    return made


def make(endpoint: Endpoint, kind: str, report: Report | None, extra: dict[str, Any]) -> Delivery:
    now = timezone.now()
    data = dict(extra)
    if report is not None:
        data["report"] = payloads.report_data(report, endpoint)
    row = Delivery(endpoint=endpoint, event_type=kind, created_at=now, next_attempt_at=now)
    row.uid = uuid.uuid4()
    row.body = {"json": payloads.body(endpoint, kind, now.isoformat(), data).decode()}
    with transaction.atomic():
        row.save()
        _send_after_commit()
    return row


def _send_after_commit() -> None:
    """One task per transaction, however many deliveries it queued (it sends them all)."""
    pending = transaction.get_connection().run_on_commit
    if not any(callback is _enqueue for _savepoints, callback, _robust in pending):
        transaction.on_commit(_enqueue, robust=True)


def _enqueue() -> None:
    delivery.deliver_queued.enqueue()
