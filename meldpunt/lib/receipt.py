"""Receipt codes: 100 random bits, shown once, kept only as a keyed hash."""

from __future__ import annotations

import hmac
import secrets

from meldpunt.lib.crypto import load_keyring

# Crockford's base32: no I, L, O or U, so a code read aloud or retyped survives.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS, GROUP_LEN = 5, 4  # 20 symbols x 5 bits = 100 bits
_CONFUSABLE = str.maketrans({"I": "1", "L": "1", "O": "0", "U": "V"})


def _format(symbols: str) -> str:
    return "-".join(symbols[i : i + GROUP_LEN] for i in range(0, len(symbols), GROUP_LEN))


def new_code() -> str:
    return _format("".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LEN)))


def code_from_seed(seed: bytes) -> str:
    """Derive a code from a secret seed, so a retried submission shows the same receipt."""
    digest = hmac.new(load_keyring().index_key, b"receipt-seed\0" + seed, "sha256").digest()
    number = int.from_bytes(digest[:13], "big") >> 4  # 100 bits
    symbols = "".join(ALPHABET[(number >> (5 * i)) & 31] for i in range(GROUPS * GROUP_LEN))
    return _format(symbols)


def normalise(code: str) -> str | None:
    """Uppercase, drop separators and spaces, map look-alike letters; None if not a code."""
    cleaned = "".join(ch for ch in code.upper() if ch not in " -\t\r\n").translate(_CONFUSABLE)
    if len(cleaned) != GROUPS * GROUP_LEN or any(ch not in ALPHABET for ch in cleaned):
        return None
    return _format(cleaned)


def digest(code: str) -> bytes:
    return load_keyring().index("receipt", code)
