"""The packets inside an encrypted OpenPGP message, so that a signature in them can be checked.

GnuPG signs and encrypts into one compressed packet by default. pysequoia (0.1.35) decrypts
that, but its signature check accepts no compression layer below the encryption and fails
("Unexpected message structure"), while it checks the same signed, compressed packets
fine when they come without encryption. So for such a message the encryption layer is
opened here, with the organisation's key, and the packets inside go to pysequoia's
`verify`. Only what GnuPG and Sequoia send to our keys is handled: a v3 PKESK to a
Curve25519 (ECDH) subkey, and a SEIPD v1 packet (CFB with a SHA-1 MDC) with AES; anything
else gives None and the message stays "signed, but not checked". pysequoia has decrypted
the same message already, so nothing here decides whether a message is readable.
"""

from __future__ import annotations

import hashlib
import hmac

import pysequoia
from cryptography.hazmat.decrepit.ciphers.modes import CFB  # OpenPGP's own mode (SEIPD v1)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

CURVE25519_OID = bytes.fromhex("2b060104019755010501")
ECDH = 18
AES_KEY_BYTES = {7: 16, 8: 24, 9: 32}  # OpenPGP symmetric algorithm ids
HASHES = {8: "sha256", 9: "sha384", 10: "sha512"}


class _Unsupported(Exception):
    pass


def _mpi(data: bytes, at: int) -> tuple[bytes, int]:
    bits = int.from_bytes(data[at : at + 2], "big")
    end = at + 2 + (bits + 7) // 8
    if end > len(data):
        raise _Unsupported("short MPI")
    return data[at + 2 : end], end


class _EcdhKey:
    """A Curve25519 ECDH secret subkey, read from its (unencrypted) packet body."""

    def __init__(self, body: bytes, fingerprint: str) -> None:
        if len(body) < 8 or body[0] != 4 or body[5] != ECDH:
            raise _Unsupported("not a v4 ECDH key")
        oid_len = body[6]
        oid = body[7 : 7 + oid_len]
        if oid != CURVE25519_OID:
            raise _Unsupported("not Curve25519")
        point, at = _mpi(body, 7 + oid_len)
        kdf = body[at : at + 1 + body[at]]
        at += 1 + body[at]
        if len(kdf) != 4 or kdf[1] != 1 or body[at] != 0:  # S2K usage 0: not encrypted
            raise _Unsupported("unexpected KDF parameters or protected key")
        secret, _end = _mpi(body, at + 1)
        self.public = point[1:]
        self.hash, self.kek = HASHES.get(kdf[2]), AES_KEY_BYTES.get(kdf[3])
        if self.hash is None or self.kek is None or len(self.public) != 32:
            raise _Unsupported("unknown KDF algorithms")
        # OpenPGP stores the X25519 scalar as a big-endian MPI; which byte order a key
        # uses has varied between implementations, so the one matching the public key wins.
        padded = secret.rjust(32, b"\0")
        for candidate in (padded[::-1], padded):
            key = X25519PrivateKey.from_private_bytes(candidate)
            if key.public_key().public_bytes_raw() == self.public:
                self.private = key
                break
        else:
            raise _Unsupported("secret does not fit the public key")
        self.param = (
            bytes([oid_len])
            + oid
            + bytes([ECDH])
            + kdf
            + b"Anonymous Sender    "
            + bytes.fromhex(fingerprint)
        )

    def session_key(self, pkesk: bytes) -> tuple[int, bytes]:
        ephemeral, at = _mpi(pkesk, 10)
        wrapped = pkesk[at + 1 : at + 1 + pkesk[at]]
        if len(ephemeral) != 33 or ephemeral[0] != 0x40:
            raise _Unsupported("not a Curve25519 point")
        shared = self.private.exchange(X25519PublicKey.from_public_bytes(ephemeral[1:]))
        digest = hashlib.new(str(self.hash), b"\0\0\0\1" + shared + self.param).digest()
        padded = aes_key_unwrap(digest[: self.kek], wrapped)
        unpadded = padded[: -padded[-1]]
        algorithm, key, checksum = unpadded[0], unpadded[1:-2], unpadded[-2:]
        if sum(key) % 65536 != int.from_bytes(checksum, "big"):
            raise _Unsupported("session key checksum")
        return algorithm, key


def _seipd_v1(body: bytes, algorithm: int, key: bytes) -> bytes:
    if not body or body[0] != 1 or AES_KEY_BYTES.get(algorithm) != len(key):
        raise _Unsupported("not SEIPD v1 with AES")
    decryptor = Cipher(algorithms.AES(key), CFB(b"\0" * 16)).decryptor()
    plain = decryptor.update(body[1:]) + decryptor.finalize()
    prefix, packets, mdc = plain[:18], plain[18:-22], plain[-22:]
    if prefix[14:16] != prefix[16:18] or mdc[:2] != b"\xd3\x14":
        raise _Unsupported("wrong session key")
    if not hmac.compare_digest(hashlib.sha1(prefix + packets + mdc[:2]).digest(), mdc[2:]):  # noqa: S324  # nosec B324 (SHA-1 is what the MDC is)
        raise _Unsupported("modified message")
    return packets


def inner_packets(message: bytes, tsk: pysequoia.Tsk) -> bytes | None:
    """The packets inside `message` (armored or binary) encrypted to `tsk`, or None."""
    try:
        packets = list(pysequoia.packet.PacketPile.from_bytes(message))
        keys: dict[str, _EcdhKey] = {}
        for packet in pysequoia.packet.PacketPile.from_bytes(bytes(tsk)):
            if packet.tag == pysequoia.packet.Tag.SecretSubkey and packet.key_id:
                try:
                    keys[packet.key_id.upper()] = _EcdhKey(packet.body, str(packet.fingerprint))
                except _Unsupported:
                    continue
        body = next(p.body for p in packets if p.tag == pysequoia.packet.Tag.SEIP)
        for packet in packets:
            if packet.tag != pysequoia.packet.Tag.PKESK or packet.body[:1] != b"\3":
                continue
            wanted = packet.body[1:9].hex().upper()
            candidates: list[_EcdhKey | None] = (
                list(keys.values()) if wanted == "0" * 16 else [keys.get(wanted)]
            )
            for key in candidates:
                if key is None:
                    continue
                try:
                    return _seipd_v1(body, *key.session_key(packet.body))
                except Exception:  # noqa: S112  # nosec B112 (try the next key)
                    continue
    except Exception:  # hostile input: any failure means "cannot look inside"
        return None
    return None
