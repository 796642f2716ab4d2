"""What administrators do with endpoints: add one (its secret shown once), test, enable, remove."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from meldpunt.audit import log as audit
from meldpunt.audit.actors import staff
from meldpunt.webhooks import events, payloads, signing, trackers, transport
from meldpunt.webhooks.models import TRACKERS, Attempt, Delivery, Endpoint


class EndpointError(ValueError):
    """Why an endpoint cannot be added; `code` names the setting that is wrong."""

    def __init__(self, message: str, code: str = "url") -> None:
        super().__init__(message)
        self.code = code


def create(
    user: Any,
    *,
    name: str,
    url: str,
    kinds: list[str],
    format: str,
    trusted: bool,
    tracker: dict[str, str] | None = None,
) -> tuple[Endpoint, str]:
    """A new endpoint and its secret: the only time the secret is handed out.

    An issue-tracker endpoint (GitHub, GitLab, Jira) takes its token and settings in
    `tracker`; it wants one event, a report being triaged, whatever `kinds` says.
    """
    try:
        transport.check_url(url)
    except transport.Refused as refused:
        raise EndpointError(str(refused)) from refused
    sealed: dict[str, str] = {}
    if format in TRACKERS:
        try:
            sealed = trackers.check(format, url, tracker or {})
        except trackers.ConfigError as wrong:
            raise EndpointError("tracker settings", code=str(wrong)) from wrong
        kinds = [trackers.EVENT]
    elif set(kinds) - set(payloads.EVENT_TYPES):
        raise EndpointError("unknown event type", code="events")
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
    if sealed:
        endpoint.tracker = sealed
    with transaction.atomic():
        endpoint.save()
        audit.append("webhook_added", staff(user), "", endpoint=str(endpoint.uid))
    return endpoint, secret


def send_test(endpoint: Endpoint, user: Any) -> Delivery:
    """Queue a test event (no report in it) for one endpoint, whatever events it wants.

    Not for an issue tracker: its only request makes an issue, and a test would make one.
    """
    if endpoint.is_tracker:
        raise EndpointError("no test event for an issue tracker", code="test")
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
