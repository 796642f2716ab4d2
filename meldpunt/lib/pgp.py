"""Checks on OpenPGP keys that finders give us (pysequoia does the parsing)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime

import pysequoia

MAX_KEY_BYTES = 64 * 1024


class KeyProblem(Exception):
    """The text is not a usable OpenPGP public key; the message says why, for the finder."""


@dataclass(frozen=True)
class PublicKey:
    fingerprint: str
    armored: str


def check_public_key(text: str) -> PublicKey:
    data = text.strip().encode("utf-8", "replace")
    if len(data) > MAX_KEY_BYTES:
        raise KeyProblem("too_large")
    try:
        certs = pysequoia.Cert.split_bytes(data)
    except Exception as exc:  # pysequoia raises RuntimeError with Sequoia's message
        raise KeyProblem("unreadable") from exc
    if len(certs) != 1:
        raise KeyProblem("unreadable" if not certs else "several")
    cert = certs[0]
    with warnings.catch_warnings():
        # pysequoia 0.1.35 deprecates Cert.has_secret_keys in favour of its Tsk type.
        warnings.simplefilter("ignore", DeprecationWarning)
        has_secret = cert.has_secret_keys
    if has_secret:
        raise KeyProblem("secret")
    if cert.is_revoked:
        raise KeyProblem("revoked")
    expiration = cert.expiration
    if expiration is not None and expiration <= datetime.now(UTC):
        raise KeyProblem("expired")
    try:
        # The only check that matters: can we encrypt to it under Sequoia's policy?
        pysequoia.encrypt(recipients=[cert], bytes=b"probe")
    except Exception as exc:
        raise KeyProblem("no_encryption") from exc
    return PublicKey(fingerprint=cert.fingerprint.upper(), armored=str(cert))
