"""`meldpunt fetchmail` against a real Dovecot: mail is marked only once it is stored."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
from email.message import EmailMessage
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.utils import make_msgid
from typing import Any

import pysequoia
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from meldpunt.intake import imap
from meldpunt.intake.mail import TemporaryFailure
from meldpunt.intake.models import InboundMail
from meldpunt.reports.models import Report
from tests.mailservers import PROCESSED, Dovecot, dovecot, free_port, mailbox, write_ca_file

__all__ = ["dovecot", "mailbox"]  # fixtures used by name

DONE = {"$Meldpunt", "\\Seen"}


def plain_mail(body: str = "Stored XSS in the profile page.", msg_id: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Rita Finder <rita@example.net>"
    msg["To"] = "security@example.org"
    msg["Subject"] = "XSS"
    msg["Message-ID"] = msg_id or make_msgid(domain="example.net")
    msg.set_content(body)
    return msg.as_bytes()


def pgp_mail(
    cert: Any, text: bytes = b"Content-Type: text/plain\r\n\r\nSQLi in /api.\r\n"
) -> bytes:
    outer = MIMEMultipart("encrypted", protocol="application/pgp-encrypted")
    control = MIMEBase("application", "pgp-encrypted")
    control.set_payload("Version: 1\n")
    outer.attach(control)
    data = MIMEBase("application", "octet-stream", name="encrypted.asc")
    data.set_payload(pysequoia.encrypt(text, recipients=[cert]).decode())
    outer.attach(data)
    outer["From"] = "rita@example.net"
    outer["To"] = "security@example.org"
    outer["Subject"] = "..."
    outer["Message-ID"] = make_msgid(domain="example.net")
    return outer.as_bytes()


def test_it_takes_in_plain_and_pgp_mail_and_marks_it(mailbox: Dovecot, org_key: Any) -> None:
    mailbox.append(plain_mail())
    mailbox.append(pgp_mail(org_key.cert))
    stats = imap.fetch_once()
    assert (stats.found, stats.processed, stats.outcomes["report"]) == (2, 2, 2)
    assert not stats.deferred
    encrypted = list(Report.objects.values_list("received_encrypted", flat=True))
    assert sorted(map(str, encrypted)) == ["False", "True"]
    descriptions = {r.content["description"] for r in Report.objects.all()}
    assert descriptions == {"Stored XSS in the profile page.", "SQLi in /api."}
    assert all(flags >= DONE for flags in mailbox.flags())


def test_it_makes_nothing_new_on_a_second_pass(mailbox: Dovecot, org_key: Any) -> None:
    mailbox.append(plain_mail())
    assert imap.fetch_once().processed == 1
    again = imap.fetch_once()
    assert (again.found, again.processed) == (0, 0)
    assert Report.objects.count() == 1


def test_it_takes_in_mail_a_person_already_read(mailbox: Dovecot, org_key: Any) -> None:
    conn = mailbox.connect()
    conn.append("INBOX", "(\\Seen)", "", plain_mail())
    conn.logout()
    assert imap.fetch_once().processed == 1
    assert Report.objects.count() == 1


def test_it_marks_a_mail_taken_in_before_but_not_marked(mailbox: Dovecot, org_key: Any) -> None:
    # As after a crash between the intake's commit and the IMAP flag.
    raw = plain_mail(msg_id="<crash@example.net>")
    from meldpunt.intake.mail import process_message

    assert process_message(raw).outcome == "report"
    mailbox.append(raw)
    stats = imap.fetch_once()
    assert stats.outcomes == {"duplicate": 1}
    assert Report.objects.count() == 1
    assert mailbox.flags()[0] >= DONE


def test_it_moves_processed_mail_when_a_folder_is_set(
    mailbox: Dovecot, org_key: Any, settings: Any
) -> None:
    settings.MELDPUNT_IMAP_PROCESSED_FOLDER = PROCESSED
    mailbox.append(plain_mail())
    assert imap.fetch_once().processed == 1
    assert mailbox.flags("INBOX") == []
    assert len(mailbox.flags(PROCESSED)) == 1
    assert mailbox.flags(PROCESSED)[0] >= DONE
    assert Report.objects.count() == 1


def test_it_moves_without_the_move_extension_and_keeps_others_deleted_mail(
    mailbox: Dovecot, org_key: Any, settings: Any, monkeypatch: Any
) -> None:
    settings.MELDPUNT_IMAP_PROCESSED_FOLDER = "Done Reports"  # a name that needs quoting
    monkeypatch.setattr(imap, "_capabilities", lambda conn: {"IMAP4REV1", "UIDPLUS"})
    conn = mailbox.connect()
    conn.append("INBOX", "(\\Deleted $Meldpunt)", "", plain_mail("a person deleted this"))
    conn.logout()
    mailbox.append(plain_mail())
    assert imap.fetch_once().processed == 1
    assert len(mailbox.flags("INBOX")) == 1  # only ours was expunged (UID EXPUNGE)
    assert mailbox.flags("Done Reports")[0] >= DONE
    conn = mailbox.connect()
    conn.delete('"Done Reports"')
    conn.logout()


def test_it_leaves_the_mail_untouched_when_the_intake_cannot_store(
    mailbox: Dovecot, org_key: Any, monkeypatch: Any
) -> None:
    mailbox.append(plain_mail())
    mailbox.append(plain_mail())

    def unavailable(raw: bytes) -> Any:
        raise TemporaryFailure("OperationalError")

    with monkeypatch.context() as patch:
        patch.setattr(imap, "process_message", unavailable)
        stats = imap.fetch_once()
    assert (stats.found, stats.processed, stats.deferred) == (2, 0, True)
    assert all(not flags & DONE for flags in mailbox.flags())
    assert Report.objects.count() == 0
    stats = imap.fetch_once()  # the database is back
    assert (stats.processed, stats.deferred) == (2, False)
    assert Report.objects.count() == 2


def test_it_records_a_too_large_mail_as_failed_and_marks_it(
    mailbox: Dovecot, org_key: Any, settings: Any
) -> None:
    settings.MELDPUNT_MAIL_MAX_BYTES = 64 * 1024
    raw = plain_mail("A" * 100 + "\n" + "x" * 76 * 1500)
    mailbox.append(raw)
    stats = imap.fetch_once()
    assert stats.outcomes == {"failed": 1}
    row = InboundMail.objects.get()
    assert (row.outcome, row.reason) == ("failed", "too_large")
    # Only the first limit + 1 bytes were fetched, and the team can read them.
    kept = base64.b64decode(row.payload["raw"])
    assert len(kept) == row.size == 64 * 1024 + 1
    assert raw.replace(b"\n", b"\r\n").startswith(kept)
    assert Report.objects.count() == 0
    assert mailbox.flags()[0] >= DONE


@pytest.mark.parametrize("security", ["tls", "starttls", "none"])
def test_it_connects_with_each_kind_of_security(
    mailbox: Dovecot, org_key: Any, settings: Any, security: str
) -> None:
    for name, value in mailbox.settings(security).items():
        setattr(settings, name, value)
    mailbox.append(plain_mail())
    assert imap.fetch_once().processed == 1


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_it_fails_closed_on_a_certificate_it_does_not_trust(
    mailbox: Dovecot, org_key: Any, settings: Any, security: str, tmp_path: Any
) -> None:
    for name, value in mailbox.settings(security).items():
        setattr(settings, name, value)
    settings.MELDPUNT_IMAP_CA_FILE = str(write_ca_file(tmp_path / "other-ca.pem", "Other CA"))
    mailbox.append(plain_mail())
    with pytest.raises(imap.ImapError, match="certificate not trusted"):
        imap.fetch_once()
    assert Report.objects.count() == 0
    assert not mailbox.flags()[0] & DONE


def test_it_refuses_plain_imap_to_another_host(settings: Any) -> None:
    settings.MELDPUNT_IMAP_HOST = "imap.example.org"
    settings.MELDPUNT_IMAP_USER = "security"
    settings.MELDPUNT_IMAP_PASSWORD = "secret"
    settings.MELDPUNT_IMAP_SECURITY = "none"
    with pytest.raises(imap.ImapError, match="only allowed for a server on this machine"):
        imap.connect()


def test_it_says_in_one_line_when_the_login_fails(mailbox: Dovecot, settings: Any) -> None:
    settings.MELDPUNT_IMAP_PASSWORD = "wrong"
    with pytest.raises(imap.ImapError) as error:
        imap.fetch_once()
    assert str(error.value).endswith(": [AUTHENTICATIONFAILED] Authentication failed.")


def test_the_command_takes_in_mail_once(mailbox: Dovecot, org_key: Any, capsys: Any) -> None:
    mailbox.append(plain_mail())
    call_command("fetchmail", "--once")
    assert capsys.readouterr().out.strip() == "1 of 1 messages processed (1 report)"
    assert Report.objects.count() == 1


def test_the_command_fails_once_when_the_server_is_unreachable(mailbox: Dovecot, settings) -> None:
    settings.MELDPUNT_IMAP_PORT = mailbox.imap_port
    settings.MELDPUNT_IMAP_SECURITY = "tls"  # TLS on the plain port: the handshake fails
    with pytest.raises(CommandError, match="TLS failed"):
        call_command("fetchmail", "--once")


def test_the_command_polls_until_sigterm_and_survives_errors(
    transactional_db: Any, mailbox: Dovecot, org_key: Any, settings: Any, caplog: Any
) -> None:
    # transactional_db: the command closes its database connection after every pass.
    settings.MELDPUNT_IMAP_POLL_SECONDS = 0.2
    mailbox.append(plain_mail())
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    before = signal.getsignal(signal.SIGTERM)
    try:
        call_command("fetchmail")
    finally:
        timer.cancel()
    assert Report.objects.count() == 1
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored

    settings.MELDPUNT_IMAP_PORT = free_port()  # the server is down
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    with caplog.at_level("WARNING", logger="meldpunt.intake.management.commands.fetchmail"):
        call_command("fetchmail")
    lines = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(lines) >= 2  # it kept trying
    assert all(line.endswith("Connection refused; next try in 0.2s") for line in lines)


def test_the_command_exits_with_one_line_when_imap_is_not_configured() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MELDPUNT_IMAP_")}
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    result = subprocess.run(
        [sys.executable, "-m", "meldpunt", "fetchmail"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "CommandError: IMAP is not configured: set MELDPUNT_IMAP_HOST, MELDPUNT_IMAP_USER, "
        "MELDPUNT_IMAP_PASSWORD"
    ]


def test_the_command_fails_once_when_the_intake_cannot_store(
    mailbox: Dovecot, org_key: Any, monkeypatch: Any
) -> None:
    def unavailable(raw: bytes) -> Any:
        raise TemporaryFailure("OperationalError")

    monkeypatch.setattr(imap, "process_message", unavailable)
    mailbox.append(plain_mail())
    with pytest.raises(CommandError, match="the rest waits: the intake cannot store now"):
        call_command("fetchmail", "--once")
    assert not mailbox.flags()[0] & DONE
