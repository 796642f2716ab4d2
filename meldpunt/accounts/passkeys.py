"""Passkeys (WebAuthn): the ceremonies' server side, on top of py_webauthn.

The relying party is the desk's own address (MELDPUNT_BASE_URL): its host name is the RP id
and its scheme, host and port the only origin accepted, so a phishing site on another name
gets nothing usable. Each ceremony's challenge lives in the session, serves one attempt only
and expires after CHALLENGE_SECONDS.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.utils import timezone
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, parse_registration_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from meldpunt.accounts.models import Passkey
from meldpunt.audit.actors import staff as staff_actor
from meldpunt.audit.log import append as audit

CHALLENGE = "staff_passkey_challenge"
CHALLENGE_SECONDS = 5 * 60
# Larger bodies are not a WebAuthn response; do not even parse them.
MAX_RESPONSE_CHARS = 16_000
REGISTER, AUTHENTICATE = "register", "authenticate"


class PasskeyRefused(Exception):
    """A ceremony that did not prove anything; `reason` says why, for the page and the audit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def relying_party() -> tuple[str, str]:
    """(RP id, origin), both from MELDPUNT_BASE_URL."""
    parts = urlsplit(settings.MELDPUNT_BASE_URL)
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


def _issue(session: SessionBase, purpose: str, user: AbstractBaseUser) -> bytes:
    challenge = secrets.token_bytes(32)
    session[CHALLENGE] = {
        "purpose": purpose,
        "user": user.pk,
        "value": challenge.hex(),
        "at": time.time(),
    }
    return challenge


def take_challenge(session: SessionBase, purpose: str, user: AbstractBaseUser) -> bytes:
    """The session's challenge for this purpose and user, removed: it answers one attempt."""
    issued: dict[str, Any] | None = session.pop(CHALLENGE, None)
    if (
        not issued
        or issued.get("purpose") != purpose
        or issued.get("user") != user.pk
        or time.time() - float(issued.get("at", 0)) > CHALLENGE_SECONDS
    ):
        raise PasskeyRefused("challenge")
    return bytes.fromhex(str(issued["value"]))


def usable(user: AbstractBaseUser) -> list[Passkey]:
    return list(Passkey.objects.filter(user_id=user.pk, regressed_at=None))


def _descriptors(passkeys: list[Passkey]) -> list[PublicKeyCredentialDescriptor]:
    known = {t.value for t in AuthenticatorTransport}
    return [
        PublicKeyCredentialDescriptor(
            id=bytes(p.credential_id),
            transports=[AuthenticatorTransport(t) for t in p.transports if t in known],
        )
        for p in passkeys
    ]


def registration_options(session: SessionBase, user: AbstractBaseUser) -> str:
    rp_id, _origin = relying_party()
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=f"Meldpunt {settings.MELDPUNT_ORG_NAME}",
        user_id=str(user.pk).encode(),
        user_name=user.get_username(),
        challenge=_issue(session, REGISTER, user),
        timeout=CHALLENGE_SECONDS * 1000,
        # Not again an authenticator that holds one of this user's passkeys already.
        exclude_credentials=_descriptors(list(Passkey.objects.filter(user_id=user.pk))),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
    )
    return options_to_json(options)


def _parse(response: str) -> str:
    if len(response) > MAX_RESPONSE_CHARS:
        raise PasskeyRefused("malformed")
    return response


def register(session: SessionBase, user: AbstractBaseUser, name: str, response: str) -> Passkey:
    """Check a registration response against this session's challenge and keep the passkey."""
    challenge = take_challenge(session, REGISTER, user)
    rp_id, origin = relying_party()
    try:
        credential = parse_registration_credential_json(_parse(response))
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        audit("passkey_register_failed", staff_actor(user), error=type(exc).__name__)
        raise PasskeyRefused("invalid") from exc
    if Passkey.objects.filter(credential_id=verified.credential_id).exists():
        raise PasskeyRefused("invalid")
    transports = [t.value for t in credential.response.transports or []]
    passkey = Passkey.objects.create(
        user_id=user.pk,
        name=name,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=transports,
    )
    audit("passkey_registered", staff_actor(user), passkey=str(passkey.uid))
    return passkey


def authentication_options(session: SessionBase, user: AbstractBaseUser) -> str:
    rp_id, _origin = relying_party()
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=_issue(session, AUTHENTICATE, user),
        timeout=CHALLENGE_SECONDS * 1000,
        allow_credentials=_descriptors(usable(user)),
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options)


def _credential_id(response: str) -> bytes:
    try:
        raw_id = json.loads(_parse(response))["rawId"]
        return base64url_to_bytes(str(raw_id))
    except (ValueError, KeyError, TypeError) as exc:
        raise PasskeyRefused("malformed") from exc


def authenticate(session: SessionBase, user: AbstractBaseUser, response: str) -> Passkey:
    """Check an assertion by one of this user's passkeys; raise PasskeyRefused otherwise."""
    challenge = take_challenge(session, AUTHENTICATE, user)
    credential_id = _credential_id(response)
    passkey = Passkey.objects.filter(user_id=user.pk, credential_id=credential_id).first()
    if passkey is None:
        raise PasskeyRefused("unknown")
    if passkey.regressed_at is not None:
        raise PasskeyRefused("regressed")
    rp_id, origin = relying_party()
    try:
        verified = verify_authentication_response(
            credential=response,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=bytes(passkey.public_key),
            # 0: the library's own counter check is off; ours below runs only once the
            # signature is known to be genuine, so that nobody can flag someone's passkey.
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyRefused("invalid") from exc
    return _count(user, passkey, verified.new_sign_count)


def _count(user: AbstractBaseUser, passkey: Passkey, new_count: int) -> Passkey:
    """Accept a sign count that went up (or an authenticator that counts nothing)."""
    now = timezone.now()
    with transaction.atomic():
        locked = Passkey.objects.select_for_update().get(pk=passkey.pk)
        regressed = bool(new_count or locked.sign_count) and new_count <= locked.sign_count
        if regressed:
            # Two authenticators share this key (a clone), or a response was replayed.
            locked.regressed_at = now
            locked.save(update_fields=["regressed_at"])
            audit(
                "passkey_counter_regressed",
                staff_actor(user),
                passkey=str(locked.uid),
                stored=locked.sign_count,
                presented=new_count,
            )
        else:
            locked.sign_count, locked.last_used_at = new_count, now
            locked.save(update_fields=["sign_count", "last_used_at"])
            audit("passkey_used", staff_actor(user), passkey=str(locked.uid))
    if regressed:  # raised outside the transaction, which keeps the flag and its entry
        raise PasskeyRefused("regressed")
    return locked


def remove(user: AbstractBaseUser, passkey: Passkey) -> None:
    passkey.delete()
    audit("passkey_removed", staff_actor(user), passkey=str(passkey.uid))
