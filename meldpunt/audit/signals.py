"""Staff sign-ins, failed sign-ins and sign-outs reach the audit log through Django's signals.

Report events reach it through `record_event`, which writes both in one transaction; views
add what neither sees, such as reading a report's decrypted content.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, user_logged_in, user_logged_out
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from meldpunt.audit.actors import staff
from meldpunt.audit.log import append


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
