from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from meldpunt.intake.mail import process_message
from meldpunt.intake.models import InboundMail
from meldpunt.reports.models import OutboundMail, Report
from tests.test_mail_intake import plain_mail


def test_it_answers_a_first_mail(org_key: Any) -> None:
    assert process_message(plain_mail()).outcome == "report"
    assert OutboundMail.objects.filter(kind="receipt").count() == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-generated"},
        {"Precedence": "bulk"},
        {"List-Id": "<security.lists.example.net>"},
        {"List-Unsubscribe": "<mailto:leave@example.net>"},
        {"Return-Path": "<>"},
    ],
)
def test_it_takes_in_but_does_not_answer_automatic_or_list_mail(
    org_key: Any, headers: dict[str, str]
) -> None:
    result = process_message(plain_mail(headers=headers))
    assert result.outcome == "report"
    assert not OutboundMail.objects.exists()
    assert InboundMail.objects.get().answered is False


@pytest.mark.parametrize(
    ("sender", "headers", "reason"),
    [
        ("rita@example.net", {"Auto-Submitted": "auto-replied"}, "auto_reply_unmatched"),
        ("rita@example.net", {"X-Autoreply": "yes"}, "auto_reply_unmatched"),
        ("MAILER-DAEMON@mx.example.net", {}, "delivery_notice"),
        ("security@example.org", {}, "own_mail"),
    ],
)
def test_it_ignores_auto_replies_bounces_and_own_mail(
    org_key: Any, sender: str, headers: dict[str, str], reason: str
) -> None:
    result = process_message(plain_mail(sender=sender, headers=headers))
    assert (result.outcome, result.reason) == ("ignored", reason)
    assert not Report.objects.exists()
    assert not OutboundMail.objects.exists()
    assert InboundMail.objects.get().reason == reason  # kept for the team


def test_it_ignores_a_delivery_status_notification(org_key: Any) -> None:
    raw = (
        b"From: postmaster@mx.example.net\r\nTo: security@example.org\r\n"
        b"Message-ID: <dsn@mx.example.net>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--b--\r\n"
    )
    result = process_message(raw)
    assert (result.outcome, result.reason) == ("ignored", "bounce_unmatched")
    assert not OutboundMail.objects.exists()


@override_settings(MELDPUNT_AUTOREPLY_LIMIT=2)
def test_it_rate_limits_answers_per_sender(org_key: Any) -> None:
    for _n in range(3):
        assert process_message(plain_mail(sender="Rita@Example.net")).outcome == "report"
    assert process_message(plain_mail(sender="rita@example.net")).outcome == "report"
    assert OutboundMail.objects.count() == 2  # every mail is a report; only two answers
    process_message(plain_mail(sender="someone@example.com"))
    assert OutboundMail.objects.count() == 3


def test_it_does_not_answer_a_sender_address_it_cannot_write_to(db: Any, org_key: Any) -> None:
    """Found by the fuzz test: a broken From: made the answer fail and lost the report."""
    raw = (
        b"From: \xff\xfe@\x00\r\nTo: security@example.org\r\nSubject: fuzz\r\n"
        b"Message-ID: <broken-from@example.net>\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    )
    result = process_message(raw)
    assert result.outcome == "report"
    assert not OutboundMail.objects.exists()


@override_settings(MELDPUNT_AUTOREPLY_GLOBAL_LIMIT=2)
def test_it_limits_answers_for_all_senders_together(org_key: Any) -> None:
    """Forged senders by the thousand must not make us a mail cannon."""
    for n in range(4):
        assert process_message(plain_mail(sender=f"f{n}@example.net")).outcome == "report"
    assert OutboundMail.objects.count() == 2
