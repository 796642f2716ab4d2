"""What the world fetches without a session: the public key, WKD, and security.txt."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from meldpunt.lib import diskcopy
from meldpunt.policy import keys, securitytxt

log = logging.getLogger(__name__)

# Short, so that a rollover or a configuration change reaches everyone within minutes.
MAX_AGE = 300
ZBASE32 = "ybndrfg8ejkmcpqxot1uwisza345h769"


def zbase32(data: bytes) -> str:
    """z-base-32 (as WKD uses it): 5 bits per character, most significant first."""
    nbits = len(data) * 8
    pad = -nbits % 5
    value = int.from_bytes(data, "big") << pad
    count = (nbits + pad) // 5
    return "".join(ZBASE32[(value >> (5 * (count - 1 - i))) & 31] for i in range(count))


def wkd_hash(address: str) -> str:
    """The WKD file name for an address: z-base-32 of SHA-1 of the lower-cased local part."""
    local = address.rsplit("@", 1)[0]
    # GnuPG lower-cases ASCII only; bytes.lower() does the same.
    # SHA-1 is what the WKD specification prescribes for the file name, not a security choice.
    return zbase32(hashlib.sha1(local.encode().lower(), usedforsecurity=False).digest())


def _unavailable() -> HttpResponse:
    return HttpResponse(
        _("The organisation's OpenPGP key is not set up yet. Please try again later.") + "\n",
        status=503,
        content_type="text/plain; charset=utf-8",
    )


def _public(response: HttpResponse, cross_origin: bool = False) -> HttpResponse:
    patch_cache_control(response, public=True, max_age=MAX_AGE)
    if cross_origin:
        # Web-based OpenPGP clients fetch WKD from other origins (the WKD draft asks for this).
        response["Access-Control-Allow-Origin"] = "*"
        response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def _from_database_or_copy(name: str, read: Callable[[], bytes | None]) -> bytes | None:
    """What `read` gives (kept on disk as well), or the kept copy while the database is down."""
    try:
        data = read()
    except DatabaseError:
        data = diskcopy.last(name)
        if data is None:
            raise  # nothing kept yet: the calm 503 page
        log.warning("database unavailable: served %s from the local copy", name)
        return data
    if data is not None:
        diskcopy.keep(name, data)
    return data


def _armored_key() -> bytes | None:
    try:
        return keys.public_armored().encode()
    except keys.NoOrgKey:
        return None


def _binary_key() -> bytes | None:
    try:
        return keys.public_binary()
    except keys.NoOrgKey:
        return None


@require_safe
def pgp_key(request: HttpRequest) -> HttpResponse:
    armored = _from_database_or_copy("pgp-key.asc", _armored_key)
    if armored is None:
        return _unavailable()
    response = HttpResponse(armored, content_type="application/pgp-keys")
    name = slugify(settings.MELDPUNT_ORG_NAME) or "organisation"
    response["Content-Disposition"] = f'inline; filename="{name}-security.asc"'
    return _public(response)


@require_safe
def wkd_key(request: HttpRequest, local_hash: str) -> HttpResponse:
    # Only the security contact is published here; other addresses are not ours to answer.
    if local_hash != wkd_hash(settings.MELDPUNT_SECURITY_CONTACT):
        raise Http404
    data = _from_database_or_copy("wkd-key", _binary_key)
    if data is None:
        raise Http404
    return _public(HttpResponse(data, content_type="application/octet-stream"), cross_origin=True)


@require_safe
def wkd_policy(request: HttpRequest) -> HttpResponse:
    # An empty policy file says "this domain takes part in WKD, with no special rules".
    return _public(HttpResponse(b"", content_type="text/plain; charset=utf-8"), cross_origin=True)


def _signed_security_txt() -> bytes | None:
    text = securitytxt.signed_text()
    return text.encode() if text is not None else None


@require_safe
def security_txt(request: HttpRequest) -> HttpResponse:
    try:
        securitytxt.renew_if_due()
    except DatabaseError:
        # The stored text is still valid for RENEW_DAYS; the worker will renew it.
        log.exception("could not renew security.txt; serving the stored one")
    signed = _from_database_or_copy("security.txt", _signed_security_txt)
    text = signed.decode() if signed is not None else None
    if text is None or securitytxt.expired(text):
        return _unavailable()
    return _public(HttpResponse(text, content_type="text/plain; charset=utf-8"))
