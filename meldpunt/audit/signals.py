"""What reaches the audit log without each view having to remember it.

Every report event (received, state changes, messages, notes, downloads, …) and every
staff sign-in, failed sign-in and sign-out. Views add what no signal sees: reading a
report's decrypted content.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, user_logged_in, user_logged_out
from django.contrib.auth.signals import user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from meldpunt.audit.log import append, staff
from meldpunt.reports.models import Event


def _audit_actor(event_actor: str) -> str:
    """Events name staff by user name; the audit log by account number, like sign-ins."""
    kind, _, name = event_actor.partition(":")
    if kind != "staff":
        return event_actor
    user = get_user_model().objects.filter(username=name).only("pk").first()
    return staff(user) if user else event_actor


@receiver(post_save, sender=Event)
def report_event(sender: type, instance: Event, created: bool, **kwargs: Any) -> None:
    if created:
        actor = _audit_actor(instance.actor)
        append(instance.kind, actor, instance.report.reference, **instance.data)


@receiver(user_logged_in)
def logged_in(sender: type, request: Any, user: Any, **kwargs: Any) -> None:
    append("login", staff(user))


@receiver(user_logged_out)
def logged_out(sender: type, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        append("logout", staff(user))


@receiver(user_login_failed)
def login_failed(sender: type, credentials: dict[str, Any], request: Any, **kwargs: Any) -> None:
    # Name the account if it exists, never the text typed: it may be a mistyped password.
    username = str(credentials.get("username", ""))
    user = get_user_model().objects.filter(username=username).only("pk").first()
    append("login_failed", staff(user) if user else "anonymous", stage="password")
