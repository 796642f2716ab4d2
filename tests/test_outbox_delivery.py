"""Delivery states against a real SMTP server: deferred, failed at once, resent, cancelled."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.db import transaction
from django.test import Client
from django.utils import timezone

from meldpunt.audit.actors import actor
from meldpunt.reports import outbox
from meldpunt.reports.models import OutboundMail, Report
from tests.conftest import Submitted, submit
from tests.mailservers import free_port
from tests.test_outbox import FINDER, our_log, queued


@dataclass
class Server:
    """A mail server that answers each command as told: accept, or a refusal code."""

    rcpt: str = "250 OK"
    data: str = "250 OK"
    received: list[bytes] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.rcpt.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.rcpt

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data.startswith("250"):
            self.received.append(envelope.original_content)
        return self.data


def point_at(settings: Any, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5


@pytest.fixture
def server(settings: Any) -> Any:
    handler = Server()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    point_at(settings, controller.port)
    yield handler
    controller.stop()


@pytest.fixture
def finder(db: Any) -> Submitted:
    return submit(Client(), email=FINDER, description="Stored XSS in profile")


def state(mail: OutboundMail) -> tuple[str, int, str]:
    mail.refresh_from_db()
    return mail.status, mail.attempts, mail.last_error


def test_it_defers_a_451_with_the_code_and_no_server_text(finder, server, caplog):
    server.rcpt = "451 4.7.1 finder@example.net greylisted, try later"
    mail = queued(finder.report)
    now = timezone.now()
    assert outbox.deliver_due(now) == 0
    assert state(mail) == ("deferred", 1, "SMTPRecipientsRefused 451")
    assert mail.next_attempt_at == now + outbox.BACKOFF[0]
    assert mail.status_changed_at is not None and mail.handover_at is None
    assert "greylisted" not in our_log(caplog) and FINDER not in our_log(caplog)


def test_it_fails_a_550_recipient_at_once_and_tells_the_report(finder, server):
    server.rcpt = "550 5.1.1 no such user"
    mail = queued(finder.report)
    assert outbox.deliver_due() == 0
    assert state(mail) == ("failed", 1, "SMTPRecipientsRefused 550")
    assert outbox.deliver_due(timezone.now() + timedelta(days=2)) == 0
    assert state(mail)[1] == 1  # never tried again
    [event] = finder.report.events.filter(kind="mail_failed")
    assert event.data == {"mail": str(mail.uid), "mail_kind": "news", "error": mail.last_error}


def test_it_fails_a_550_to_the_data_at_once(finder, server):
    server.data = "550 5.7.1 message refused as spam"
    mail = queued(finder.report)
    assert outbox.deliver_due() == 0
    assert state(mail) == ("failed", 1, "SMTPDataError 550")
    assert server.received == []


def test_it_defers_while_nothing_listens_and_sends_when_the_server_comes_up(finder, settings):
    port = free_port()  # nothing listens there: connection refused
    point_at(settings, port)
    mail = queued(finder.report)
    now = timezone.now()
    assert outbox.deliver_due(now) == 0
    assert state(mail) == ("deferred", 1, "ConnectionRefusedError")
    assert mail.handover_at is None
    handler = Server()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert outbox.deliver_due(now + timedelta(seconds=30)) == 0  # not due yet
        assert outbox.deliver_due(now + timedelta(minutes=1)) == 1
    finally:
        controller.stop()
    assert len(handler.received) == 1
    assert state(mail) == ("sent", 2, "")
    assert mail.sent_at is not None and mail.status_changed_at is not None


def _failed(report: Report) -> OutboundMail:
    mail = queued(report)
    OutboundMail.objects.filter(pk=mail.pk).update(
        status="failed", attempts=8, last_error="SMTPDataError 550"
    )
    mail.refresh_from_db()
    return mail


def test_it_resends_a_failed_mail_with_the_same_bytes_and_message_id(finder, server, alice):
    mail = _failed(finder.report)
    raw = mail.envelope["raw"]
    with transaction.atomic():
        outbox.resend(mail, actor(alice))
    assert state(mail) == ("queued", 0, "")
    assert mail.envelope["raw"] == raw
    assert outbox.deliver_due() == 1
    assert f"Message-ID: {mail.message_id}".encode() in server.received[0]
    [event] = finder.report.events.filter(kind="mail_resent")
    assert event.actor == "staff:alice@example.org" and event.data["before"] == "failed"


@pytest.mark.parametrize("status", ["queued", "deferred", "sent"])
def test_it_refuses_to_resend_a_mail_that_is_pending_or_sent(finder, alice, status):
    mail = queued(finder.report)
    OutboundMail.objects.filter(pk=mail.pk).update(status=status)
    with pytest.raises(outbox.OutboxError, match="Only a failed"):
        outbox.resend(mail, actor(alice))
    assert not finder.report.events.filter(kind="mail_resent").exists()


def test_it_refuses_to_resend_a_mail_without_an_address(finder, alice):
    mail = _failed(finder.report)
    mail.envelope = {"to": [], "raw": ""}
    mail.save()
    with pytest.raises(outbox.OutboxError, match="no recipient"):
        outbox.resend(mail, actor(alice))
    assert state(mail)[0] == "failed"


@pytest.mark.parametrize("status", ["queued", "deferred"])
def test_it_cancels_a_pending_mail_which_is_then_never_sent(finder, server, alice, status):
    mail = queued(finder.report)
    OutboundMail.objects.filter(pk=mail.pk).update(status=status)
    outbox.cancel(mail, actor(alice))
    assert state(mail)[0] == "cancelled"
    assert outbox.deliver_due(timezone.now() + timedelta(days=1)) == 0
    assert server.received == []
    assert finder.report.events.filter(kind="mail_cancelled").count() == 1


@pytest.mark.parametrize("status", ["sent", "failed", "bounced", "unknown", "cancelled"])
def test_it_refuses_to_cancel_a_mail_that_is_not_pending(finder, alice, status):
    mail = queued(finder.report)
    OutboundMail.objects.filter(pk=mail.pk).update(status=status)
    with pytest.raises(outbox.OutboxError, match="Only a queued or deferred"):
        outbox.cancel(mail, actor(alice))
    assert state(mail)[0] == status


def test_it_refuses_to_cancel_while_a_worker_hands_the_mail_over(finder, alice):
    mail = queued(finder.report)
    OutboundMail.objects.filter(pk=mail.pk).update(handover_at=timezone.now())
    with pytest.raises(outbox.OutboxError, match="being handed"):
        outbox.cancel(mail, actor(alice))
    assert state(mail)[0] == "queued"


def test_it_does_not_send_a_mail_cancelled_after_its_claim(finder, server, alice, monkeypatch):
    mail = queued(finder.report)
    start = outbox._start_handover

    def cancel_first(row: OutboundMail) -> bool:
        outbox.cancel(mail, actor(alice))  # staff press Cancel while the worker connects
        return start(row)

    monkeypatch.setattr(outbox, "_start_handover", cancel_first)
    assert outbox.deliver_due() == 0
    assert server.received == []
    assert state(mail)[0] == "cancelled"


def test_it_resends_an_unknown_mail_only_when_staff_ask(finder, server, alice):
    mail = queued(finder.report)
    past = timezone.now() - timedelta(hours=1)
    OutboundMail.objects.filter(pk=mail.pk).update(
        handover_at=past, next_attempt_at=past, attempts=1
    )
    assert outbox.deliver_due() == 0
    assert state(mail)[0] == "unknown"
    assert server.received == []
    outbox.resend(mail, actor(alice))
    assert outbox.deliver_due() == 1
    assert state(mail)[0] == "sent"
    kinds = list(finder.report.events.order_by("pk").values_list("kind", flat=True))
    assert kinds[-2:] == ["mail_unknown", "mail_resent"]
