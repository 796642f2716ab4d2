"""The organisation's OpenPGP key: create, import, roll over, and use it (pysequoia).

The secret key lives in the database sealed like report data (so a dump alone does not
give it away); the newest key is the primary one that signs and that finders encrypt to.
Older keys stay after a rollover so mail encrypted to them can still be read.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from email.utils import parseaddr

import pysequoia
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from meldpunt.audit.log import append as audit
from meldpunt.lib import pgp, pgp_inner
from meldpunt.policy.models import OrgKey

MAX_SECRET_KEY_BYTES = 256 * 1024


class NoOrgKey(Exception):
    """No organisation key exists yet; `meldpunt init` or `meldpunt keys create` makes one."""


class KeyImportError(Exception):
    """The secret key cannot be used as the organisation key; the message says why."""


@dataclass(frozen=True)
class LoadedKey:
    fingerprint: str
    cert: pysequoia.Cert  # public part
    tsk: pysequoia.Tsk  # with secrets


_lock = threading.Lock()
_cache: dict[str, LoadedKey] = {}


def user_id() -> str:
    return f"{settings.MELDPUNT_ORG_NAME} Security <{settings.MELDPUNT_SECURITY_CONTACT}>"


def _store(tsk: pysequoia.Tsk, how: str) -> OrgKey:
    public = tsk.extract_certificate()
    key = OrgKey(
        fingerprint=public.fingerprint.upper(),
        created_at=timezone.now(),
        public_armored=str(public),
    )
    key.secret = {"armored": str(tsk)}
    with transaction.atomic():
        key.save()
        audit("org_key_added", "operator", fingerprint=key.fingerprint, how=how)
    return key


def create_key() -> OrgKey:
    """A new v4 Curve25519 key (pysequoia's default profile, readable by GnuPG 2.2); primary."""
    return _store(pysequoia.Tsk.generate(user_id()), "created")


def import_key(data: bytes) -> OrgKey:
    """Import an existing secret key, after checking it can sign and decrypt; primary."""
    if len(data) > MAX_SECRET_KEY_BYTES:
        raise KeyImportError("the file is too large to be an OpenPGP secret key")
    try:
        tsk = pysequoia.Tsk.from_bytes(data)
    except Exception as exc:  # pysequoia raises plain exceptions with Sequoia's message
        raise KeyImportError("the file is not an OpenPGP secret key") from exc
    # pysequoia reads a public key as a Tsk too; only its armor label tells them apart.
    if not str(tsk).startswith("-----BEGIN PGP PRIVATE KEY BLOCK-----"):
        raise KeyImportError(
            "the file holds only a public key; export the secret key "
            "(e.g. `gpg --export-secret-keys --armor …`)"
        )
    public = tsk.extract_certificate()
    if public.is_revoked:
        raise KeyImportError("the key is revoked")
    if public.expiration is not None and public.expiration <= timezone.now():
        raise KeyImportError("the key has expired")
    if OrgKey.objects.filter(fingerprint=public.fingerprint.upper()).exists():
        raise KeyImportError(f"key {public.fingerprint.upper()} is already imported")
    _check_usable(tsk, public)
    try:
        return _store(tsk, "imported")
    except IntegrityError as exc:  # imported by someone else in the meantime
        raise KeyImportError(f"key {public.fingerprint.upper()} is already imported") from exc


def _check_usable(tsk: pysequoia.Tsk, public: pysequoia.Cert) -> None:
    try:
        probe = pysequoia.encrypt(b"probe", recipients=[public], signer=tsk.signer())
        pysequoia.decrypt(probe, decryptor=tsk.decryptor())
    except Exception as exc:
        # Only Sequoia's first line: the rest is a Rust backtrace.
        if "encrypted" in str(exc).split("\n", 1)[0]:
            # The service has no one to ask for a password at run time.
            raise KeyImportError(
                "the key is protected by a password; remove it first "
                "(e.g. `gpg --edit-key … passwd` with an empty new password)"
            ) from exc
        raise KeyImportError("the key cannot both sign and decrypt") from exc


def _load(key: OrgKey) -> LoadedKey:
    with _lock:
        loaded = _cache.get(key.fingerprint)
        if loaded is None:
            tsk = pysequoia.Tsk.from_bytes(str(key.secret["armored"]).encode())
            loaded = LoadedKey(key.fingerprint, tsk.extract_certificate(), tsk)
            _cache[key.fingerprint] = loaded
        return loaded


def primary() -> LoadedKey:
    key = OrgKey.objects.first()
    if key is None:
        raise NoOrgKey("no organisation OpenPGP key; run `meldpunt keys create`")
    return _load(key)


def primary_record() -> OrgKey:
    key = OrgKey.objects.first()
    if key is None:
        raise NoOrgKey("no organisation OpenPGP key; run `meldpunt keys create`")
    return key


def all_keys() -> list[LoadedKey]:
    """Every key, newest first: the ones a message to us may have been encrypted to."""
    # Each mail asks: read only which keys exist, and the sealed secret of a key not yet loaded.
    found = list(OrgKey.objects.values_list("pk", "fingerprint"))
    with _lock:
        loaded = [_cache.get(fingerprint) for _pk, fingerprint in found]
    if all(loaded):
        return [k for k in loaded if k is not None]
    rows = OrgKey.objects.in_bulk([pk for pk, _f in found])
    return [_load(rows[pk]) for pk, _f in found if pk in rows]


def public_armored() -> str:
    """The primary public key, ASCII-armored, as /pgp-key.asc and the auto-reply give it."""
    return primary_record().public_armored


def fingerprint() -> str:
    return primary_record().fingerprint


def public_binary() -> bytes:
    """The primary public key without armor, as the Web Key Directory serves it."""
    return bytes(primary().cert)


def names_contact(cert: pysequoia.Cert) -> bool:
    """Whether a user ID carries the security contact address (WKD clients look for it)."""
    wanted = settings.MELDPUNT_SECURITY_CONTACT.lower()
    return any(parseaddr(str(uid))[1].lower() == wanted for uid in cert.user_ids)


def sign_cleartext(text: str) -> str:
    """An OpenPGP cleartext-signed version of text (for security.txt)."""
    signed: bytes = pysequoia.sign(
        primary().tsk.signer(), text.encode(), mode=pysequoia.SignatureMode.CLEAR
    )
    return signed.decode()


def encrypt_and_sign(data: bytes, recipient: pysequoia.Cert) -> bytes:
    """An armored OpenPGP message to recipient (and to us, so the team can read it back)."""
    key = primary()
    out: bytes = pysequoia.encrypt(data, recipients=[recipient, key.cert], signer=key.tsk.signer())
    return out


@dataclass(frozen=True)
class Opened:
    """A decrypted message and what we could tell about its signature.

    signature: "none" (unsigned), "good" (by one of the finder's keys, see signers),
    "unknown_key" (signed, but not by a key we know for this finder), "bad" (signed by a
    known key but it does not verify), "unverifiable" (signed inside a compressed layer,
    which pysequoia 0.1.35 cannot check; GnuPG compresses by default).
    """

    plaintext: bytes
    signature: str
    signers: tuple[str, ...] = ()


def decrypt(data: bytes, senders: list[pysequoia.Cert] | None = None) -> Opened:
    """Decrypt with any of our keys; check a signature against the finder's keys (senders).

    Raises ValueError when none of our keys opens the message.
    """
    last: Exception | None = None
    for key in all_keys():
        try:
            result = pysequoia.decrypt(data, decryptor=key.tsk.decryptor())
        except Exception as exc:  # wrong key or broken packets
            last = exc
            continue
        return _check_signature(data, key, bytes(result.bytes or b""), senders or [])
    raise ValueError("none of the organisation's keys opens this message") from last


def _check_signature(
    data: bytes, key: LoadedKey, plaintext: bytes, senders: list[pysequoia.Cert]
) -> Opened:
    # pysequoia fails the whole decryption when a store is given and no signature checks
    # out, so the signature is checked in a second pass; whether the store was asked
    # for keys at all tells an unsigned message from a signed one.
    asked: list[str] = []

    def store(key_ids: list[str]) -> list[pysequoia.Cert]:
        asked.extend(str(k).upper() for k in key_ids)
        return senders

    try:
        result = pysequoia.decrypt(data, decryptor=key.tsk.decryptor(), store=store)
    except Exception as exc:
        if not asked:
            return Opened(plaintext, "none")
        if "Unexpected message structure" in str(exc):
            # A signature inside a compressed layer (GnuPG's default): check it on the
            # packets inside the encryption, where pysequoia accepts that layer.
            inner = pgp_inner.inner_packets(data, key.tsk)
            verified = pgp.verify_message(inner, senders) if inner else None
            if verified is None:
                return Opened(plaintext, "unverifiable")
            if verified.signature == "good" and not hmac.compare_digest(
                verified.content, plaintext
            ):
                # The signature must vouch for the text we show, not for other packets.
                return Opened(plaintext, "unverifiable")
            return Opened(plaintext, verified.signature, verified.signers)
        known = {c.fingerprint.upper() for c in senders}
        known_ids = {fp[-16:] for fp in known}
        if any(k in known or k[-16:] in known_ids for k in asked):
            return Opened(plaintext, "bad")
        return Opened(plaintext, "unknown_key")
    signers = tuple(sorted({str(s.certificate).upper() for s in result.valid_sigs}))
    return Opened(plaintext, "good" if signers else "none", signers)
