"""Sending queued deliveries: claimed with a lease, retried with backoff, endpoints disabled.

Like the mail outbox (meldpunt.reports.outbox): a delivery is queued in the event's
transaction and sent after the commit by a task, or by the worker's periodic pass
`deliver_due`. An attempt first claims the delivery by moving its next try a lease ahead
(so no other worker takes it meanwhile); a worker that dies leaves it to be tried again
once the lease ran out. Webhooks are at least once: a receiver drops repeats by their
`webhook-id`, which stays the same on every attempt.

Deliveries go in batches: one transaction claims up to BATCH due ones (skipping rows another
worker holds), up to MELDPUNT_WEBHOOK_CONCURRENCY requests run at once (threads that only do
HTTP, never the database), and one transaction records every outcome. A transaction that
queues deliveries enqueues one task for them all, not one per delivery: a thousand events
cost a thousand requests, not a thousand task round trips (bench/webhooks.py).

After MELDPUNT_WEBHOOK_DISABLE_AFTER failed attempts in a row an endpoint is disabled and
the administrators get a mail; its pending deliveries wait until it is enabled again.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Value
from django.urls import reverse
from django.utils import timezone
from django_tasks import task

from meldpunt.accounts.models import Role
from meldpunt.audit import log as audit
from meldpunt.webhooks import signing, trackers, transport
from meldpunt.webhooks.models import Attempt, Delivery, Endpoint, TrackerIssue

log = logging.getLogger(__name__)

# Pauses after the 1st, 2nd, … failed attempt; the last one repeats until MAX_ATTEMPTS.
BACKOFF = [
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=4),
    timedelta(hours=12),
]
BATCH = 100


def lease() -> timedelta:
    # Far longer than one attempt may take (the timeout), so only a dead worker leaves it.
    return timedelta(seconds=settings.MELDPUNT_WEBHOOK_TIMEOUT * 4 + 30)


def _claim(now: datetime, uid: str | None = None) -> list[Delivery]:
    """Take up to BATCH due deliveries (or the one with this uid) for this worker."""
    with transaction.atomic():
        due = Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
        )
        if uid is not None:
            due = due.filter(uid=uid)
        # SKIP LOCKED: two workers' passes take different rows instead of waiting (PostgreSQL;
        # SQLite has one writer at a time anyway).
        pks = list(
            due.order_by("next_attempt_at", "pk")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[:BATCH]
        )
        if not pks:
            return []
        Delivery.objects.filter(pk__in=pks).update(
            next_attempt_at=now + lease(), attempts=F("attempts") + 1
        )
    return list(Delivery.objects.select_related("endpoint").filter(pk__in=pks).order_by("pk"))


@dataclass
class _Outcome:
    row: Delivery
    sent: bool = True  # False: claimed, then left untried (its endpoint is being switched off)
    ok: bool = False
    error: str = ""
    answer: transport.Answer | None = None


def _request(row: Delivery) -> tuple[str, bytes, dict[str, str]]:
    """URL, body and headers of one attempt (made in the caller's thread: sealed values)."""
    endpoint = row.endpoint
    body = str(row.body["json"]).encode()
    if endpoint.is_tracker:
        # The tracker's own authentication; it verifies no Standard Webhooks signature.
        return endpoint.url, body, trackers.headers(endpoint)
    # The id stays the same on every attempt (receivers drop repeats); the time is the send's.
    msg_id = f"msg_{row.uid.hex}"
    headers = signing.headers(endpoint.secret["secret"], msg_id, timezone.now(), body)
    headers["Content-Type"] = "application/json"
    headers["User-Agent"] = "Meldpunt-Webhooks"
    return endpoint.url, body, headers


def _send(row: Delivery, request: tuple[str, bytes, dict[str, str]]) -> _Outcome:
    """One POST; no database here (it runs in a sending thread)."""
    url, body, headers = request
    outcome = _Outcome(row)
    try:
        outcome.answer = transport.post(
            url,
            body,
            headers,
            timeout=settings.MELDPUNT_WEBHOOK_TIMEOUT,
            allow_private=settings.MELDPUNT_WEBHOOK_ALLOW_PRIVATE,
        )
    except transport.Refused as refused:
        outcome.error = f"refused: {refused}"
    # Whatever the network did: only the class name is kept (its text may quote the URL).
    except Exception as exc:
        outcome.error = type(exc).__name__
    answer = outcome.answer
    outcome.ok = answer is not None and 200 <= answer.status < 300
    if answer is not None and not outcome.ok:
        # A redirect is an answer, never followed: the receiver must give its final URL.
        outcome.error = f"HTTP {answer.status}"
    if row.endpoint.is_tracker:
        outcome.error = trackers.scrub(outcome.error, row.endpoint)
        if answer is not None:
            outcome.answer = replace(answer, excerpt=trackers.scrub(answer.excerpt, row.endpoint))
    return outcome


def _send_all(rows: list[Delivery]) -> list[_Outcome]:
    """Per endpoint: one request first; the rest at once if it was taken, else one by one
    until the endpoint has failed often enough to be switched off (the rest then waits,
    untried: a receiver that is down gets no burst)."""
    outcomes: list[_Outcome] = []
    by_endpoint: dict[int, list[Delivery]] = {}
    for row in rows:
        by_endpoint.setdefault(row.endpoint_id, []).append(row)
    width = max(1, min(settings.MELDPUNT_WEBHOOK_CONCURRENCY, len(rows)))
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="meldpunt-webhook") as pool:
        for group in by_endpoint.values():
            probe = _send(group[0], _request(group[0]))
            outcomes.append(probe)
            rest = group[1:]
            if probe.ok:
                outcomes.extend(pool.map(_send, rest, [_request(row) for row in rest]))
                continue
            failures = group[0].endpoint.consecutive_failures + 1
            for row in rest:
                if failures >= settings.MELDPUNT_WEBHOOK_DISABLE_AFTER:
                    outcomes.append(_Outcome(row, sent=False))
                    continue
                outcome = _send(row, _request(row))
                failures = 0 if outcome.ok else failures + 1
                outcomes.append(outcome)
    return outcomes


def _deliver(now: datetime, uid: str | None = None) -> list[_Outcome]:
    rows = _claim(now, uid)
    if not rows:
        return []
    outcomes = _send_all(rows)
    _record(outcomes, now)
    return outcomes


def deliver_now(uid: str, now: datetime | None = None) -> bool:
    """Send one delivery if it is due and no other worker has it; True if the receiver took it."""
    outcomes = _deliver(now or timezone.now(), uid)
    return bool(outcomes) and outcomes[0].ok


def _record(outcomes: list[_Outcome], now: datetime) -> None:
    """Every outcome of a batch in one transaction: deliveries, the log, the endpoints."""
    attempts: list[Attempt] = []
    # Per endpoint, in the batch's order: failures since its last success here, and whether
    # it had one (then its count restarts from that success, else it grows).
    streak: dict[int, tuple[bool, int]] = {}
    untried = [o.row.pk for o in outcomes if not o.sent]
    outcomes = [o for o in outcomes if o.sent]
    with transaction.atomic():
        if untried:
            # Back as they were: no attempt was made.
            Delivery.objects.filter(pk__in=untried).update(
                next_attempt_at=now, attempts=F("attempts") - 1
            )
        delivered = [o.row.pk for o in outcomes if o.ok]
        if delivered:
            Delivery.objects.filter(pk__in=delivered).update(
                status=Delivery.Status.DELIVERED, delivered_at=timezone.now()
            )
        for o in outcomes:
            row, endpoint, next_at = o.row, o.row.endpoint, None
            reset, failures = streak.get(endpoint.pk, (False, 0))
            streak[endpoint.pk] = (True, 0) if o.ok else (reset, failures + 1)
            if o.ok:
                if endpoint.is_tracker and o.answer is not None:
                    _issue_created(row, o.answer)
            elif row.attempts >= settings.MELDPUNT_WEBHOOK_MAX_ATTEMPTS:
                Delivery.objects.filter(pk=row.pk).update(status=Delivery.Status.FAILED)
            else:
                next_at = now + BACKOFF[min(row.attempts, len(BACKOFF)) - 1]
                Delivery.objects.filter(pk=row.pk).update(next_attempt_at=next_at)
            answer = o.answer
            attempts.append(
                Attempt(
                    delivery=row,
                    endpoint=endpoint,
                    number=row.attempts,
                    at=now,
                    ok=o.ok,
                    latency_ms=answer.latency_ms if answer else None,
                    response_code=answer.status if answer else None,
                    error=o.error[:200],
                    excerpt=answer.excerpt if answer else "",
                    next_attempt_at=next_at,
                )
            )
        Attempt.objects.bulk_create(attempts)
        for pk, (reset, failures) in streak.items():
            count = Value(failures) if reset else F("consecutive_failures") + failures
            Endpoint.objects.filter(pk=pk).update(consecutive_failures=count)
            if failures:
                _disable_if_failing(pk)
    for o in outcomes:
        log.info(
            "webhook %s (%s) to endpoint %s attempt %d: %s",
            o.row.uid,
            o.row.event_type,
            o.row.endpoint.uid,
            o.row.attempts,
            "delivered" if o.ok else o.error,
        )


def _issue_created(row: Delivery, answer: transport.Answer) -> None:
    """Note the issue the tracker made (its number and link), so no second one is asked for."""
    number, url = trackers.created(row.endpoint, answer.data) or ("", "")
    TrackerIssue.objects.filter(delivery=row, created_at=None).update(
        number=number, url=url, created_at=timezone.now()
    )


def _disable_if_failing(pk: int) -> None:
    limit = settings.MELDPUNT_WEBHOOK_DISABLE_AFTER
    now = timezone.now()
    disabled = Endpoint.objects.filter(pk=pk, enabled=True, consecutive_failures__gte=limit).update(
        enabled=False, disabled_at=now
    )
    if not disabled:
        return
    endpoint = Endpoint.objects.get(pk=pk)
    audit.append("webhook_disabled", "system", "", endpoint=str(endpoint.uid))
    log.warning("webhook endpoint %s disabled after %d failures", endpoint.uid, limit)
    transaction.on_commit(lambda: notify_admins(endpoint), robust=True)


def notify_admins(endpoint: Endpoint) -> None:
    """Tell every administrator that an endpoint was switched off (no URL or secret in it)."""
    admins = (
        get_user_model().objects.filter(is_active=True, staff__role=Role.ADMIN).exclude(email="")
    )
    to = sorted({str(u.email) for u in admins})
    if not to:
        return
    page = settings.MELDPUNT_BASE_URL + reverse("triage:webhook", args=[endpoint.uid])
    limit = settings.MELDPUNT_WEBHOOK_DISABLE_AFTER
    text = (
        f'The webhook endpoint "{endpoint.name}" failed {limit} times in a row and was '
        f"disabled. Its deliveries wait until it is enabled again:\n\n{page}\n"
    )
    send_mail("[Meldpunt] Webhook endpoint disabled", text, None, to)


@task()
def deliver(uid: str) -> None:
    """Send one delivery (tasks queued by earlier versions, one per delivery)."""
    deliver_now(uid)


@task()
def deliver_queued() -> None:
    """Send what is due right after the commit that queued it: batch after batch."""
    deliver_all()


def deliver_due(now: datetime | None = None) -> int:
    """One batch of pending deliveries that are due; how many the receivers took."""
    return sum(o.ok for o in _deliver(now or timezone.now()))


def deliver_all(now: datetime | None = None) -> int:
    """Batches until none is due (the worker's periodic pass and the queued task)."""
    sent = 0
    # Until a batch finds nothing due, or tried nothing (its endpoints were switched off).
    while (outcomes := _deliver(now or timezone.now())) and any(o.sent for o in outcomes):
        sent += sum(o.ok for o in outcomes)
    return sent
