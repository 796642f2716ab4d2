"""API tokens: `mp_` and 43 random URL-safe characters (256 bits), stored as a keyed hash."""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from django.contrib.auth.models import User
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from meldpunt.accounts.models import (
    REPORT_CHANGERS,
    Role,
    StaffProfile,
    kept_columns,
    kept_instance,
)
from meldpunt.api.models import SCOPES, ApiToken
from meldpunt.audit.actors import staff
from meldpunt.audit.log import append as audit
from meldpunt.lib import snapshots
from meldpunt.lib.crypto import load_keyring

PREFIX = "mp_"
# The last-used time is kept to the minute (the token page shows it to the minute): a
# script that calls the API many times a second does not write the token's row each time.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ScopeRefused(ValueError):
    """A scope the staff member's role could never use."""


def _digest(token: str) -> bytes:
    return load_keyring().index("api-token", token)


def allowed_scopes(user: User) -> tuple[str, ...]:
    """The scopes a staff member may give a token: no more than their role allows."""
    role = getattr(getattr(user, "staff", None), "role", None)
    if role == Role.ADMIN:
        return SCOPES
    if role in REPORT_CHANGERS:
        return ("read", "triage", "publish")
    return ("read",)


def issue_token(
    user: User,
    name: str,
    scopes: Iterable[str] | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Create a token; the returned secret is shown once and never stored.

    Without scopes: read, and triage where the role may change reports (as before scopes).
    """
    if scopes is None:
        scopes = [s for s in ("read", "triage") if s in allowed_scopes(user)]
    wanted = sorted(set(scopes), key=SCOPES.index) if set(scopes) <= set(SCOPES) else None
    if not wanted or not set(wanted) <= set(allowed_scopes(user)):
        raise ScopeRefused(f"scopes {sorted(set(scopes))} not allowed for this account")
    token = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        made = ApiToken.objects.create(
            user=user, name=name, digest=_digest(token), scopes=wanted, expires_at=expires_at
        )
        audit("api_token_created", staff(user), token=name, token_id=made.pk, scopes=wanted)
    return token


# What a token's look-up reads of the token, its staff member and their profile: every
# column but the secrets (the password's hash, the TOTP seed: SECRET_FIELDS), which an API
# request never needs and which are not kept in memory with the answer.
_PARTS: tuple[tuple[type[models.Model], str, tuple[str, ...]], ...] = tuple(
    (model, prefix, kept_columns(model))
    for model, prefix in ((ApiToken, ""), (User, "user__"), (StaffProfile, "user__staff__"))
)


def _live_row(wanted: bytes) -> tuple[Any, ...] | None:
    """The row of the token with this digest, if it is not revoked and its staff member is
    active: the token's, the user's and the profile's columns (_PARTS), in one statement."""
    columns = [prefix + name for _model, prefix, names in _PARTS for name in names]
    return (
        ApiToken.objects.filter(
            digest=wanted, revoked_at=None, user__is_active=True, user__staff__isnull=False
        )
        .values_list(*columns)
        .first()
    )


def _instances(row: tuple[Any, ...]) -> ApiToken:
    """The token with its user and profile, new instances of a kept row (never shared
    between requests)."""
    made: list[models.Model] = []
    start = 0
    for model, _prefix, names in _PARTS:
        made.append(kept_instance(model, row[start : start + len(names)]))
        start += len(names)
    token, user = cast(ApiToken, made[0]), cast(User, made[1])
    token.user = user
    user.staff = cast(StaffProfile, made[2])
    return token


def token_for(token: str) -> ApiToken | None:
    """The live token (not revoked, not expired, its staff member active), or None.

    Within a request (meldpunt/lib/snapshots.py's page) the row is kept under the look-ups'
    version, which every write to the tokens, users and staff profiles moves (revoking a
    token, deactivating or demoting its staff member, on any host): a script calling the
    API many times a second does not look its token up each time. A digest that matches no
    live token is not kept. Expiry is checked at each call."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    wanted = _digest(token)
    now = timezone.now()
    row = snapshots.answer(
        ("api-token", wanted), lambda: _live_row(wanted), keep=lambda r: r is not None, lookup=True
    )
    if row is None:
        return None
    found = _instances(row)
    if not hmac.compare_digest(bytes(found.digest), wanted):
        return None
    if found.expires_at is not None and found.expires_at <= now:
        return None
    if found.last_used_at is None or now - found.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        found.last_used_at = now
    return found


def user_for_token(token: str) -> User | None:
    found = token_for(token)
    return found.user if found else None


def visible_tokens(user: User) -> QuerySet[ApiToken]:
    """A staff member's own tokens; an admin's view holds everyone's."""
    tokens = ApiToken.objects.select_related("user").order_by("-created_at", "-pk")
    if getattr(getattr(user, "staff", None), "role", None) == Role.ADMIN:
        return tokens
    return tokens.filter(user=user)


def revoke(user: User, uid: uuid.UUID) -> ApiToken | None:
    """Revoke one of the tokens this staff member sees; None if it is not one of them."""
    with transaction.atomic():
        found = visible_tokens(user).select_for_update().filter(uid=uid, revoked_at=None).first()
        if found is not None:
            found.revoked_at = timezone.now()
            found.save(update_fields=["revoked_at"])
            audit("api_token_revoked", staff(user), token=found.name, token_id=found.pk)
    return found
