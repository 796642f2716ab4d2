"""Per-report reply addresses: security+mp-2026-0042.<tag>@example.org.

The tag is a keyed hash of the reference, so nobody can make up the address of a report
they were not written from, and it is checked in constant time. With sub-addressing the
mail server delivers these to the security contact's own mailbox.
"""

from __future__ import annotations

import base64
import hmac

from django.conf import settings

from meldpunt.lib import crypto

TAG_CHARS = 16  # 80 bits of base32


def _tag(reference: str) -> str:
    digest = crypto.load_keyring().index("reply-address", reference.upper())
    return base64.b32encode(digest).decode().lower()[:TAG_CHARS]


def reply_address(reference: str) -> str:
    """The address replies to mail about the report with this reference should go to."""
    contact: str = settings.MELDPUNT_SECURITY_CONTACT
    separator: str = settings.MELDPUNT_REPLY_SEPARATOR
    if not separator:
        return contact
    local, _, domain = contact.rpartition("@")
    return f"{local}{separator}{reference.lower()}.{_tag(reference)}@{domain}"


def reference_for_address(address: str) -> str | None:
    """The reference whose reply address this is, or None (also for a wrong or missing tag)."""
    separator: str = settings.MELDPUNT_REPLY_SEPARATOR
    contact: str = settings.MELDPUNT_SECURITY_CONTACT
    if not separator:
        return None
    local, _, domain = address.strip().lower().rpartition("@")
    own_local, _, own_domain = contact.lower().rpartition("@")
    prefix = own_local + separator
    if domain != own_domain or not local.startswith(prefix):
        return None
    reference, _, tag = local[len(prefix) :].rpartition(".")
    if not reference or len(tag) != TAG_CHARS:
        return None
    if not hmac.compare_digest(tag.encode(), _tag(reference).encode()):
        return None
    return reference


# --- Return paths (VERP) --------------------------------------------------------------------
# Each outbound mail's envelope sender names that mail: security+bounce-<uid>.<tag>@example.org.
# A non-delivery report goes to the envelope sender, so it says which mail failed even when
# it quotes nothing of it. The tag is keyed like a reply address's, so a made-up return path
# cannot mark someone else's mail as bounced.

BOUNCE_PREFIX = "bounce-"


def _bounce_tag(token: str) -> str:
    digest = crypto.load_keyring().index("return-path", token.lower())
    return base64.b32encode(digest).decode().lower()[:TAG_CHARS]


def bounce_address(token: str) -> str:
    """The envelope sender for the outbound mail with this token (its uid in hex)."""
    contact: str = settings.MELDPUNT_SECURITY_CONTACT
    separator: str = settings.MELDPUNT_REPLY_SEPARATOR
    if not separator:
        return contact
    local, _, domain = contact.rpartition("@")
    return f"{local}{separator}{BOUNCE_PREFIX}{token.lower()}.{_bounce_tag(token)}@{domain}"


def token_for_bounce_address(address: str) -> str | None:
    """The token of the outbound mail whose return path this is, or None (also for a bad tag)."""
    separator: str = settings.MELDPUNT_REPLY_SEPARATOR
    contact: str = settings.MELDPUNT_SECURITY_CONTACT
    if not separator:
        return None
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    own_local, _, own_domain = contact.lower().rpartition("@")
    prefix = own_local + separator + BOUNCE_PREFIX
    if domain != own_domain or not local.startswith(prefix):
        return None
    token, _, tag = local[len(prefix) :].rpartition(".")
    if not token or len(tag) != TAG_CHARS:
        return None
    if not hmac.compare_digest(tag.encode(), _bounce_tag(token).encode()):
        return None
    return token
