"""A value sealed in pieces, so a large file is stored and read without holding it whole.

Every piece is sealed on its own (crypto.Keyring.seal: its own data key) with associated
data naming the value, the piece's index and whether it is the last. Opening the pieces in
order therefore refuses a piece from another value, two pieces swapped, and a value cut
short (the piece that now ends it does not say it is the last), as well as any altered byte.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from meldpunt.lib import crypto

CHUNK_SIZE = 512 * 1024


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
        yield index, keyring.seal(piece, chunk_aad(name, index, index == count - 1))


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
