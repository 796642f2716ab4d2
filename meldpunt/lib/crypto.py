"""Envelope encryption of everything a finder sends (AES-256-GCM).

Every sealed value gets its own random data key. The data key is wrapped by a
master key from the key file (never stored in the database), and both the data
and the wrapped key are authenticated with an *associated data* string naming
the row and field the value belongs to, so a ciphertext copied into another
row or column fails to open instead of showing the wrong report.

Blob layout (all lengths fixed except the key id):
    b"MP1" | len(key_id) | key_id | wrap_nonce(12) | wrapped_key(48) | nonce(12) | ciphertext+tag
Rotation re-wraps the data key only; the ciphertext after it never changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

MAGIC = b"MP1"
NONCE_LEN = 12
WRAPPED_LEN = 32 + 16


class KeyFileError(Exception):
    """The key file is missing, unreadable or malformed."""


class DecryptionError(Exception):
    """A blob did not open: wrong key, wrong row, or tampered."""


@dataclass(frozen=True)
class Keyring:
    primary: str
    master_keys: dict[str, bytes]
    index_key: bytes

    def seal(self, plaintext: bytes, aad: str) -> bytes:
        ad = aad.encode()
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_LEN)
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, ad)
        return self._wrap(self.primary, data_key, ad) + nonce + ciphertext

    def open(self, blob: bytes, aad: str) -> bytes:
        ad = aad.encode()
        data_key, offset = self._unwrap(blob, ad)
        nonce = blob[offset : offset + NONCE_LEN]
        try:
            return AESGCM(data_key).decrypt(nonce, blob[offset + NONCE_LEN :], ad)
        except InvalidTag as exc:
            raise DecryptionError("ciphertext does not belong here or was altered") from exc

    def rewrap(self, blob: bytes, aad: str) -> bytes:
        """Re-wrap the data key under the primary master key; the data stays as it is."""
        ad = aad.encode()
        data_key, offset = self._unwrap(blob, ad)
        return self._wrap(self.primary, data_key, ad) + blob[offset:]

    def key_id_of(self, blob: bytes) -> str:
        if blob[:3] != MAGIC:
            raise DecryptionError("not a Meldpunt blob")
        return blob[4 : 4 + blob[3]].decode()

    def index(self, purpose: str, value: str) -> bytes:
        """Keyed hash for looking up secrets (receipt codes) and blind indexes."""
        return hmac.new(self.index_key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()

    def _wrap(self, key_id: str, data_key: bytes, ad: bytes) -> bytes:
        wrap_nonce = os.urandom(NONCE_LEN)
        wrapped = AESGCM(self.master_keys[key_id]).encrypt(wrap_nonce, data_key, ad)
        kid = key_id.encode()
        return MAGIC + bytes([len(kid)]) + kid + wrap_nonce + wrapped

    def _unwrap(self, blob: bytes, ad: bytes) -> tuple[bytes, int]:
        key_id = self.key_id_of(blob)
        master = self.master_keys.get(key_id)
        if master is None:
            raise DecryptionError(f"master key {key_id!r} is not in the key file")
        start = 4 + len(key_id.encode())
        wrap_nonce = blob[start : start + NONCE_LEN]
        wrapped = blob[start + NONCE_LEN : start + NONCE_LEN + WRAPPED_LEN]
        try:
            data_key = AESGCM(master).decrypt(wrap_nonce, wrapped, ad)
        except InvalidTag as exc:
            raise DecryptionError("ciphertext does not belong here or was altered") from exc
        return data_key, start + NONCE_LEN + WRAPPED_LEN


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def new_key_id() -> str:
    return "k" + secrets.token_hex(4)


def create_key_file(path: Path) -> None:
    """Write a fresh key file readable by its owner only; never overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_id = new_key_id()
    doc = {
        "version": 1,
        "primary": key_id,
        "master_keys": {key_id: _b64(AESGCM.generate_key(bit_length=256))},
        "index_key": _b64(secrets.token_bytes(32)),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2)


def add_master_key(path: Path) -> str:
    """Add a new master key and make it primary; the old ones stay for opening."""
    doc = _read_doc(path)
    key_id = new_key_id()
    doc["master_keys"][key_id] = _b64(AESGCM.generate_key(bit_length=256))
    doc["primary"] = key_id
    _replace_doc(path, doc)
    return key_id


def retire_master_keys(path: Path, keep: str) -> list[str]:
    doc = _read_doc(path)
    retired = [k for k in doc["master_keys"] if k != keep]
    doc["master_keys"] = {keep: doc["master_keys"][keep]}
    doc["primary"] = keep
    _replace_doc(path, doc)
    return retired


def _replace_doc(path: Path, doc: dict[str, Any]) -> None:
    # Write-then-rename so a crash never leaves a half-written key file.
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    load_keyring.cache_clear()


def _read_doc(path: Path) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise KeyFileError(f"key file {path} does not exist; run `meldpunt init`") from exc
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"key file {path} cannot be read: {exc.__class__.__name__}") from exc
    return doc


def parse_key_file(path: Path) -> Keyring:
    doc = _read_doc(path)
    try:
        keys = {kid: base64.b64decode(v, validate=True) for kid, v in doc["master_keys"].items()}
        index_key = base64.b64decode(doc["index_key"], validate=True)
        primary = str(doc["primary"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise KeyFileError(f"key file {path} is malformed") from exc
    if primary not in keys:
        raise KeyFileError(f"key file {path}: primary key {primary!r} is missing")
    if any(len(k) != 32 for k in keys.values()) or len(index_key) < 32:
        raise KeyFileError(f"key file {path}: every key must be 32 bytes")
    return Keyring(primary=primary, master_keys=keys, index_key=index_key)


def key_file_is_private(path: Path) -> bool:
    mode = path.stat().st_mode
    return not mode & (stat.S_IRWXG | stat.S_IRWXO)


@lru_cache(maxsize=1)
def load_keyring() -> Keyring:
    return parse_key_file(Path(settings.MELDPUNT_KEY_FILE))


def seal_json(value: dict[str, Any], aad: str) -> bytes:
    return load_keyring().seal(json.dumps(value, separators=(",", ":")).encode(), aad)


def open_json(blob: bytes | memoryview, aad: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(load_keyring().open(bytes(blob), aad))
    return data
