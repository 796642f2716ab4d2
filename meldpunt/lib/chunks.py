"""A value sealed in pieces, so a large file is stored and read without holding it whole.

Every piece is sealed on its own (crypto.Keyring.seal: its own data key) with associated
data naming the value, the piece's index and whether it is the last. Opening the pieces in
order therefore refuses a piece from another value, two pieces swapped, and a value cut
short (the piece that now ends it does not say it is the last), as well as any altered byte.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Iterator

from meldpunt.lib import crypto

CHUNK_SIZE = 512 * 1024
# Sealed pieces waiting to be stored stay in memory up to this size, then go to a temporary
# file: only ciphertext ever touches the disk.
SPOOL_MEMORY = 1024 * 1024


class ChunkError(crypto.DecryptionError):
    """The pieces do not make up the value: missing, re-ordered, cut short or altered."""


def chunk_aad(name: str, index: int, last: bool) -> str:
    return f"{name}:chunk:{index}:{'last' if last else 'more'}"


def seal_chunks(
    data: bytes | memoryview, name: str, size: int = CHUNK_SIZE
) -> Iterator[tuple[int, bytes]]:
    """(index, sealed piece) for each piece of data; one piece (possibly empty) at least."""
    keyring = crypto.load_keyring()
    view = memoryview(data)
    count = max(1, -(-len(view) // size))
    for index in range(count):
        piece = bytes(view[index * size : (index + 1) * size])
        yield index, seal_piece(keyring, piece, name, index, index == count - 1)


def seal_piece(keyring: crypto.Keyring, piece: bytes, name: str, index: int, last: bool) -> bytes:
    """One piece, sealed with its own data key (wrapped by the keyring) and its place."""
    return keyring.seal(piece, chunk_aad(name, index, last))


class SealingSpool:
    """A value sealed piece by piece as it arrives, the sealed pieces kept until stored.

    Whether a piece is the last is known only at finish(): one full piece of plaintext (plus
    the data that arrived after it) is held back so the final one can say so. The pieces
    are the same as seal_chunks() makes of the whole value. Size and SHA-256 of the
    plaintext are counted on the way. Close it (or use it as a context manager) when done.
    """

    def __init__(self, name: str, size: int = CHUNK_SIZE, spool: int = SPOOL_MEMORY) -> None:
        self.name = name
        self.size = 0
        self.count = 0
        self._piece = size
        self._keyring = crypto.load_keyring()
        self._pending = bytearray()
        self._sha = hashlib.sha256()
        self._file = tempfile.SpooledTemporaryFile(max_size=spool)  # noqa: SIM115 (closed in close)
        self._finished = False

    @property
    def pending(self) -> int:
        """How many bytes of plaintext are held, waiting to be sealed."""
        return len(self._pending)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def write(self, data: bytes) -> None:
        if self._finished:
            raise ValueError("this value is complete")
        self.size += len(data)
        self._sha.update(data)
        self._pending += data
        # Strictly more than a piece: only then is the piece known not to be the last.
        while len(self._pending) > self._piece:
            self._add(bytes(self._pending[: self._piece]), last=False)
            del self._pending[: self._piece]

    def finish(self) -> None:
        if not self._finished:
            self._add(bytes(self._pending), last=True)
            self._pending = bytearray()
            self._finished = True

    def _add(self, piece: bytes, last: bool) -> None:
        blob = seal_piece(self._keyring, piece, self.name, self.count, last)
        self._file.write(len(blob).to_bytes(4, "big"))
        self._file.write(blob)
        self.count += 1

    def pieces(self) -> Iterator[tuple[int, bytes]]:
        """(index, sealed piece), read back one at a time."""
        if not self._finished:
            raise ValueError("this value is not complete yet")
        self._file.seek(0)
        for index in range(self.count):
            length = int.from_bytes(self._file.read(4), "big")
            blob = self._file.read(length)
            if len(blob) != length:
                raise ChunkError("a sealed piece was cut short in its temporary file")
            yield index, blob

    def close(self) -> None:
        self._pending = bytearray()
        self._file.close()

    @property
    def closed(self) -> bool:
        return bool(self._file.closed)

    def __enter__(self) -> SealingSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_chunks(pieces: Iterable[tuple[int, bytes]], name: str) -> Iterator[bytes]:
    """The plaintext of each piece, in order; ChunkError as soon as something is wrong."""
    keyring = crypto.load_keyring()
    done = False
    for expected, (index, blob) in enumerate(pieces):
        if done or index != expected:
            raise ChunkError("the pieces of this value are not in order")
        # The last piece says so in its associated data; try "more" first (the common case).
        try:
            plain = keyring.open(bytes(blob), chunk_aad(name, index, False))
        except crypto.DecryptionError:
            try:
                plain = keyring.open(bytes(blob), chunk_aad(name, index, True))
            except crypto.DecryptionError as exc:
                raise ChunkError("a piece does not belong here or was altered") from exc
            done = True
        yield plain
    if not done:
        raise ChunkError("this value is cut short: its last piece is missing")
