"""Device cookies (OWASP): a browser where a staff member signed in before is known.

A flood of guesses fills the per-client, per-account and global sign-in limits; without
this, it would lock every staff member out. An attempt that presents a valid device
cookie for the account it names is counted against that device's own limit instead, so
the team keeps signing in from its usual browsers while unknown clients wait.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

COOKIE = "meldpunt_device"
# A signing salt (a namespace), not a secret.
SALT = "meldpunt.accounts.device"


def _account_tag(username: str) -> str:
    # Names the account without putting its e-mail address in the browser.
    return salted_hmac(SALT, username.lower(), algorithm="sha256").hexdigest()


def _max_age() -> int:
    return int(settings.MELDPUNT_STAFF_DEVICE_DAYS) * 24 * 3600


def remember(request: HttpRequest, response: HttpResponse, user: AbstractBaseUser) -> None:
    """After a complete sign-in: mark this browser as known for this account."""
    value = f"{secrets.token_hex(16)}:{_account_tag(user.get_username())}"
    response.set_signed_cookie(
        COOKIE,
        value,
        salt=SALT,
        max_age=_max_age(),
        path=reverse("accounts:login"),
        secure=settings.SESSION_COOKIE_SECURE or request.is_secure(),
        httponly=True,
        samesite="Strict",
    )


def known_device(request: HttpRequest, username: str) -> str | None:
    """The id of this browser's device cookie if it is genuine, current and for this account."""
    # A forged, tampered or expired cookie reads as no cookie at all.
    value = request.get_signed_cookie(COOKIE, default=None, salt=SALT, max_age=_max_age())
    if not value:
        return None
    device, _sep, account = value.partition(":")
    if not device or not constant_time_compare(account, _account_tag(username)):
        return None
    return device
