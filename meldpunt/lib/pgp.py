"""Checks on OpenPGP keys that finders give us (pysequoia does the parsing)."""

from __future__ import annotations

import re
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


# --- Mail: detached signatures (RFC 3156) and finder keys -------------------------------

# "partial": a good signature over a block, with unsigned text around it in the same mail.
SIGNATURE_RESULTS = ("none", "good", "partial", "unknown_key", "bad", "unverifiable")


@dataclass(frozen=True)
class Verified:
    """What a signature proves: a result from SIGNATURE_RESULTS and the signing certificates."""

    signature: str
    signers: tuple[str, ...] = ()
    # What the good signature covers (the literal data pysequoia verified), else b"".
    content: bytes = b""


def certs_from(armored: list[str]) -> list[pysequoia.Cert]:
    """The certificates in these armored keys; unreadable ones are skipped."""
    certs: list[pysequoia.Cert] = []
    for text in armored:
        try:
            certs.extend(pysequoia.Cert.split_bytes(text.encode("utf-8", "replace")))
        # A broken stored key only means "not known".
        except Exception:  # noqa: S112  # nosec B112
            continue
    return certs


def key_ids(cert: pysequoia.Cert) -> set[str]:
    """Fingerprints and key ids of the primary key and every subkey, upper case."""
    ids: set[str] = set()
    for packet in pysequoia.packet.PacketPile.from_bytes(bytes(cert)):
        fpr = packet.fingerprint
        if fpr:
            ids.update({fpr.upper(), fpr.upper()[-16:]})
    return ids


def verify_detached(data: bytes, signature: bytes, senders: list[pysequoia.Cert]) -> Verified:
    """Check a detached signature over data against the finder's known keys."""
    try:
        sig = pysequoia.Sig.from_bytes(signature)
    except Exception:  # not a signature packet at all
        return Verified("bad")
    issuer = {i.upper() for i in (sig.issuer_fingerprint, sig.issuer_key_id) if i}
    known = any(issuer & key_ids(cert) for cert in senders)
    if not known:
        return Verified("unknown_key")
    try:
        result = pysequoia.verify(bytes=data, store=lambda _ids: senders, signature=sig)
    except Exception:  # pysequoia raises when no signature verifies
        return Verified("bad")
    signers = tuple(sorted({str(s.certificate).upper() for s in result.valid_sigs}))
    return Verified("good", signers, bytes(result.bytes or b"")) if signers else Verified("bad")


def verify_message(data: bytes, senders: list[pysequoia.Cert]) -> Verified | None:
    """Check a signed message (cleartext-signed, or signed packets) against the finder's keys.

    None when pysequoia finds no signature to check in it at all.
    """
    asked: set[str] = set()

    def store(ids: list[str]) -> list[pysequoia.Cert]:
        asked.update(str(i).upper() for i in ids)
        return senders

    try:
        result = pysequoia.verify(bytes=data, store=store)
    except Exception:  # pysequoia raises when no signature verifies
        if not asked:
            return None
        known = set().union(*(key_ids(cert) for cert in senders))
        return Verified("bad" if asked & known else "unknown_key")
    signers = tuple(sorted({str(s.certificate).upper() for s in result.valid_sigs}))
    return Verified("good", signers, bytes(result.bytes or b"")) if signers else Verified("bad")


CLEARSIGNED = re.compile(
    rb"-----BEGIN PGP SIGNED MESSAGE-----\r?\n.*?\r?\n-----END PGP SIGNATURE-----", re.DOTALL
)


def cleartext(block: bytes) -> bytes:
    """The text of a cleartext-signed block (RFC 9580 7.1): no headers, dash-escaping undone."""
    parts = re.split(rb"\r?\n\r?\n", block, maxsplit=1)
    rest = parts[1] if len(parts) == 2 else b""
    text = rest.split(b"-----BEGIN PGP SIGNATURE-----", 1)[0]
    lines = [line[2:] if line.startswith(b"- ") else line for line in text.splitlines()]
    return b"\n".join(lines).strip()
