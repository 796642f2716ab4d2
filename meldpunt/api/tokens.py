"""API tokens: `mp_` and 43 random URL-safe characters (256 bits), stored as a keyed hash."""

from __future__ import annotations

import hmac
import secrets

from django.contrib.auth.models import User
from django.utils import timezone

from meldpunt.api.models import ApiToken
from meldpunt.lib.crypto import load_keyring

PREFIX = "mp_"


def _digest(token: str) -> bytes:
    return load_keyring().index("api-token", token)


def issue_token(user: User, name: str) -> str:
    """Create a token; the returned secret is shown once and never stored."""
    token = PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, name=name, digest=_digest(token))
    return token


def user_for_token(token: str) -> User | None:
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    wanted = _digest(token)
    found = (
        ApiToken.objects.select_related("user__staff")
        .filter(digest=wanted, revoked_at=None, user__is_active=True)
        .first()
    )
    if found is None or not hmac.compare_digest(bytes(found.digest), wanted):
        return None
    if getattr(found.user, "staff", None) is None:
        return None
    ApiToken.objects.filter(pk=found.pk).update(last_used_at=timezone.now())
    return found.user
