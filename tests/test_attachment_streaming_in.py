"""Web uploads for the database store are sealed piece by piece while they arrive."""

from __future__ import annotations

import functools
import hashlib
import io
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import InMemoryUploadedFile, SimpleUploadedFile
from django.test import Client, RequestFactory, override_settings

from meldpunt.api.tokens import issue_token
from meldpunt.lib import chunks, uploads
from meldpunt.reports import attachment_store, services
from meldpunt.reports.models import Attachment, AttachmentChunk, Message, Report
from tests.conftest import form_post, sign_in, submit

pytestmark = pytest.mark.django_db

MARKER = b"PLAINTEXT-MARKER-0123456789abcdef"
# 2.5 MB: four full pieces and a fifth, shorter one.
SIZE = 2_500_000
DATA = (MARKER * (SIZE // len(MARKER) + 1))[:SIZE]
DJANGO_CHUNK = 64 * 1024  # what Django's multipart parser hands a handler at a time
CHUNK = (MARKER * (DJANGO_CHUNK // len(MARKER) + 1))[:DJANGO_CHUNK]


@pytest.fixture
def in_database(settings: Any) -> None:
    settings.MELDPUNT_ATTACHMENT_STORE = "database"


class Recorded(chunks.SealingSpool):
    made: list[Recorded] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        Recorded.made.append(self)


@pytest.fixture
def spools(monkeypatch: Any) -> Iterator[list[Recorded]]:
    """Every SealingSpool an upload made, to see it was used and closed again."""
    Recorded.made = []
    monkeypatch.setattr(uploads, "SealingSpool", Recorded)
    yield Recorded.made


def no_whole_file_sealing(monkeypatch: Any) -> None:
    """The in-memory path (the whole file sealed at once) must not be taken."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an upload was held whole and sealed at once")

    monkeypatch.setattr(attachment_store, "write_chunks", refuse)


def pieces_of(att: Attachment) -> list[bytes]:
    rows = AttachmentChunk.objects.filter(attachment=att).order_by("index")
    return [bytes(b) for b in rows.values_list("blob", flat=True)]


def test_it_stores_an_upload_through_the_form_as_pieces_sealed_while_it_came_in(
    in_database: None, spools: list[Recorded], monkeypatch: Any
) -> None:
    no_whole_file_sealing(monkeypatch)
    sent = submit(Client(), files={"attachments": SimpleUploadedFile("big.bin", DATA)})
    att = sent.report.attachments.get()
    assert att.in_database and att.size == SIZE
    assert att.meta["sha256"] == hashlib.sha256(DATA).hexdigest()
    blobs = pieces_of(att)
    assert len(blobs) == 5
    assert all(MARKER not in blob for blob in blobs)
    opened = list(chunks.open_chunks(enumerate(blobs), att.data_aad))
    assert [len(p) for p in opened] == [chunks.CHUNK_SIZE] * 4 + [SIZE - 4 * chunks.CHUNK_SIZE]
    assert b"".join(opened) == DATA
    [spool] = spools
    assert spool.name == att.data_aad  # sealed under the uid the row got
    assert spool.closed  # its temporary file is gone


def test_it_writes_no_plaintext_to_disk_while_uploading(
    in_database: None, monkeypatch: Any, tmp_path: Path
) -> None:
    # Keep every temporary file there, and visible (they are normally unlinked at once).
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(
        tempfile, "TemporaryFile", functools.partial(tempfile.NamedTemporaryFile, delete=False)
    )
    sent = submit(Client(), files={"attachments": SimpleUploadedFile("big.bin", DATA)})
    assert services.read_attachment(sent.report.attachments.get()) == DATA
    spilled = [p for p in tmp_path.rglob("*") if p.is_file()]
    # The sealed pieces did go to disk (more than the spool keeps in memory) ...
    assert sum(p.stat().st_size for p in spilled) > SIZE
    # ... and nothing there is plaintext.
    for path in spilled:
        assert MARKER[:16] not in path.read_bytes()


def feed(handler: uploads.LimitedUploadHandler, size: int) -> tuple[Any, list[int]]:
    """Hand a file to the handler the way Django's parser does, chunk by chunk; the plaintext
    the handler holds after each chunk."""
    handler.handle_raw_input(io.BytesIO(), {}, size, "boundary")
    try:
        handler.new_file("attachments", "big.bin", "application/octet-stream", size)
    except Exception as stop:  # StopFutureHandlers: this handler keeps the file
        assert type(stop).__name__ == "StopFutureHandlers"
    held = []
    for start in range(0, size, DJANGO_CHUNK):
        handler.receive_data_chunk(CHUNK[: size - start], start)
        spool = getattr(handler, "spool", None)
        held.append(spool.pending if spool is not None else 0)
    return handler.file_complete(size), held


def test_it_holds_at_most_about_two_pieces_of_plaintext(in_database: None) -> None:
    size = 6 * 1024 * 1024
    handler = attachment_store.UploadHandler(RequestFactory().post("/"))
    tracemalloc.start()
    try:
        uploaded, held = feed(handler, size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    try:
        assert max(held) <= chunks.CHUNK_SIZE + DJANGO_CHUNK
        # Measured: about 2.8 MB for a 6 MB file (pending piece, one sealed piece, the
        # spool's 1 MiB in memory); held whole it would be 6 MB and more.
        assert peak < size / 2
        assert uploaded.size == size and uploaded.spool.count == 12
        assert uploaded.spool.sha256 == hashlib.sha256(CHUNK * (size // DJANGO_CHUNK)).hexdigest()
    finally:
        uploaded.close()


@override_settings(MELDPUNT_MAX_ATTACHMENT_BYTES=1024)
def test_it_keeps_nothing_of_an_oversized_file_and_refuses_it_by_name(in_database: None) -> None:
    handler = attachment_store.UploadHandler(RequestFactory().post("/"))
    uploaded, held = feed(handler, 100_000)
    assert uploaded.size == 100_000 and uploaded.spool is None and max(held) == 0
    response = form_post(Client(), attachments=[SimpleUploadedFile("big.bin", b"x" * 50_000)])
    assert response.status_code == 400
    assert "big.bin is larger than" in response.content.decode()
    assert not Report.objects.exists() and not AttachmentChunk.objects.exists()


@override_settings(MELDPUNT_MAX_ATTACHMENTS=2)
def test_it_refuses_too_many_files_with_the_same_message(
    in_database: None, rita: Any, rita_client: Client, spools: list[Recorded]
) -> None:
    files = [SimpleUploadedFile(f"f{n}.txt", b"proof") for n in range(4)]
    response = rita_client.post("/status/reply/", {"text": "more", "attachments": files})
    assert response.status_code == 400
    assert "You can attach at most 2 files." in response.content.decode()
    assert rita.report.messages.count() == 0 and not AttachmentChunk.objects.exists()
    assert len(spools) == 3  # the limit plus one, as before; the fourth is never kept
    assert all(s.closed for s in spools)


def test_a_failing_transaction_leaves_no_pieces(
    in_database: None, rita: Any, rita_client: Client, spools: list[Recorded], monkeypatch: Any
) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("crash after the pieces were written")

    monkeypatch.setattr(services, "record_event", fail)
    upload = SimpleUploadedFile("poc.bin", DATA)
    with pytest.raises(RuntimeError):
        rita_client.post("/status/reply/", {"text": "more", "attachments": [upload]})
    assert not Attachment.objects.exists() and not AttachmentChunk.objects.exists()
    [spool] = spools
    assert spool.count == 5 and spool.closed


def test_the_desk_and_the_api_seal_staff_files_as_they_come_in(
    in_database: None, alice: Any, rita: Any, spools: list[Recorded], monkeypatch: Any
) -> None:
    no_whole_file_sealing(monkeypatch)
    desk = sign_in(Client(), alice)
    url = f"/triage/reports/{rita.report.uid}/message/"
    answer = desk.post(url, {"text": "A fix.", "attachments": [SimpleUploadedFile("a", DATA)]})
    assert answer.status_code == 303, answer.content.decode()[:2000]
    api = Client(headers={"Authorization": f"Bearer {issue_token(alice, 'files')}"})
    base = f"/api/v1/reports/{rita.report.uid}"
    etag = api.get(base)["ETag"]
    sent = api.post(
        f"{base}/messages/attachments",
        {"text": "Another.", "files": [SimpleUploadedFile("b", b"small")]},
        headers={"If-Match": etag},
    )
    assert sent.status_code == 201, sent.content
    atts = Attachment.objects.filter(message__author=Message.Author.STAFF).order_by("pk")
    assert [a.meta["name"] for a in atts] == ["a", "b"]
    assert [len(pieces_of(a)) for a in atts] == [5, 1]
    assert [services.read_attachment(a) for a in atts] == [DATA, b"small"]
    assert [s.name for s in spools] == [a.data_aad for a in atts]


def test_the_files_store_keeps_uploads_in_memory_as_before(
    files_store: None, spools: list[Recorded]
) -> None:
    handler = attachment_store.UploadHandler(RequestFactory().post("/"))
    uploaded, _ = feed(handler, 100_000)
    assert isinstance(uploaded, InMemoryUploadedFile) and uploaded.size == 100_000
    sent = submit(Client(), files={"attachments": SimpleUploadedFile("big.bin", DATA)})
    att = sent.report.attachments.get()
    assert not att.in_database and not AttachmentChunk.objects.exists()
    assert services.read_attachment(att) == DATA and spools == []


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 32, 33])
def test_pieces_sealed_as_they_come_are_those_of_the_whole_value(size: int) -> None:
    data = bytes(range(size))
    with chunks.SealingSpool("v", size=16) as spool:
        for start in range(0, size, 5):  # arriving in bits that do not line up with pieces
            spool.write(data[start : start + 5])
        spool.finish()
        sealed = list(spool.pieces())
    whole = list(chunks.seal_chunks(data, "v", size=16))
    assert [i for i, _ in sealed] == [i for i, _ in whole]  # the same number of pieces
    opened = list(chunks.open_chunks(sealed, "v"))
    assert b"".join(opened) == data
    assert opened == list(chunks.open_chunks(whole, "v"))  # the last one says it is last
    assert spool.size == size and spool.sha256 == hashlib.sha256(data).hexdigest()
