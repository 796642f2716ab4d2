"""/.well-known/security.txt (RFC 9116): generated from settings, signed, kept fresh.

The signed text is stored so that every web process serves the same bytes; it is signed
again when it is missing, when Expires comes within MELDPUNT_SECURITY_TXT_RENEW_DAYS, when
the settings it is made from change, or when the organisation key rolls over.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from meldpunt.policy import keys
from meldpunt.policy.models import SecurityTxt

log = logging.getLogger(__name__)


def _url(name: str) -> str:
    return f"{settings.MELDPUNT_BASE_URL}{reverse(name)}"


def _acknowledgments() -> list[str]:
    # Promise the hall of fame only where the page exists (a deployment may leave it out).
    try:
        return [f"Acknowledgments: {_url('advisories_public:hall_of_fame')}"]
    except NoReverseMatch:
        return []


# Field lines that other apps add (the advisories app: its CSAF line), each a function
# called whenever the body is built, so this module depends on none of them. A change in
# what they return changes the body, and the next renewal check signs it again.
FieldSource = Callable[[], list[str]]
_sources: list[FieldSource] = []


def add_fields(source: FieldSource) -> None:
    """Register a function that gives extra field lines (idempotent: apps may load twice)."""
    if source not in _sources:
        _sources.append(source)


def url(name: str) -> str | None:
    """The absolute URL of a named page, or None where this deployment does not route it."""
    try:
        return _url(name)
    except NoReverseMatch:
        return None


def fields() -> list[str]:
    """The field lines except Expires: from settings, plus what other apps add (`add_fields`)."""
    return [
        f"Contact: mailto:{settings.MELDPUNT_SECURITY_CONTACT}",
        f"Contact: {_url('report')}",
        f"Encryption: {_url('pgp_key')}",
        *_acknowledgments(),
        *(line for source in _sources for line in source()),
        f"Preferred-Languages: {', '.join(code for code, _name in settings.LANGUAGES)}",
        f"Canonical: {_url('security_txt')}",
        f"Policy: {_url('policy')}",
    ]


def body(expires_at: datetime) -> str:
    """The unsigned text: Contact first (RFC 9116's examples), Expires after it."""
    lines = fields()
    expires = expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines.insert(2, f"Expires: {expires}")
    return "\n".join(lines) + "\n"


def _digest() -> str:
    return hashlib.sha256("\n".join(fields()).encode()).hexdigest()


def _due(current: SecurityTxt | None, digest: str, fingerprint: str, now: datetime) -> bool:
    if current is None:
        return True
    renew_at = current.expires_at - timedelta(days=settings.MELDPUNT_SECURITY_TXT_RENEW_DAYS)
    return now >= renew_at or current.body_digest != digest or current.fingerprint != fingerprint


def renew_if_due(now: datetime | None = None) -> bool:
    """Sign a fresh security.txt if it is due; True if one was signed.

    Idempotent, and safe when several workers and web processes run it at once: the row
    is locked (or, while there is none, its unique slot decides) before signing.
    Without an organisation key there is nothing to sign with: False.
    """
    now = now or timezone.now()
    try:
        fingerprint = keys.fingerprint()
    except keys.NoOrgKey:
        return False
    digest = _digest()
    if not _due(SecurityTxt.objects.filter(slot=1).first(), digest, fingerprint, now):
        return False  # the common case, without taking a lock
    with transaction.atomic():
        current = SecurityTxt.objects.select_for_update().filter(slot=1).first()
        if not _due(current, digest, fingerprint, now):
            return False  # another process renewed it while we waited
        expires_at = now.replace(microsecond=0) + timedelta(
            days=settings.MELDPUNT_SECURITY_TXT_DAYS
        )
        values = {
            "signed": keys.sign_cleartext(body(expires_at)),
            "expires_at": expires_at,
            "body_digest": digest,
            "fingerprint": fingerprint,
            "signed_at": now,
        }
        if current is None:
            try:
                with transaction.atomic():
                    SecurityTxt.objects.create(slot=1, **values)
            except IntegrityError:
                return False  # another process created it first, from the same settings
        else:
            SecurityTxt.objects.filter(pk=current.pk).update(**values)
    log.info("signed security.txt with key %s until %s", fingerprint, expires_at.date())
    return True


def signed_text() -> str | None:
    """The stored signed security.txt, or None if there is none yet."""
    current = SecurityTxt.objects.filter(slot=1).first()
    return current.signed if current else None


EXPIRES_RE = re.compile(r"^Expires: (\S+)$", re.MULTILINE)


def expired(text: str, now: datetime | None = None) -> bool:
    """Is the Expires date of this (signed) text past? A text without one counts as expired."""
    found = EXPIRES_RE.search(text)
    if not found:
        return True
    try:
        expires = datetime.fromisoformat(found[1].replace("Z", "+00:00"))
    except ValueError:
        return True
    return expires <= (now or timezone.now())
