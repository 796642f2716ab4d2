"""The outbox: mail is queued with the news, sent to a real SMTP server, retried, never lost."""

from __future__ import annotations

import base64
import email
import socket
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from django_tasks_db.models import DBTaskResult

from meldpunt.reports import outbox
from meldpunt.reports.messages import send_message
from meldpunt.reports.models import OutboundMail, Report
from tests.conftest import Submitted, sign_in, submit
from tests.mailservers import free_port

SECRET = "The admin password is hunter2"
FINDER = "finder@example.net"


@dataclass
class Received:
    rcpt_tos: list[str]
    raw: bytes

    @property
    def parsed(self) -> EmailMessage:
        parsed: EmailMessage = email.message_from_bytes(self.raw, policy=policy.default)
        return parsed


@dataclass
class Handler:
    """A mail server that accepts everything, or answers "451" to the next `refuse` mails."""

    refuse: int = 0
    mails: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            self.refuse -= 1
            return "451 try later"
        self.mails.append(Received(list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


@pytest.fixture
def smtp(settings: Any) -> Any:
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_TIMEOUT = 5
    yield handler
    controller.stop()


@pytest.fixture
def finder(db: Any) -> Submitted:
    return submit(Client(), email=FINDER, description="Stored XSS in profile")


def queued(report: Report) -> OutboundMail:
    with transaction.atomic():
        mail = outbox.queue_news(report)
    assert mail is not None
    return mail


def our_log(caplog: Any) -> str:
    """What Meldpunt logged (the test mail server logs addresses; that is its business)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("meldpunt"))


def stored_raw(mail: OutboundMail) -> bytes:
    mail.refresh_from_db()
    return base64.b64decode(mail.envelope["raw"])


def test_it_queues_nothing_when_the_transaction_rolls_back(
    finder, smtp, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        outbox.queue_news(finder.report)
        raise RuntimeError("the news was not saved after all")
    assert callbacks == []
    assert not OutboundMail.objects.exists()
    assert not DBTaskResult.objects.exists()  # nor its delivery task
    assert outbox.deliver_due() == 0
    assert smtp.mails == []


def test_it_commits_the_delivery_task_with_the_mail(finder, django_capture_on_commit_callbacks):
    # In the mail's own transaction (no second commit); a worker sees both or neither.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        mail = queued(finder.report)
    assert callbacks == []
    [task] = DBTaskResult.objects.filter(task_path="meldpunt.reports.outbox.deliver")
    assert task.args_kwargs == {"args": [str(mail.uid)], "kwargs": {}}
    assert mail.status == OutboundMail.Status.QUEUED and mail.attempts == 0
    assert mail.next_attempt_at <= timezone.now()


def test_inside_a_transaction_it_opens_only_the_tasks_savepoint(finder):
    # The mail needs none of its own (each is a statement, a round trip on PostgreSQL); the
    # task keeps one, so that a task that cannot be inserted does not undo the mail.
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        outbox.queue_news(finder.report)
    savepoints = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) == 1
    assert OutboundMail.objects.count() == DBTaskResult.objects.count() == 1


def test_it_delivers_the_stored_bytes_to_a_real_smtp_server(finder, smtp):
    mail = queued(finder.report)
    assert outbox.deliver_due() == 1
    [received] = smtp.mails
    assert received.rcpt_tos == [FINDER]
    assert received.raw.rstrip(b"\r\n") == stored_raw(mail).rstrip(b"\r\n")
    assert received.parsed["Message-ID"] == mail.message_id
    assert mail.message_id.endswith("@example.org>")
    assert received.parsed["From"] == "Example Org Security <security@example.org>"
    assert received.parsed["Reply-To"].startswith("security+mp-")
    mail.refresh_from_db()
    assert (mail.status, mail.attempts, mail.last_error) == (OutboundMail.Status.SENT, 1, "")
    assert mail.sent_at is not None
    assert outbox.deliver_due() == 0  # sent mail stays sent
    assert len(smtp.mails) == 1


def test_it_delivers_through_the_task_too(finder, smtp):
    mail = queued(finder.report)
    outbox.deliver.call(str(mail.uid))
    outbox.deliver.call(str(mail.uid))  # a second run finds nothing due
    assert len(smtp.mails) == 1


def test_it_retries_a_refused_mail_later_with_the_same_message_id(finder, smtp):
    mail = queued(finder.report)
    smtp.refuse = 2
    now = timezone.now()
    assert outbox.deliver_due(now) == 0
    mail.refresh_from_db()
    assert (mail.status, mail.attempts, mail.last_error) == ("deferred", 1, "SMTPDataError 451")
    assert mail.next_attempt_at == now + timedelta(minutes=1)
    assert outbox.deliver_due(now + timedelta(seconds=30)) == 0  # not due yet: not tried
    assert outbox.deliver_due(now + timedelta(minutes=1)) == 0
    mail.refresh_from_db()
    assert mail.attempts == 2
    assert mail.next_attempt_at == now + timedelta(minutes=1) + timedelta(minutes=5)
    assert outbox.deliver_due(now + timedelta(minutes=6)) == 1
    [received] = smtp.mails
    assert received.parsed["Message-ID"] == mail.message_id
    mail.refresh_from_db()
    assert (mail.status, mail.attempts) == ("sent", 3)


def test_it_gives_up_after_the_last_attempt(finder, smtp, settings, caplog):
    settings.MELDPUNT_OUTBOX_MAX_ATTEMPTS = 2
    mail = queued(finder.report)
    smtp.refuse = 10
    later = timezone.now() + timedelta(days=1)
    assert outbox.deliver_due() == 0
    assert outbox.deliver_due(later) == 0
    mail.refresh_from_db()
    assert (mail.status, mail.attempts, mail.last_error) == ("failed", 2, "SMTPDataError 451")
    assert outbox.deliver_due(later + timedelta(days=1)) == 0
    assert smtp.refuse == 8  # no third attempt
    assert f"{finder.report.reference}) failed for good after 2 attempts" in our_log(caplog)
    assert FINDER not in our_log(caplog)


def test_it_keeps_the_mail_when_the_server_is_down(finder, settings, caplog):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with socket.socket() as closed:  # a port that is taken but refuses connections
        closed.bind(("127.0.0.1", 0))
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed.getsockname()[1]
        mail = queued(finder.report)
        assert outbox.deliver_due() == 0
    mail.refresh_from_db()
    assert (mail.status, mail.last_error) == ("deferred", "ConnectionRefusedError")
    assert "ConnectionRefusedError" in our_log(caplog)
    assert FINDER not in our_log(caplog)


class Crash(BaseException):
    """The worker process dies (SIGKILL, power loss): no handler runs."""


def test_it_never_sends_again_after_a_crash_between_send_and_mark(finder, smtp, monkeypatch):
    mail = queued(finder.report)

    def crash(row: OutboundMail) -> None:
        raise Crash

    now = timezone.now()
    with monkeypatch.context() as patch:
        patch.setattr(outbox, "_mark_sent", crash)
        with pytest.raises(Crash):
            outbox.deliver_due(now)
    assert len(smtp.mails) == 1
    mail.refresh_from_db()
    assert mail.handover_at is not None  # the mark was committed before the bytes went
    # Another worker leaves it alone while the first one might still be sending ...
    assert outbox.deliver_due(now + outbox.lease() - timedelta(seconds=1)) == 0
    # ... and, once that lease is over, does not send it again: staff decide.
    assert outbox.deliver_due(now + outbox.lease()) == 0
    assert len(smtp.mails) == 1
    mail.refresh_from_db()
    assert (mail.status, mail.attempts) == ("unknown", 1)
    assert mail.last_error == "worker stopped during hand-over"
    assert finder.report.events.filter(kind="mail_unknown").count() == 1


def test_it_tries_again_after_a_crash_before_the_handover(finder, smtp, monkeypatch):
    mail = queued(finder.report)

    def crash(row: OutboundMail) -> bool:
        raise Crash

    now = timezone.now()
    with monkeypatch.context() as patch:
        patch.setattr(outbox, "_start_handover", crash)
        with pytest.raises(Crash):
            outbox.deliver_due(now)
    assert smtp.mails == []
    assert outbox.deliver_due(now + outbox.lease()) == 1
    mail.refresh_from_db()
    assert (mail.status, mail.attempts, mail.handover_at) == ("sent", 2, None)


@pytest.mark.django_db(transaction=True)
def test_it_sends_each_mail_once_from_two_concurrent_passes(smtp):
    sent = submit(Client(), email=FINDER)
    mails = [queued(sent.report) for _ in range(6)]
    counts: list[int] = []
    start = threading.Barrier(2)

    def worker() -> None:
        try:
            start.wait()
            counts.append(outbox.deliver_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 6
    ids = sorted(str(m.parsed["Message-ID"]) for m in smtp.mails)
    assert ids == sorted(m.message_id for m in mails)
    assert OutboundMail.objects.filter(status="sent", attempts=1).count() == 6


def test_it_mails_a_finder_without_key_a_notice_without_content(finder, alice, smtp):
    response = sign_in(Client(), alice).post(
        f"/triage/reports/{finder.report.uid}/message/", {"text": SECRET, "template": ""}
    )
    assert response.status_code in (302, 303)
    assert outbox.deliver_due() == 1
    [received] = smtp.mails
    notice = received.parsed
    reference = finder.report.reference
    assert notice["Subject"] == f"[{reference}] News about your report"
    assert notice["To"] == FINDER
    assert notice["Content-Language"] == "en"
    text = notice.get_body(("plain",)).get_content()
    assert "http://127.0.0.1:8000/status/" in text
    assert reference in text
    for secret in (SECRET, "hunter2", "Stored XSS", "XSS", "profile"):
        assert secret.encode() not in received.raw


def test_it_mails_nobody_without_an_address(rita, alice):
    send_message(rita.report, alice, "Hello.")
    assert not OutboundMail.objects.exists()


@pytest.mark.parametrize("language", ["nl", "fr", "en"])
def test_it_writes_the_notice_in_the_reports_language(finder, monkeypatch, language):
    # Every sentence goes through gettext while the report's language is active: mark each
    # with the language it was looked up in (the catalogues translate them separately).
    monkeypatch.setattr(outbox, "_", lambda text: f"<{translation.get_language()}>{text}")
    Report.objects.filter(pk=finder.report.pk).update(language=language)
    mail = queued(Report.objects.get(pk=finder.report.pk))
    notice = email.message_from_bytes(stored_raw(mail), policy=policy.default)
    assert notice["Content-Language"] == language
    assert notice["Subject"].startswith(f"<{language}>[{finder.report.reference}]")
    text = notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    paragraphs = text.replace("\r\n", "\n").strip().split("\n\n")
    assert len(paragraphs) == 4
    assert all(p.startswith(f"<{language}>") for p in paragraphs)


def test_it_keeps_a_finder_name_from_injecting_headers(db, smtp):
    sent = submit(
        Client(), email=FINDER, name="Eve\r\nBcc: spy@evil.example\r\nX-Evil: 1", credit="name"
    )
    queued(sent.report)
    assert outbox.deliver_due() == 1
    [received] = smtp.mails
    assert received.rcpt_tos == [FINDER]
    headers = received.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in headers and b"\r\nX-Evil:" not in headers
    assert received.parsed["To"].addresses[0].addr_spec == FINDER


def test_it_refuses_an_address_with_a_line_break(finder):
    mail = EmailMessage()
    mail.set_content("x")
    outbox.queue(finder.report, "test", [f"{FINDER}\r\nBcc: spy@evil.example"], mail)
    # Kept as a failed delivery without bytes or address, never sent (issue 21: no staff
    # action may fail on a stored address).
    stored = OutboundMail.objects.get()
    assert (stored.status, stored.last_error) == ("failed", "cannot be built: ValueError")
    assert stored.envelope == {"to": [], "raw": ""}
    assert outbox.deliver_due() == 0


def test_it_answers_a_mailed_report_with_a_receipt_in_each_language(finder, org_key, monkeypatch):
    monkeypatch.setattr(outbox, "_", lambda text: f"<{translation.get_language()}>{text}")
    with transaction.atomic():
        mail = outbox.queue_receipt(
            finder.report,
            to=FINDER,
            receipt_code="ABCD-EFGH-JKLM-NPQR",
            languages=["nl", "fr"],
            in_reply_to="<first@finder.example>\r\nBcc: spy@evil.example",
            encrypt_to=None,
            include_key=False,
        )
    receipt = email.message_from_bytes(stored_raw(mail), policy=policy.default)
    assert receipt["Subject"].startswith(f"<nl>[{finder.report.reference}]")
    assert receipt["Auto-Submitted"] == "auto-replied"
    assert receipt["In-Reply-To"] == receipt["References"] == "<first@finder.example>"
    assert "Bcc" not in receipt
    assert receipt.get_content_type() == "text/plain"  # no key asked for: none attached
    text = receipt.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.index("<nl>") < text.index("<fr>")
    assert "ABCD-EFGH-JKLM-NPQR" in text
    assert (mail.kind, mail.encrypted) == ("receipt", False)
