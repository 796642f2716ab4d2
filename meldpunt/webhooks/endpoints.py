"""What administrators do with endpoints: add one (its secret shown once), test, enable, remove."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from meldpunt.audit import log as audit
from meldpunt.audit.actors import staff
from meldpunt.webhooks import events, payloads, signing, transport
from meldpunt.webhooks.models import Attempt, Delivery, Endpoint


class EndpointError(ValueError):
    pass


def create(
    user: Any, *, name: str, url: str, kinds: list[str], format: str, trusted: bool
) -> tuple[Endpoint, str]:
    """A new endpoint and its secret: the only time the secret is handed out."""
    try:
        transport.check_url(url)
    except transport.Refused as refused:
        raise EndpointError(str(refused)) from refused
    unknown = set(kinds) - set(payloads.EVENT_TYPES)
    if unknown:
        raise EndpointError("unknown event type")
    secret = signing.new_secret()
    endpoint = Endpoint(
        name=name,
        url=url,
        events=sorted(kinds),
        format=format,
        trusted_with_content=trusted,
        created_at=timezone.now(),
        created_by=user,
    )
    endpoint.secret = {"secret": secret}
    with transaction.atomic():
        endpoint.save()
        audit.append("webhook_added", staff(user), "", endpoint=str(endpoint.uid))
    return endpoint, secret


def send_test(endpoint: Endpoint, user: Any) -> Delivery:
    """Queue a test event (no report in it) for one endpoint, whatever events it wants."""
    with transaction.atomic():
        row = events.make(endpoint, payloads.TEST, None, {"by": "administrator"})
        audit.append("webhook_tested", staff(user), "", endpoint=str(endpoint.uid))
    return row


def enable(endpoint: Endpoint, user: Any) -> None:
    with transaction.atomic():
        Endpoint.objects.filter(pk=endpoint.pk).update(
            enabled=True, consecutive_failures=0, disabled_at=None
        )
        audit.append("webhook_enabled", staff(user), "", endpoint=str(endpoint.uid))


def remove(endpoint: Endpoint, user: Any) -> None:
    with transaction.atomic():
        audit.append("webhook_removed", staff(user), "", endpoint=str(endpoint.uid))
        endpoint.delete()


def listing() -> QuerySet[Endpoint]:
    return Endpoint.objects.order_by("name", "pk")


def recent_log(endpoint: Endpoint, limit: int = 50) -> QuerySet[Attempt]:
    return (
        Attempt.objects.filter(endpoint=endpoint)
        .select_related("delivery")
        .order_by("-at", "-pk")[:limit]
    )
