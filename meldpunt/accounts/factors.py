"""Second factors. Each method verifies one kind of proof.

The verify step asks every enrolled method the policy allows in turn, so a new method only
needs a class here and a field on the form. Codes (TOTP, recovery codes) come through the
form; a passkey's proof is a WebAuthn response checked against the session's challenge.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from typing import Protocol

import pyotp
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.utils import timezone

from meldpunt.accounts import passkeys
from meldpunt.accounts.models import RecoveryCode, StaffProfile
from meldpunt.lib.crypto import load_keyring
from meldpunt.lib.receipt import ALPHABET

RECOVERY_CODES = 10


class SecondFactor(Protocol):
    name: str

    def is_enrolled(self, user: AbstractBaseUser) -> bool: ...

    def verify(self, user: AbstractBaseUser, proof: str) -> bool: ...


def _profile(user: AbstractBaseUser) -> StaffProfile | None:
    return StaffProfile.objects.filter(user_id=user.pk).first()


class Totp:
    name = "totp"

    def is_enrolled(self, user: AbstractBaseUser) -> bool:
        profile = _profile(user)
        return bool(profile and profile.totp_confirmed)

    def verify(self, user: AbstractBaseUser, proof: str) -> bool:
        profile = _profile(user)
        if profile is None or not profile.totp_confirmed:
            return False
        return accept_totp(profile, proof)


def accept_totp(profile: StaffProfile, proof: str, confirming: bool = False) -> bool:
    """Accept a code of the current, previous or next 30 s step, each step only once."""
    code = re.sub(r"\s", "", proof)
    secret = profile.totp.get("secret")
    if not secret or not re.fullmatch(r"\d{6}", code):
        return False
    totp = pyotp.TOTP(secret)
    now = totp.timecode(time.time())
    for step in (now - 1, now, now + 1):
        if step <= profile.last_totp_step or not hmac.compare_digest(totp.generate_otp(step), code):
            continue
        # Claim the step atomically: two requests with one code cannot both succeed.
        claimed = StaffProfile.objects.filter(pk=profile.pk, last_totp_step__lt=step)
        updates: dict[str, object] = {"last_totp_step": step}
        if confirming:
            updates["totp_confirmed"] = True
        if claimed.update(**updates) == 1:
            profile.last_totp_step = step
            return True
        return False
    return False


def new_totp_secret(profile: StaffProfile) -> str:
    secret = pyotp.random_base32()
    profile.totp = {"secret": secret}
    profile.totp_confirmed = False
    profile.save(update_fields=["totp_blob", "totp_confirmed"])
    return secret


def provisioning_uri(profile: StaffProfile) -> str:
    return pyotp.TOTP(profile.totp["secret"]).provisioning_uri(
        name=profile.user.get_username(), issuer_name=f"Meldpunt {settings.MELDPUNT_ORG_NAME}"
    )


def _recovery_digest(user_pk: int, code: str) -> bytes:
    return load_keyring().index(f"recovery:{user_pk}", code)


def _normalise_recovery(code: str) -> str:
    return re.sub(r"[\s-]", "", code).upper()


class RecoveryCodes:
    name = "recovery"

    def is_enrolled(self, user: AbstractBaseUser) -> bool:
        return RecoveryCode.objects.filter(user_id=user.pk, used_at=None).exists()

    def verify(self, user: AbstractBaseUser, proof: str) -> bool:
        code = _normalise_recovery(proof)
        if len(code) != 10:
            return False
        used = RecoveryCode.objects.filter(
            user_id=user.pk, digest=_recovery_digest(int(user.pk), code), used_at=None
        ).update(used_at=timezone.now())
        return used == 1


def new_recovery_codes(user: AbstractBaseUser) -> list[str]:
    """Replace the user's recovery codes; the new ones are returned once, to be shown once."""
    codes = ["".join(secrets.choice(ALPHABET) for _ in range(10)) for _ in range(RECOVERY_CODES)]
    with transaction.atomic():
        RecoveryCode.objects.filter(user_id=user.pk).delete()
        RecoveryCode.objects.bulk_create(
            RecoveryCode(user_id=user.pk, digest=_recovery_digest(int(user.pk), c)) for c in codes
        )
    return [f"{c[:5]}-{c[5:]}" for c in codes]


class Passkeys:
    """A WebAuthn assertion (JSON) answering the challenge this session was given."""

    name = "passkey"

    def __init__(self, session: SessionBase) -> None:
        self.session = session
        self.refusal: str | None = None

    def is_enrolled(self, user: AbstractBaseUser) -> bool:
        return bool(passkeys.usable(user))

    def verify(self, user: AbstractBaseUser, proof: str) -> bool:
        try:
            passkeys.authenticate(self.session, user, proof)
        except passkeys.PasskeyRefused as refused:
            self.refusal = refused.reason
            return False
        return True


METHODS: list[SecondFactor] = [Totp(), RecoveryCodes()]


def codes_allowed(user: AbstractBaseUser) -> bool:
    """May this user sign in with a code (TOTP or recovery) rather than a passkey?

    Where passkeys are required, codes stay only as the recovery path the admin allows,
    and for someone who has no passkey yet: they sign in once to register one
    (`passkey_owed`), and may do nothing else first.
    """
    if not settings.MELDPUNT_REQUIRE_PASSKEYS:
        return True
    return bool(settings.MELDPUNT_TOTP_AS_RECOVERY) or not passkeys.usable(user)


def passkey_owed(user: AbstractBaseUser) -> bool:
    return bool(settings.MELDPUNT_REQUIRE_PASSKEYS) and not passkeys.usable(user)


def verify_any(user: AbstractBaseUser, proof: str) -> str | None:
    """The name of the code method that accepted the proof, or None."""
    if not codes_allowed(user):
        return None
    for method in METHODS:
        if method.is_enrolled(user) and method.verify(user, proof):
            return method.name
    return None
