"""An attachment file is on the disk (flushed, with its directory entry) before its row commits.

A power cut cannot be made here, so the test watches `os.fsync` instead: it records which
files and directories were flushed, and when, against the commit of the report's row.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from tests.conftest import submit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("files_store")]


def test_it_flushes_the_file_and_its_directory_before_the_commit(monkeypatch: Any) -> None:
    flushed: list[str] = []
    in_transaction: list[bool] = []
    real_fsync = os.fsync

    def watching_fsync(fd: int) -> None:
        flushed.append(os.readlink(f"/proc/self/fd/{fd}"))
        in_transaction.append(connection.in_atomic_block)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", watching_fsync)
    sent = submit(Client(), files={"attachments": SimpleUploadedFile("a.txt", b"proof")})
    [attachment] = sent.report.attachments.all()
    path = Path(default_storage.path(attachment.storage_name))
    assert str(path) in flushed
    assert str(path.parent) in flushed
    assert flushed.index(str(path)) < flushed.index(str(path.parent))
    # Both before the transaction that stores the row begins, let alone commits.
    assert not in_transaction[flushed.index(str(path))]
    assert not in_transaction[flushed.index(str(path.parent))]
