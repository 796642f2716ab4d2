"""`meldpunt smtpd`: 250 only for mail that is stored, 4xx when it cannot be, 5xx for mail
that is not ours. Sent with smtplib, as a mail server would send it."""

from __future__ import annotations

import os
import signal
import smtplib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest

from meldpunt.intake import smtp
from meldpunt.intake.mail import TemporaryFailure
from meldpunt.intake.models import InboundMail
from meldpunt.lib.replyaddr import reply_address
from meldpunt.reports.models import Message, Report
from tests.mailservers import free_port

FINDER = "rita@example.net"
CONTACT = "security@example.org"


def mail(
    body: str = "IDOR on /api/invoices/<id>.", msg_id: str | None = None, **headers: str
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Rita Finder <{FINDER}>"
    msg["To"] = CONTACT
    msg["Subject"] = "IDOR"
    msg["Message-ID"] = msg_id or make_msgid(domain="example.net")
    msg.set_content(body)
    for name, value in headers.items():
        msg[name] = value
    return msg.as_bytes(policy=SMTP)  # CRLF line ends, as on the wire


@contextmanager
def listening() -> Iterator[int]:
    """Meldpunt's SMTP listener on a free loopback port, with the current settings."""
    port = free_port()
    handler = smtp.IntakeHandler()
    server = smtp.controller("127.0.0.1", port, handler)
    server.start()
    try:
        yield port
    finally:
        server.stop()
        handler.close()


@pytest.fixture
def port(transactional_db: Any, org_key: Any) -> Iterator[int]:
    # transactional_db: the listener takes mail in on its own threads and connections.
    with listening() as port:
        yield port


def send(port: int, raw: bytes, to: str = CONTACT) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(FINDER, [to], raw)


def test_it_answers_250_once_the_report_is_stored(port: int) -> None:
    send(port, mail())
    report = Report.objects.get()
    assert report.channel == "email"
    assert report.content["description"] == "IDOR on /api/invoices/<id>."
    assert InboundMail.objects.get().outcome == "report"


def test_it_adds_a_reply_to_its_report_even_when_sent_as_bcc(port: int) -> None:
    send(port, mail())
    report = Report.objects.get()
    # The To header names the contact; only the envelope names the reply address.
    send(port, mail("Here is the request that shows it."), to=reply_address(report.reference))
    assert Report.objects.count() == 1
    message = Message.objects.get(report=report, author="finder")
    assert message.channel == "email"


@pytest.mark.parametrize(
    "recipient",
    [
        "someone@example.org",
        "security@example.net",
        "security+x@example.org.evil",
        "xsecurity@example.org",
    ],
)
def test_it_refuses_mail_for_anyone_else(port: int, recipient: str) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(port, mail(), to=recipient)
    assert refused.value.recipients[recipient][0] == 550
    assert Report.objects.count() == 0


def test_it_refuses_mail_over_the_size_limit(
    transactional_db: Any, org_key: Any, settings: Any
) -> None:
    settings.MELDPUNT_MAIL_MAX_BYTES = 64 * 1024
    big = mail(("x" * 70 + "\n") * 1000)
    with listening() as port:
        # A client that announces the size is stopped at MAIL FROM …
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            send(port, big)
        assert refused.value.smtp_code == 552
        # … and one that does not, after DATA.
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.ehlo()
            client.mail(FINDER)
            client.rcpt(CONTACT)
            code, _ = client.data(big)
        assert code == 552
    assert Report.objects.count() == 0
    assert InboundMail.objects.count() == 0


@pytest.mark.parametrize("error", [TemporaryFailure("OperationalError"), RuntimeError("bug")])
def test_it_answers_451_and_stores_nothing_when_it_cannot_store(
    port: int, monkeypatch: Any, error: Exception
) -> None:
    def failing(raw: bytes) -> Any:
        raise error

    monkeypatch.setattr(smtp, "process_message", failing)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(port, mail())
    assert refused.value.smtp_code == 451
    assert Report.objects.count() == 0
    assert InboundMail.objects.count() == 0


def test_it_makes_one_report_of_the_same_mail_delivered_twice(port: int) -> None:
    raw = mail(msg_id="<twice@example.net>")
    send(port, raw)
    send(port, raw)  # e.g. our 250 was lost and the sender tried again
    assert Report.objects.count() == 1
    assert InboundMail.objects.count() == 1


def operator_env(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MELDPUNT_", "DJANGO_")) and k != "DATABASE_URL"
    }
    env["MELDPUNT_DATA_DIR"] = str(data_dir)
    return env


@pytest.mark.own_instance
def test_the_command_takes_mail_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = operator_env(tmp_path / "data")
    init = subprocess.run(
        [sys.executable, "-m", "meldpunt", "init"], env=env, capture_output=True, timeout=120
    )
    assert init.returncode == 0, init.stderr
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "meldpunt", "smtpd", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == f"Meldpunt takes mail on 127.0.0.1:{port}"
        send(port, mail())
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    finally:
        server.kill()
    assert server.returncode == 0, err
    assert out.strip() == "stopped"
    with sqlite3.connect(tmp_path / "data" / "meldpunt.sqlite3") as db:
        assert db.execute("select count(*) from reports_report").fetchone() == (1,)


@pytest.mark.own_instance
def test_the_command_refuses_a_bad_bind_address(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "meldpunt", "smtpd", "--bind", "localhost"],
        env={**operator_env(tmp_path), "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == "CommandError: --bind: 'localhost' is not HOST:PORT"
