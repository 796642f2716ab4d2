from __future__ import annotations

import base64
import threading
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from unittest import mock

import pysequoia
import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from meldpunt.intake import mail as mail_module
from meldpunt.intake.mail import TemporaryFailure, process_message
from meldpunt.intake.models import InboundMail
from meldpunt.reports import outbox
from meldpunt.reports.models import OutboundMail, Report
from meldpunt.reports.services import read_attachment

SECRET = b"db_password=hunter2-attached-secret"


def plain_mail(
    body: str = "Reflected XSS in /search?q=.",
    *,
    sender: str = "Rita Finder <rita@example.net>",
    to: str = "security@example.org",
    subject: str = "XSS on the portal",
    msg_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = msg_id or make_msgid(domain="example.net")
    msg.set_content(body)  # first: it drops any Content-* header set before
    for name, value in (headers or {}).items():
        msg[name] = value
    return msg.as_bytes()


def inner_entity(text: str = "The admin panel is open.", files: bool = True) -> bytes:
    inner = MIMEMultipart("mixed")
    inner.attach(MIMEText(text, "plain", "utf-8"))
    if files:
        part = MIMEApplication(SECRET, Name="leak.txt")
        part["Content-Disposition"] = 'attachment; filename="leak.txt"'
        inner.attach(part)
    return inner.as_bytes()


def pgp_mime(encrypted: bytes, *, sender: str = "rita@example.net", **headers: str) -> bytes:
    outer = MIMEMultipart("encrypted", protocol="application/pgp-encrypted")
    control = MIMEBase("application", "pgp-encrypted")
    control.set_payload("Version: 1\n")
    outer.attach(control)
    data = MIMEBase("application", "octet-stream", name="encrypted.asc")
    data.set_payload(encrypted.decode() if isinstance(encrypted, bytes) else encrypted)
    outer.attach(data)
    outer["From"] = sender
    outer["To"] = "security@example.org"
    outer["Subject"] = "..."
    outer["Message-ID"] = make_msgid(domain="example.net")
    for name, value in headers.items():
        del outer[name.replace("_", "-")]
        outer[name.replace("_", "-")] = value
    return outer.as_bytes()


def all_files() -> set[Path]:
    root = Path(settings.DATA_DIR) / "attachments"  # as tests/settings.py configures it
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@pytest.fixture(autouse=True)
def _files_before() -> Any:
    # The storage directory is shared by the whole test session.
    global BEFORE
    BEFORE = all_files()
    yield


BEFORE: set[Path] = set()


def stored_files() -> list[Path]:
    """Files this test left in storage."""
    return sorted(all_files() - BEFORE)


def receipt_raw(report: Report) -> bytes:
    mail = OutboundMail.objects.get(report=report, kind="receipt")
    return base64.b64decode(mail.envelope["raw"])


def test_it_turns_a_plain_mail_into_a_report_flagged_unencrypted(org_key: Any) -> None:
    raw = plain_mail(msg_id="<first@example.net>", headers={"Content-Language": "fr"})
    result = process_message(raw)
    assert result.outcome == "report"
    report = result.report
    assert report is not None
    report.refresh_from_db()
    assert report.channel == "email"
    assert report.received_encrypted is False
    assert report.language == "fr"
    assert report.content["description"] == "Reflected XSS in /search?q=."
    assert report.content["subject"] == "XSS on the portal"
    assert report.finder["email"] == "rita@example.net"
    assert report.finder["name"] == "Rita Finder"
    row = InboundMail.objects.get()
    assert (row.outcome, row.report, row.encrypted, row.answered) == ("report", report, False, True)
    assert not row.payload_blob  # the mail itself is kept only when no report came of it
    answer = receipt_raw(report)
    assert b"In-Reply-To: <first@example.net>" in answer
    assert b"our-key.asc" in answer  # "we send you our PGP key"
    assert OutboundMail.objects.get().envelope["to"] == ["rita@example.net"]


def test_it_keeps_pgp_mime_attachments_sealed_at_rest(org_key: Any) -> None:
    encrypted = pysequoia.encrypt(inner_entity(), recipients=[org_key.cert])
    result = process_message(pgp_mime(encrypted))
    assert result.outcome == "report" and result.report is not None
    report = Report.objects.get()
    assert report.received_encrypted is True
    assert report.content["description"] == "The admin panel is open."
    attachment = report.attachments.get()
    assert attachment.meta["name"] == "leak.txt"
    assert read_attachment(attachment) == SECRET
    assert all(SECRET not in path.read_bytes() for path in stored_files())
    assert b"our-key.asc" not in receipt_raw(report)  # they already have our key


def test_it_decrypts_an_inline_pgp_mail(org_key: Any) -> None:
    block = pysequoia.encrypt(b"Inline: SQL injection in /api/items", recipients=[org_key.cert])
    result = process_message(plain_mail("Hello,\n\n" + block.decode()))
    assert result.outcome == "report" and result.report is not None
    assert result.report.content["description"] == "Hello,\n\nInline: SQL injection in /api/items"
    assert result.report.received_encrypted is True


def test_it_makes_one_report_of_the_same_mail_twice(org_key: Any) -> None:
    first = process_message(plain_mail(msg_id="<same@example.net>"))
    again = process_message(plain_mail(msg_id="<same@example.net>", body="Resent by a relay."))
    assert (first.outcome, again.outcome) == ("report", "duplicate")
    assert again.report == first.report
    assert Report.objects.count() == 1
    assert InboundMail.objects.count() == 1
    assert OutboundMail.objects.count() == 1


def test_it_writes_the_intake_row_once(org_key: Any) -> None:
    # One INSERT with the report it became, not an INSERT and an UPDATE (issue 18).
    with CaptureQueriesContext(connection) as queries:
        assert process_message(plain_mail(body="Stored XSS.")).outcome == "report"
    writes = [
        q["sql"].split(" (")[0]
        for q in queries.captured_queries
        if "intake_inboundmail" in q["sql"]
    ]
    assert [w for w in writes if not w.startswith("SELECT")] == ['INSERT INTO "intake_inboundmail"']
    row = InboundMail.objects.get()
    assert (row.outcome, row.report, row.answered) == ("report", Report.objects.get(), True)


@pytest.mark.django_db(transaction=True)
def test_the_same_mail_delivered_twice_at_once_is_one_report(org_key: Any) -> None:
    """Both deliveries pass the early duplicate check before either is stored (a barrier
    holds them there); the later one stops at the intake row's unique key at the end, and
    its work and files go with its rollback."""
    raw = inner_mail_with_file()
    barrier, early = threading.Barrier(2, timeout=30), mail_module._duplicate
    outcomes: list[str] = []
    waited: set[int] = set()

    def checked_then_wait(digest: bytes) -> Any:
        found = early(digest)
        if threading.get_ident() not in waited:  # the early check; not the one after the clash
            waited.add(threading.get_ident())
            barrier.wait()
        return found

    def deliver() -> None:
        try:
            outcomes.append(process_message(raw).outcome)
        finally:
            connection.close()

    with mock.patch.object(mail_module, "_duplicate", side_effect=checked_then_wait):
        threads = [threading.Thread(target=deliver) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert sorted(outcomes) == ["duplicate", "report"]
    report = Report.objects.get()
    assert InboundMail.objects.get().report == report
    assert OutboundMail.objects.count() == 1
    assert [read_attachment(a) for a in report.attachments.all()] == [SECRET]
    # The later delivery's file was removed (PostgreSQL keeps attachments in the database).
    files = [a for a in report.attachments.all() if not a.in_database]
    assert len(stored_files()) == len(files)


def inner_mail_with_file() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Rita Finder <rita@example.net>"
    msg["To"] = "security@example.org"
    msg["Subject"] = "Leak"
    msg["Message-ID"] = make_msgid(domain="example.net")
    msg.set_content("The config file leaks a password.")
    msg.add_attachment(SECRET, maintype="text", subtype="plain", filename="leak.txt")
    return msg.as_bytes()


def test_it_deduplicates_mail_without_message_id_by_its_bytes(org_key: Any) -> None:
    msg = EmailMessage()
    msg["From"] = "rita@example.net"
    msg.set_content("No Message-ID here.")
    raw = msg.as_bytes()
    assert process_message(raw).outcome == "report"
    assert process_message(raw).outcome == "duplicate"
    assert Report.objects.count() == 1


def assert_failed(result: Any, reason: str) -> InboundMail:
    assert (result.outcome, result.report, result.reason) == ("failed", None, reason)
    assert not Report.objects.exists()
    assert not OutboundMail.objects.exists()
    assert stored_files() == []
    row = InboundMail.objects.get()
    assert (row.outcome, row.reason) == ("failed", reason)
    return row


@override_settings(MELDPUNT_MAIL_MAX_BYTES=2000)
def test_it_keeps_a_too_large_mail_as_failed(org_key: Any) -> None:
    raw = plain_mail("x" * 3000)
    row = assert_failed(process_message(raw), "too_large")
    assert base64.b64decode(row.payload["raw"]) == raw  # the team can still read it


def test_it_keeps_a_deeply_nested_mail_as_failed(org_key: Any) -> None:
    part: Any = MIMEText("deep")
    for _level in range(30):
        outer = MIMEMultipart("mixed")
        outer.attach(part)
        part = outer
    part["From"] = "rita@example.net"
    part["Message-ID"] = "<deep@example.net>"
    assert_failed(process_message(part.as_bytes()), "too_deep")


def test_it_keeps_a_mail_with_bad_pgp_packets_as_failed(org_key: Any) -> None:
    garbage = b"-----BEGIN PGP MESSAGE-----\n\nhQEMA0garbagegarbage==\n-----END PGP MESSAGE-----\n"
    assert_failed(process_message(pgp_mime(garbage)), "bad_pgp")


def test_it_keeps_a_mail_encrypted_to_another_key_as_failed(org_key: Any) -> None:
    other = pysequoia.Tsk.generate("someone <x@example.net>").extract_certificate()
    encrypted = pysequoia.encrypt(inner_entity(), recipients=[other])
    assert_failed(process_message(pgp_mime(encrypted)), "bad_pgp")


@override_settings(MELDPUNT_MAX_ATTACHMENTS=0)
def test_it_stores_nothing_half_way_when_attachments_exceed_the_limit(org_key: Any) -> None:
    encrypted = pysequoia.encrypt(inner_entity(), recipients=[org_key.cert])
    assert_failed(process_message(pgp_mime(encrypted)), "too_many_attachments")


def test_it_reads_an_unknown_charset_with_replacement(org_key: Any) -> None:
    raw = (
        b"From: rita@example.net\r\nMessage-ID: <cs@example.net>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nCaf\xe9 XSS\r\n"
    )
    result = process_message(raw)
    assert result.outcome == "report" and result.report is not None
    assert result.report.content["description"] == "Caf\ufffd XSS"


def test_it_raises_temporary_failure_and_stores_nothing_when_the_database_is_down(
    org_key: Any,
) -> None:
    encrypted = pysequoia.encrypt(inner_entity(), recipients=[org_key.cert])
    with (
        mock.patch.object(outbox, "queue_receipt", side_effect=OperationalError("down")),
        pytest.raises(TemporaryFailure),
    ):
        process_message(pgp_mime(encrypted))
    assert not Report.objects.exists()
    assert not InboundMail.objects.exists()
    assert stored_files() == []  # the attachment written before the rollback is gone


def test_it_raises_temporary_failure_when_the_first_save_fails(org_key: Any) -> None:
    with (
        mock.patch.object(InboundMail, "save", side_effect=OperationalError("down")),
        pytest.raises(TemporaryFailure),
    ):
        process_message(plain_mail())
    assert not Report.objects.exists()


def test_it_keeps_the_mail_as_failed_when_the_intake_has_a_bug(org_key: Any) -> None:
    with mock.patch.object(outbox, "queue_receipt", side_effect=KeyError("bug")):
        result = process_message(plain_mail())
    assert_failed(result, "internal_error")


def test_it_reads_a_message_id_the_standard_parser_chokes_on(org_key: Any) -> None:
    """Found by the fuzz test: a Message-ID of "<"s made the stdlib parser raise IndexError."""
    raw = (
        b"From: rita@example.net\r\nTo: security@example.org\r\nSubject: odd\r\n"
        b"Message-ID: <<<<<<<<<<<<<<<<<<<<<<<<<<<<<<\r\n\r\nhello\r\n"
    )
    result = process_message(raw)
    assert result.outcome == "report", result
