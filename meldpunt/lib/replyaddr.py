"""Keyed sub-addresses of the security contact, checked in constant time.

- Reply addresses, one per report: security+mp-2026-0042.<tag>@example.org. Replies to mail
  about a report go there, so they reach the report without guessing.
- Return paths (VERP), one per outbound mail: security+bounce-<uid>.<tag>@example.org, the
  envelope sender. A non-delivery report goes to it, so it names the mail that failed even
  when it quotes nothing of it.

The tag is a keyed hash of what the address names (its own key per kind), so nobody can make
up the address of a report or mail they were not written from. With sub-addressing the mail
server delivers all of them to the security contact's own mailbox.
"""

from __future__ import annotations

import base64
import hmac

from django.conf import settings

from meldpunt.lib import crypto

TAG_CHARS = 16  # 80 bits of base32
BOUNCE_PREFIX = "bounce-"


def _tag(purpose: str, value: str) -> str:
    digest = crypto.load_keyring().index(purpose, value)
    return base64.b32encode(digest).decode().lower()[:TAG_CHARS]


def _address(part: str, tag: str) -> str:
    """The contact's address with `<part>.<tag>` as its sub-address (or itself, without)."""
    contact: str = settings.MELDPUNT_SECURITY_CONTACT
    separator: str = settings.MELDPUNT_REPLY_SEPARATOR
    if not separator:
        return contact
    local, _, domain = contact.rpartition("@")
    return f"{local}{separator}{part}.{tag}@{domain}"


def _sub_address(address: str, prefix: str = "") -> tuple[str, str] | None:
    """(part, tag) of one of our sub-addresses whose part starts with `prefix`, else None."""
    separator: str = settings.MELDPUNT_REPLY_SEPARATOR
    contact: str = settings.MELDPUNT_SECURITY_CONTACT
    if not separator:
        return None
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    own_local, _, own_domain = contact.lower().rpartition("@")
    start = own_local + separator + prefix
    if domain != own_domain or not local.startswith(start):
        return None
    part, _, tag = local[len(start) :].rpartition(".")
    if not part or len(tag) != TAG_CHARS:
        return None
    return part, tag


def _reply_tag(reference: str) -> str:
    return _tag("reply-address", reference.upper())


def reply_address(reference: str) -> str:
    """The address replies to mail about the report with this reference should go to."""
    return _address(reference.lower(), _reply_tag(reference))


def reference_for_address(address: str) -> str | None:
    """The reference whose reply address this is, or None (also for a wrong or missing tag)."""
    found = _sub_address(address)
    if found is None:
        return None
    reference, tag = found
    if not hmac.compare_digest(tag.encode(), _reply_tag(reference).encode()):
        return None
    return reference


def _bounce_tag(token: str) -> str:
    return _tag("return-path", token.lower())


def bounce_address(token: str) -> str:
    """The envelope sender for the outbound mail with this token (its uid in hex)."""
    return _address(BOUNCE_PREFIX + token.lower(), _bounce_tag(token))


def token_for_bounce_address(address: str) -> str | None:
    """The token of the outbound mail whose return path this is, or None (also for a bad tag)."""
    found = _sub_address(address, BOUNCE_PREFIX)
    if found is None:
        return None
    token, tag = found
    if not hmac.compare_digest(tag.encode(), _bounce_tag(token).encode()):
        return None
    return token
