"""Attachments stored in the database: sealed in pieces, streamed, moved to and fro."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from meldpunt.lib import chunks, crypto
from meldpunt.lib.uploads import IncomingFile
from meldpunt.reports import attachment_store, orphans, services
from meldpunt.reports.models import Attachment, AttachmentChunk, Report
from tests.conftest import sign_in, submit

pytestmark = pytest.mark.django_db

# Three and a bit pieces, and not a multiple of anything.
BIG = os.urandom(3 * chunks.CHUNK_SIZE + 12345)


@pytest.fixture
def in_database(settings: Any) -> None:
    settings.MELDPUNT_ATTACHMENT_STORE = "database"


@pytest.fixture
def in_files(settings: Any) -> None:
    settings.MELDPUNT_ATTACHMENT_STORE = "files"


def files_on_disk() -> list[Path]:
    root = Path(default_storage.path(""))
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def files_of(report: Report) -> list[str]:
    names = report.attachments.order_by("pk").values_list("storage_name", flat=True)
    return [n for n in names if default_storage.exists(n)]


def with_attachments(*contents: bytes) -> Report:
    sent = submit(Client())
    files = [IncomingFile(f"f{i}.bin", "text/plain", c) for i, c in enumerate(contents)]
    services.add_message(sent.report, "finder", "files", files)
    return sent.report


def test_it_streams_a_large_file_through_the_form_and_the_desk_in_pieces(
    in_database: None, alice: Any
) -> None:
    before = files_on_disk()
    sent = submit(Client(), files={"attachments": SimpleUploadedFile("big.bin", BIG)})
    att = sent.report.attachments.get()
    assert att.in_database
    assert files_on_disk() == before  # nothing in the data directory
    assert AttachmentChunk.objects.filter(attachment=att).count() == 4
    for blob in AttachmentChunk.objects.filter(attachment=att).values_list("blob", flat=True):
        assert BIG[:64] not in bytes(blob)  # sealed, not stored in clear
    url = f"/triage/reports/{sent.report.uid}/attachments/{att.uid}/"
    response = sign_in(Client(), alice).get(url)
    assert response.status_code == 200 and response.streaming
    pieces = list(response.streaming_content)  # type: ignore[attr-defined]
    assert len(pieces) == 4  # one piece at a time, never the whole file
    assert hashlib.sha256(b"".join(pieces)).digest() == hashlib.sha256(BIG).digest()


def test_it_stores_the_pieces_in_the_rows_transaction(in_database: None, monkeypatch: Any) -> None:
    sent = submit(Client())

    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("crash after the pieces were written")

    monkeypatch.setattr(services, "record_event", fail)
    with pytest.raises(RuntimeError):
        services.add_message(sent.report, "finder", "x", [IncomingFile("a", "text/plain", BIG)])
    assert not Attachment.objects.exists() and not AttachmentChunk.objects.exists()


def _blobs(att: Attachment) -> list[bytes]:
    rows = AttachmentChunk.objects.filter(attachment=att).order_by("index")
    return [bytes(b) for b in rows.values_list("blob", flat=True)]


def _set(att: Attachment, index: int, blob: bytes) -> None:
    AttachmentChunk.objects.filter(attachment=att, index=index).update(blob=blob)


def test_it_refuses_an_altered_piece(in_database: None) -> None:
    att = with_attachments(BIG).attachments.get()
    blob = bytearray(_blobs(att)[1])
    blob[-1] ^= 1
    _set(att, 1, bytes(blob))
    with pytest.raises(chunks.ChunkError):
        attachment_store.read(att)


def test_it_refuses_pieces_swapped(in_database: None) -> None:
    att = with_attachments(BIG).attachments.get()
    first, second = _blobs(att)[:2]
    _set(att, 0, second)
    _set(att, 1, first)
    with pytest.raises(chunks.ChunkError):
        attachment_store.read(att)


def test_it_refuses_a_file_cut_short(in_database: None) -> None:
    att = with_attachments(BIG).attachments.get()
    AttachmentChunk.objects.filter(attachment=att, index=3).delete()
    with pytest.raises(chunks.ChunkError, match="cut short"):
        attachment_store.read(att)
    AttachmentChunk.objects.filter(attachment=att, index=1).delete()  # a hole, too
    with pytest.raises(chunks.ChunkError):
        attachment_store.read(att)


def test_it_refuses_a_piece_of_another_file(in_database: None) -> None:
    one, other = with_attachments(b"one", b"other").attachments.order_by("pk")
    _set(one, 0, _blobs(other)[0])
    with pytest.raises(chunks.ChunkError):
        attachment_store.read(one)
    assert attachment_store.read(other) == b"other"


def test_it_answers_a_broken_download_with_an_error_not_a_wrong_file(
    in_database: None, alice: Any
) -> None:
    report = with_attachments(b"small").attachments.get().report
    att = report.attachments.get()
    _set(att, 0, _blobs(att)[0][:-1])
    url = f"/triage/reports/{report.uid}/attachments/{att.uid}/"
    with pytest.raises(crypto.DecryptionError):
        sign_in(Client(), alice).get(url)


def move(to: str) -> str:
    out = io.StringIO()
    call_command("attachments", "move", "--to", to, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_it_moves_attachments_into_the_database_and_back(settings: Any) -> None:
    settings.MELDPUNT_ATTACHMENT_STORE = "files"
    contents = [BIG, b"small", b""]
    report = with_attachments(*contents)
    assert len(files_of(report)) == 3
    assert "moved 3 attachments to the database; 0 failed" in move("database")
    assert files_of(report) == []
    atts = list(report.attachments.order_by("pk"))
    assert all(a.in_database for a in atts)
    assert [attachment_store.read(a) for a in atts] == contents
    assert "moved 0 attachments" in move("database")  # nothing left to do
    assert "moved 3 attachments to the files; 0 failed" in move("files")
    assert AttachmentChunk.objects.count() == 0 and len(files_of(report)) == 3
    assert [services.read_attachment(a) for a in report.attachments.order_by("pk")] == contents


def test_it_continues_an_interrupted_move(in_files: None, monkeypatch: Any) -> None:
    contents = [b"a" * 10, b"b" * 20, b"c" * 30, b"d" * 40]
    report = with_attachments(*contents)
    real, calls = attachment_store.move_to_database, []

    def stopped_at_the_third(pk: int) -> bool:
        calls.append(pk)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the operator pressed Ctrl-C
        return real(pk)

    monkeypatch.setattr(attachment_store, "move_to_database", stopped_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        move("database")
    monkeypatch.setattr(attachment_store, "move_to_database", real)
    states = list(report.attachments.order_by("pk").values_list("in_database", flat=True))
    assert states == [True, True, False, False]  # each committed on its own
    assert len(files_of(report)) == 2
    assert "moved 2 attachments to the database" in move("database")
    assert files_of(report) == []
    assert [attachment_store.read(a) for a in report.attachments.order_by("pk")] == contents


def test_it_removes_a_file_left_by_a_move_stopped_after_its_commit(in_files: None) -> None:
    att = with_attachments(b"twice").attachments.get()
    path = Path(default_storage.path(att.storage_name))
    kept = path.read_bytes()
    attachment_store.move_to_database(att.pk)
    path.write_bytes(kept)  # as if the process died before removing it
    move("database")
    assert not path.exists()
    # And the worker's orphan sweep would have removed it too: no file-row names it.
    path.write_bytes(kept)
    then = (timezone.now() - orphans.GRACE - timedelta(minutes=1)).timestamp()
    os.utime(path, (then, then))
    assert orphans.remove_orphan_files() == 1
    assert attachment_store.read(Attachment.objects.get(pk=att.pk)) == b"twice"


def test_it_keeps_the_source_when_the_checksum_does_not_match(in_files: None) -> None:
    att = with_attachments(b"checked").attachments.get()
    att.meta = {**att.meta, "sha256": hashlib.sha256(b"something else").hexdigest()}
    att.save(update_fields=["meta_blob"])
    with pytest.raises(CommandError, match="1 attachments could not be moved"):
        move("database")
    att.refresh_from_db()
    assert not att.in_database and not AttachmentChunk.objects.exists()
    assert default_storage.exists(att.storage_name)


def test_it_rotates_keys_of_pieces_in_the_database(in_database: None) -> None:
    att = with_attachments(BIG).attachments.get()
    call_command("rotate-keys", "--retire-old", stdout=io.StringIO())
    keyring = crypto.load_keyring()
    assert all(keyring.key_id_of(b) == keyring.primary for b in _blobs(att))
    assert attachment_store.read(att) == BIG


def test_it_purges_pieces_with_their_rows(in_database: None) -> None:
    report = with_attachments(BIG)
    assert AttachmentChunk.objects.exists()
    report.attachments.all().delete()
    assert not AttachmentChunk.objects.exists()
    with connection.cursor() as cursor:  # gone from the table, not merely hidden
        cursor.execute("SELECT COUNT(*) FROM reports_attachmentchunk")
        assert cursor.fetchone() == (0,)
