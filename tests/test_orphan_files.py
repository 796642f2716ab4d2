"""Attachment files that no row names (left by a crash) are removed after a grace period."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from meldpunt.lib.uploads import IncomingFile
from meldpunt.management.commands import worker
from meldpunt.reports import orphans, services
from meldpunt.reports.models import Attachment
from tests.conftest import submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("files_store")]


def crash_leftover() -> str:
    """What a process killed between writing a file and committing its row leaves."""
    [stored] = services._store_files([IncomingFile("poc.txt", "text/plain", b"x")])
    name = stored.name
    assert not Attachment.objects.filter(storage_name=name).exists()
    return name


def age(name: str, by: timedelta) -> None:
    path = Path(default_storage.path(name))
    then = (timezone.now() - by).timestamp()
    os.utime(path, (then, then))


def test_it_removes_a_file_no_row_names_once_the_grace_period_is_over() -> None:
    name = crash_leftover()
    age(name, orphans.GRACE + timedelta(minutes=1))
    assert orphans.remove_orphan_files() == 1
    assert not default_storage.exists(name)


def test_it_keeps_a_young_file_that_may_belong_to_a_submission_in_flight() -> None:
    name = crash_leftover()
    assert orphans.remove_orphan_files() == 0
    assert default_storage.exists(name)


def test_it_keeps_every_file_a_row_names() -> None:
    sent = submit(Client(), files={"attachments": SimpleUploadedFile("a.txt", b"proof")})
    [attachment] = sent.report.attachments.all()
    age(attachment.storage_name, timedelta(days=30))
    assert orphans.remove_orphan_files() == 0
    assert services.read_attachment(attachment) == b"proof"


def test_it_is_one_of_the_worker_jobs_and_runs_at_most_hourly() -> None:
    assert worker._orphan_files in worker.JOBS
    first, second = crash_leftover(), crash_leftover()
    age(first, orphans.GRACE + timedelta(minutes=1))
    worker._orphans_checked = -float(worker.ORPHAN_PASS_SECONDS)
    worker._orphan_files()
    assert not default_storage.exists(first)
    age(second, orphans.GRACE + timedelta(minutes=1))
    worker._orphan_files()  # the same hour: not again yet
    assert default_storage.exists(second)
