"""Sending queued deliveries: claimed with a lease, retried with backoff, endpoints disabled.

Like the mail outbox (meldpunt.reports.outbox): a delivery is queued in the event's
transaction and sent after the commit by a task, or by the worker's periodic pass
`deliver_due`. An attempt first claims the delivery by moving its next try a lease ahead
(so no other worker takes it meanwhile); a worker that dies leaves it to be tried again
once the lease ran out. Webhooks are at least once: a receiver drops repeats by their
`webhook-id`, which stays the same on every attempt.

After MELDPUNT_WEBHOOK_DISABLE_AFTER failed attempts in a row an endpoint is disabled and
the administrators get a mail; its pending deliveries wait until it is enabled again.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
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


def _claim(uid: str, now: datetime) -> Delivery | None:
    with transaction.atomic():
        taken = Delivery.objects.filter(
            uid=uid,
            status=Delivery.Status.PENDING,
            next_attempt_at__lte=now,
            endpoint__enabled=True,
        ).update(next_attempt_at=now + lease(), attempts=F("attempts") + 1)
    if not taken:
        return None
    return Delivery.objects.select_related("endpoint").get(uid=uid)


def deliver_now(uid: str, now: datetime | None = None) -> bool:
    """Send one delivery if it is due and no other worker has it; True if the receiver took it."""
    now = now or timezone.now()
    row = _claim(uid, now)
    if row is None:
        return False
    endpoint = row.endpoint
    body = str(row.body["json"]).encode()
    # The id stays the same on every attempt (receivers drop repeats); the time is the send's.
    msg_id = f"msg_{row.uid.hex}"
    if endpoint.is_tracker:
        # The tracker's own authentication; it verifies no Standard Webhooks signature.
        headers = trackers.headers(endpoint)
    else:
        headers = signing.headers(endpoint.secret["secret"], msg_id, timezone.now(), body)
        headers["Content-Type"] = "application/json"
        headers["User-Agent"] = "Meldpunt-Webhooks"
    error, answer = "", None
    try:
        answer = transport.post(
            endpoint.url,
            body,
            headers,
            timeout=settings.MELDPUNT_WEBHOOK_TIMEOUT,
            allow_private=settings.MELDPUNT_WEBHOOK_ALLOW_PRIVATE,
        )
    except transport.Refused as refused:
        error = f"refused: {refused}"
    # Whatever the network did: only the class name is kept (its text may quote the URL).
    except Exception as exc:
        error = type(exc).__name__
    ok = answer is not None and 200 <= answer.status < 300
    if answer is not None and not ok:
        # A redirect is an answer, never followed: the receiver must give its final URL.
        error = f"HTTP {answer.status}"
    if endpoint.is_tracker:
        error = trackers.scrub(error, endpoint)
        if answer is not None:
            answer = replace(answer, excerpt=trackers.scrub(answer.excerpt, endpoint))
    _record(row, now, ok, error, answer)
    return ok


def _record(
    row: Delivery, now: datetime, ok: bool, error: str, answer: transport.Answer | None
) -> None:
    endpoint = row.endpoint
    next_at = None
    with transaction.atomic():
        if ok:
            Delivery.objects.filter(pk=row.pk).update(
                status=Delivery.Status.DELIVERED, delivered_at=timezone.now()
            )
            Endpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
            if endpoint.is_tracker and answer is not None:
                _issue_created(row, answer)
        else:
            if row.attempts >= settings.MELDPUNT_WEBHOOK_MAX_ATTEMPTS:
                Delivery.objects.filter(pk=row.pk).update(status=Delivery.Status.FAILED)
            else:
                next_at = now + BACKOFF[min(row.attempts, len(BACKOFF)) - 1]
                Delivery.objects.filter(pk=row.pk).update(next_attempt_at=next_at)
            Endpoint.objects.filter(pk=endpoint.pk).update(
                consecutive_failures=F("consecutive_failures") + 1
            )
        Attempt.objects.create(
            delivery=row,
            endpoint=endpoint,
            number=row.attempts,
            at=now,
            ok=ok,
            latency_ms=answer.latency_ms if answer else None,
            response_code=answer.status if answer else None,
            error=error[:200],
            excerpt=answer.excerpt if answer else "",
            next_attempt_at=next_at,
        )
        if not ok:
            _disable_if_failing(endpoint.pk)
    log.info(
        "webhook %s (%s) to endpoint %s attempt %d: %s",
        row.uid,
        row.event_type,
        endpoint.uid,
        row.attempts,
        "delivered" if ok else error,
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
    """Send one delivery right after the commit that queued it."""
    deliver_now(uid)


def deliver_due(now: datetime | None = None) -> int:
    """The worker's periodic pass: every pending delivery that is due; returns how many went."""
    now = now or timezone.now()
    due = Delivery.objects.filter(
        status=Delivery.Status.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
    ).order_by("next_attempt_at")
    return sum(deliver_now(str(uid), now) for uid in due.values_list("uid", flat=True)[:BATCH])
