"""Without a mail server, outbound mail goes to files in the data directory, and staff see it."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from meldpunt.reports import outbox
from tests.conftest import sign_in, submit
from tests.test_commands import operator_env
from tests.test_outbox import FINDER, queued

SETTINGS = "from django.conf import settings; print(settings.EMAIL_BACKEND)"


def _backend(data: Path, **extra: str) -> str:
    env = operator_env(data, DJANGO_SETTINGS_MODULE="meldpunt.settings", **extra)
    found = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {SETTINGS}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return found.stdout.strip()


def test_it_writes_to_the_sink_without_a_mail_server_and_sends_with_one(tmp_path) -> None:
    assert _backend(tmp_path) == outbox.FILE_BACKEND
    with_server = _backend(tmp_path, MELDPUNT_SMTP_HOST="mail.example.org")
    assert with_server == "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture
def sink(settings: Any, tmp_path: Path) -> Path:
    settings.EMAIL_BACKEND = outbox.FILE_BACKEND
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail-sink")
    return tmp_path / "mail-sink"


def test_it_writes_each_mail_as_a_file_and_marks_it_sent(db, sink) -> None:
    report = submit(Client(), email=FINDER).report
    mail = queued(report)
    assert outbox.deliver_due() == 1
    [written] = list(sink.iterdir())
    raw = base64.b64decode(mail.envelope["raw"])
    assert raw.replace(b"\r\n", b"\n") in written.read_bytes()
    mail.refresh_from_db()
    assert mail.status == "sent"
    assert mail.status_changed_at == mail.sent_at and mail.handover_at is None


def test_it_tells_staff_on_every_page(db, sink, alice) -> None:
    page = sign_in(Client(), alice).get("/triage/").content.decode()
    assert "Outbound mail is not sent: mails are written to" in page
    assert str(sink) in page


def test_it_shows_no_banner_with_a_mail_server(db, settings, alice) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    page = sign_in(Client(), alice).get("/triage/").content.decode()
    assert 'id="mail-sink"' not in page
