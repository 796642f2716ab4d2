"""Where an attachment's sealed data lives: pieces in the database, or a file.

MELDPUNT_ATTACHMENT_STORE chooses where new attachments go; each row says where its own
data is (Attachment.in_database), so files stored before a switch stay readable.

In the database the data is sealed in pieces (lib.chunks), written in the transaction that
stores the attachment's row: there is no moment at which one exists without the other, and
several hosts need nothing but the database. A file is one sealed blob in the data
directory, written before that transaction (see services.kept_files).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from meldpunt.lib import chunks, crypto
from meldpunt.lib.storage import save_durably
from meldpunt.lib.uploads import SealingUploadHandler
from meldpunt.reports.models import Attachment, AttachmentChunk


class MoveError(Exception):
    """An attachment could not be moved: its data is missing or does not match its digest."""


def store_in_database() -> bool:
    return bool(settings.MELDPUNT_ATTACHMENT_STORE == "database")


class UploadHandler(SealingUploadHandler):
    """Web uploads (FILE_UPLOAD_HANDLERS): sealed while they arrive when they go into the
    database, so neither the whole file in clear nor any plaintext on disk is ever held."""

    def sealed_name(self, uid: uuid.UUID) -> str | None:
        return Attachment(uid=uid).data_aad if store_in_database() else None


def write_chunks(att: Attachment, data: bytes | memoryview) -> None:
    """Seal data into pieces of a saved attachment; call it in the transaction that saved it."""
    for index, blob in chunks.seal_chunks(data, att.data_aad):
        AttachmentChunk.objects.create(attachment=att, index=index, blob=blob)


def write_sealed(att: Attachment, spool: chunks.SealingSpool) -> None:
    """Store pieces sealed while the upload came in, one at a time, in the row's transaction."""
    if spool.name != att.data_aad:
        raise ValueError(f"attachment {att.uid}: its pieces were sealed for another value")
    for index, blob in spool.pieces():
        AttachmentChunk.objects.create(attachment=att, index=index, blob=blob)


def _pieces(att: Attachment) -> Iterator[tuple[int, bytes]]:
    # One piece per query: a large file never sits in memory whole, not even sealed.
    index = 0
    while True:
        found = list(
            AttachmentChunk.objects.filter(attachment_id=att.pk, index=index).values_list(
                "blob", flat=True
            )
        )
        if not found:
            return
        yield index, bytes(found[0])
        index += 1


def read_file(att: Attachment) -> bytes:
    with default_storage.open(att.storage_name, "rb") as fh:
        blob = fh.read()
    return crypto.load_keyring().open(blob, att.data_aad)


def stream(att: Attachment) -> Iterator[bytes]:
    """The plaintext in pieces; crypto.DecryptionError (or FileNotFoundError) if it is not whole."""
    if att.in_database:
        yield from chunks.open_chunks(_pieces(att), att.data_aad)
    else:
        yield read_file(att)


def first_piece(att: Attachment) -> Iterator[bytes]:
    """stream(), with its first piece opened already: a missing or broken start fails here."""
    pieces = stream(att)
    first = next(pieces, b"")

    def _all() -> Iterator[bytes]:
        yield first
        yield from pieces

    return _all()


def read(att: Attachment) -> bytes:
    return b"".join(stream(att))


def digest(att: Attachment) -> str:
    sha = hashlib.sha256()
    for piece in stream(att):
        sha.update(piece)
    return sha.hexdigest()


def rewrap(att: Attachment, keyring: crypto.Keyring) -> bool:
    """Re-wrap the data keys of an attachment stored in the database under the primary key."""
    indexes = list(
        AttachmentChunk.objects.filter(attachment=att).order_by("index").values_list("pk", "index")
    )
    changed = False
    with transaction.atomic():
        for pk, index in indexes:
            blob = bytes(AttachmentChunk.objects.values_list("blob", flat=True).get(pk=pk))
            if keyring.key_id_of(blob) == keyring.primary:
                continue
            aad = chunks.chunk_aad(att.data_aad, index, index == indexes[-1][1])
            AttachmentChunk.objects.filter(pk=pk).update(blob=keyring.rewrap(blob, aad))
            changed = True
    return changed


def _check(att: Attachment, plain_digest: str, copied: str) -> None:
    expected = str(att.meta.get("sha256") or plain_digest)
    if plain_digest != expected or copied != expected:
        raise MoveError(f"attachment {att.uid}: the copy does not match its SHA-256")


def move_to_database(pk: int) -> bool:
    """Move one attachment's file into the database, verified; False if it was there already.

    Committed on its own: an interrupted run leaves every attachment whole in one place,
    and running again continues. The file goes only after the commit.
    """
    with transaction.atomic():
        att = Attachment.objects.select_for_update().get(pk=pk)
        if att.in_database:
            name = ""
        else:
            try:
                plain = read_file(att)
            except FileNotFoundError as exc:
                raise MoveError(f"attachment {att.uid}: its file is missing") from exc
            source = hashlib.sha256(plain).hexdigest()
            write_chunks(att, plain)
            del plain
            att.in_database = True
            _check(att, source, digest(att))
            att.save(update_fields=["in_database"])
            name = att.storage_name
    # A file left by a run interrupted after its commit goes too (its row is in the database).
    default_storage.delete(att.storage_name)
    return bool(name)


def move_to_files(pk: int) -> bool:
    """Move one attachment from the database into a file, verified; False if it was a file."""
    with transaction.atomic():
        att = Attachment.objects.select_for_update().get(pk=pk)
        if not att.in_database:
            return False
        plain = read(att)
        source = hashlib.sha256(plain).hexdigest()
        blob = crypto.load_keyring().seal(plain, att.data_aad)
        del plain
        # A file left by an interrupted earlier run is replaced, under the same name.
        default_storage.delete(att.storage_name)
        saved = save_durably(default_storage, att.storage_name, blob)
        try:
            if saved != att.storage_name:
                raise MoveError(f"attachment {att.uid}: the storage renamed its file")
            att.in_database = False
            _check(att, source, digest(att))
            AttachmentChunk.objects.filter(attachment=att).delete()
            att.save(update_fields=["in_database"])
        except BaseException:
            default_storage.delete(saved)
            raise
    return True
