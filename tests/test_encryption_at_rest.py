"""Nothing a finder sends is readable from a database dump or the data directory."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.db import connection
from django.test import Client

from meldpunt.reports.models import Message, Report
from meldpunt.reports.services import read_attachment
from tests.conftest import submit


def database_bytes() -> bytes:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        connection.close()  # flush and let the WAL be read with the main file
        path = Path(db["NAME"])
        return b"".join(
            p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
        )
    dump = subprocess.run(
        [
            "pg_dump",
            "-h",
            db["HOST"] or "127.0.0.1",
            "-p",
            str(db["PORT"] or 5432),
            "-U",
            db["USER"] or "postgres",
            db["NAME"],
        ],
        check=True,
        capture_output=True,
    )
    return dump.stdout


def data_dir_bytes() -> bytes:
    return b"".join(p.read_bytes() for p in Path(settings.DATA_DIR).rglob("*") if p.is_file())


@pytest.mark.django_db(transaction=True)
def test_it_keeps_no_finder_text_in_clear_in_the_database_or_data_directory():
    m = {
        f: f"MARKER{f}{secrets.token_hex(6)}"
        for f in (
            "host",
            "desc",
            "steps",
            "impact",
            "ref",
            "name",
            "email",
            "file",
            "fname",
            "reply",
        )
    }
    sent = submit(
        Client(),
        affected_systems=f"https://{m['host'].lower()}.example.org/path",
        description=m["desc"],
        steps=m["steps"],
        impact=m["impact"],
        references=f"https://example.net/{m['ref']}",
        name=m["name"],
        email=f"{m['email'].lower()}@example.net",
        credit="name",
        files={"attachments": [SimpleUploadedFile(f"{m['fname']}.txt", m["file"].encode())]},
    )
    finder = Client()
    assert finder.post("/status/", {"code": sent.code}).status_code == 303
    assert finder.post("/status/reply/", {"text": m["reply"]}).status_code == 303

    # Sanity: the data is really there, and opens with the key file.
    report = Report.objects.get(pk=sent.report.pk)
    assert report.content["description"] == m["desc"]
    assert read_attachment(report.attachments.get()) == m["file"].encode()
    assert Message.objects.get(report=report).body["text"] == m["reply"]

    stored = database_bytes() + data_dir_bytes()
    assert len(stored) > 10_000
    for field, marker in m.items():
        for form in {marker, marker.lower()}:
            assert form.encode() not in stored, f"{field} found in clear"
    assert sent.code.encode() not in stored
    assert sent.code.replace("-", "").encode() not in stored


def test_it_never_spools_an_upload_to_a_temporary_file_in_clear(db):
    marker = f"MARKERbig{secrets.token_hex(6)}".encode()
    big = SimpleUploadedFile("big.bin", marker + b"x" * (3 * 1024 * 1024))
    spooled = AssertionError("an upload was written to a temporary file in clear")
    with mock.patch.object(TemporaryFileUploadHandler, "new_file", side_effect=spooled):
        sent = submit(Client(), files={"attachments": [big]})
    assert read_attachment(sent.report.attachments.get()).startswith(marker)
