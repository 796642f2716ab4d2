"""Bounces and automatic answers to our mail: matched to the mail they answer, never a report.

The delivery status notifications are built as Postfix builds them (multipart/report with
message/delivery-status and the returned headers), the non-standard ones as Exchange does.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from django.core import mail as django_mail
from django.test import Client

from meldpunt.intake import imap
from meldpunt.intake.mail import process_message
from meldpunt.intake.models import InboundMail
from meldpunt.reports import outbox
from meldpunt.reports.models import Event, Message, OutboundMail, Report
from tests.conftest import sign_in
from tests.mailservers import Dovecot, dovecot, mailbox
from tests.test_mail_intake import plain_mail
from tests.test_smtpd import listening

__all__ = ["dovecot", "mailbox"]  # fixtures used by name

CONTACT = "security@example.org"
FINDER = "rita@example.net"


@dataclass
class Sent:
    report: Report
    mail: OutboundMail
    return_path: str  # the envelope sender it went out with (VERP)


def sent_receipt() -> Sent:
    """A report by mail, and the receipt we sent the finder, handed to our mail server."""
    result = process_message(plain_mail(sender=f"Rita Finder <{FINDER}>"))
    assert result.outcome == "report" and result.report is not None
    mail = OutboundMail.objects.get(report=result.report)
    assert outbox.deliver_now(str(mail.uid))
    mail.refresh_from_db()
    assert mail.status == OutboundMail.Status.SENT
    return Sent(result.report, mail, django_mail.outbox[-1].from_email)


def original_headers(sent: Sent) -> str:
    return (
        f"Return-Path: <{sent.return_path}>\n"
        f"From: Example Org security team <{CONTACT}>\n"
        f"To: {FINDER}\n"
        f"Subject: [{sent.report.reference}] Your report\n"
        f"Message-ID: {sent.mail.message_id}\n"
        "Date: Sat, 05 Dec 2026 16:00:00 +0000\n"
    )


def postfix_dsn(
    to: str,
    *,
    header_to: str = "",
    delivered: bool = True,
    headers: str = "",
    action: str = "failed",
    status: str = "5.1.1",
    subject: str = "Undelivered Mail Returned to Sender",
    rfc822: bool = False,
) -> bytes:
    """A DSN as Postfix's bounce daemon writes it; `headers` are the returned mail's."""
    returned = ""
    if headers:
        kind = "message/rfc822" if rfc822 else "text/rfc822-headers"
        body = "\nThe report.\n" if rfc822 else ""
        returned = (
            "--4F1A2B3C4D.1733414400/mx.example.net\n"
            f"Content-Description: Undelivered Message{'' if rfc822 else ' Headers'}\n"
            f"Content-Type: {kind}\n\n{headers}{body}\n"
        )
    text = (
        "This is the mail system at host mx.example.net.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n\n"
        f"<{FINDER}>: host mx.example.net[192.0.2.1] said: 550 {status}\n"
        f"    <{FINDER}>: Recipient address rejected: User unknown (in reply to RCPT TO)\n"
    )
    raw = (
        "Return-Path: <>\n"
        + (f"Delivered-To: {to}\n" if delivered else "")
        + "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
        f"Subject: {subject}\n"
        f"To: {header_to or to}\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        '\tboundary="4F1A2B3C4D.1733414400/mx.example.net"\n'
        f"Message-Id: {make_msgid(domain='mx.example.net')}\n\n"
        "This is a MIME-encapsulated message.\n\n"
        "--4F1A2B3C4D.1733414400/mx.example.net\n"
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=us-ascii\n\n"
        f"{text}\n"
        "--4F1A2B3C4D.1733414400/mx.example.net\n"
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.net\n"
        "X-Postfix-Queue-ID: 4F1A2B3C4D\n"
        "Arrival-Date: Sat,  5 Dec 2026 16:00:00 +0000 (UTC)\n\n"
        f"Final-Recipient: rfc822; {FINDER}\n"
        f"Original-Recipient: rfc822;{FINDER}\n"
        f"Action: {action}\n"
        f"Status: {status}\n"
        "Remote-MTA: dns; mx.example.net\n"
        f"Diagnostic-Code: smtp; 550 {status} <{FINDER}>: Recipient address rejected\n\n"
        f"{returned}"
        "--4F1A2B3C4D.1733414400/mx.example.net--\n"
    )
    return raw.encode()


def exchange_undeliverable(sent: Sent) -> bytes:
    """An old-style Exchange non-delivery report: plain text, the original attached."""
    msg = EmailMessage()
    msg["From"] = "Microsoft Outlook <postmaster@contoso.example>"
    msg["To"] = CONTACT
    msg["Subject"] = f"Undeliverable: [{sent.report.reference}] Your report"
    msg["Message-ID"] = make_msgid(domain="contoso.example")
    msg.set_content(
        "Delivery has failed to these recipients or groups:\n\n"
        f"{FINDER}\nThe e-mail address you entered couldn't be found.\n\n"
        "Diagnostic information for administrators:\n"
        "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found'\n\n"
        f"Original message headers:\n\n{original_headers(sent)}"
    )
    return msg.as_bytes()


def bounced_mail(sent: Sent) -> OutboundMail:
    mail = OutboundMail.objects.get(pk=sent.mail.pk)
    assert mail.status == OutboundMail.Status.BOUNCED
    assert mail.bounced_at is not None and mail.status_changed_at is not None
    return mail


def absorbed(result: Any, reason: str) -> None:
    """Kept for the team with this reason; no report, no message, no answer came of it."""
    assert (result.outcome, result.reason, result.report) == ("ignored", reason, None)
    assert Report.objects.count() == 1  # the finder's own report only
    assert not Message.objects.exists()
    assert OutboundMail.objects.count() == 1  # the receipt only: no answer to the bounce
    assert InboundMail.objects.filter(outcome="ignored", reason=reason).count() == 1


def test_it_marks_our_mail_bounced_by_the_return_path_alone(org_key: Any) -> None:
    sent = sent_receipt()
    result = process_message(postfix_dsn(sent.return_path))  # no Message-ID of ours inside
    absorbed(result, "bounce")
    mail = bounced_mail(sent)
    assert mail.bounce_detail == "5.1.1 failed"
    event = Event.objects.get(report=sent.report, kind="mail_bounced")
    assert event.data["detail"] == "5.1.1 failed"
    assert event.data["mail"] == "receipt"
    assert FINDER not in str(event.data)


def test_it_marks_our_mail_bounced_by_the_message_id_it_returns(org_key: Any) -> None:
    sent = sent_receipt()
    result = process_message(postfix_dsn(CONTACT, headers=original_headers(sent)))
    absorbed(result, "bounce")
    assert bounced_mail(sent).bounce_detail == "5.1.1 failed"


def test_it_reads_the_message_id_of_a_returned_complete_message(org_key: Any) -> None:
    sent = sent_receipt()
    raw = postfix_dsn(CONTACT, headers=original_headers(sent), status="5.2.2", rfc822=True)
    absorbed(process_message(raw), "bounce")
    assert bounced_mail(sent).bounce_detail == "5.2.2 failed"


def test_it_changes_nothing_more_for_the_same_bounce_again(org_key: Any) -> None:
    sent = sent_receipt()
    raw = postfix_dsn(sent.return_path)
    process_message(raw)
    first = bounced_mail(sent)
    assert process_message(raw).outcome == "duplicate"
    # Another notice about the same mail (a second relay's, with its own Message-ID).
    process_message(postfix_dsn(sent.return_path, status="5.1.2"))
    again = bounced_mail(sent)
    assert (again.bounced_at, again.bounce_detail) == (first.bounced_at, "5.1.1 failed")
    assert Event.objects.filter(kind="mail_bounced").count() == 1


def test_it_notes_a_delay_without_marking_the_mail_bounced(org_key: Any) -> None:
    sent = sent_receipt()
    raw = postfix_dsn(
        sent.return_path,
        action="delayed",
        status="4.4.1",
        subject="Delayed Mail (still being retried)",
    )
    absorbed(process_message(raw), "delay")
    mail = OutboundMail.objects.get(pk=sent.mail.pk)
    assert (mail.status, mail.bounced_at) == (OutboundMail.Status.SENT, None)
    assert mail.bounce_detail == "4.4.1 delayed"
    assert not Event.objects.filter(kind="mail_bounced").exists()


def test_it_does_not_match_a_forged_return_path(org_key: Any) -> None:
    sent = sent_receipt()
    token = sent.return_path.split("bounce-")[1].split(".")[0]
    forged = f"security+bounce-{token}.aaaaaaaaaaaaaaaa@example.org"
    absorbed(process_message(postfix_dsn(forged)), "bounce_unmatched")
    mail = OutboundMail.objects.get(pk=sent.mail.pk)
    assert (mail.status, mail.bounced_at, mail.bounce_detail) == ("sent", None, "")
    assert not Event.objects.filter(kind="mail_bounced").exists()


def test_it_matches_an_exchange_undeliverable_by_the_quoted_message_id(org_key: Any) -> None:
    sent = sent_receipt()
    absorbed(process_message(exchange_undeliverable(sent)), "bounce")
    assert bounced_mail(sent).bounce_detail == "5.1.10 failed"


def test_it_keeps_a_bounce_for_no_mail_of_ours_for_the_team(org_key: Any, bob: Any) -> None:
    sent = sent_receipt()
    unknown = original_headers(sent).replace(sent.mail.message_id, "<other@example.org>")
    absorbed(process_message(postfix_dsn(CONTACT, headers=unknown)), "bounce_unmatched")
    page = sign_in(Client(), bob).get("/triage/mail/")
    assert "A delivery failure notice (bounce) that matches none of our mails." in (
        page.content.decode()
    )


@pytest.mark.parametrize(
    ("subject", "headers"),
    [
        (
            "Automatic reply: [{ref}] Your report",
            {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"},
        ),
        ("Automatisch antwoord: [{ref}] Uw melding", {"X-Auto-Response-Suppress": "All"}),
        ("Out of Office: back on Monday", {"Precedence": "auto_reply"}),
    ],
)
def test_it_notes_an_out_of_office_reply_without_marking_a_bounce(
    org_key: Any, subject: str, headers: dict[str, str]
) -> None:
    sent = sent_receipt()
    raw = plain_mail(
        "I am out of the office until Monday.",
        sender=f"Rita Finder <{FINDER}>",
        subject=subject.format(ref=sent.report.reference),
        headers={"In-Reply-To": sent.mail.message_id, **headers},
    )
    absorbed(process_message(raw), "auto_reply")
    mail = OutboundMail.objects.get(pk=sent.mail.pk)
    # An out-of-office answer proves the mailbox exists: the finder was reached.
    assert (mail.status, mail.bounced_at) == (OutboundMail.Status.SENT, None)
    assert mail.auto_replied_at is not None
    assert Event.objects.filter(report=sent.report, kind="mail_auto_replied").count() == 1


def test_staff_see_on_the_report_that_the_mail_bounced(org_key: Any, alice: Any) -> None:
    sent = sent_receipt()
    process_message(postfix_dsn(sent.return_path))
    page = sign_in(Client(), alice).get(f"/triage/reports/{sent.report.uid}/")
    html = page.content.decode()
    assert "Mail to the finder bounced" in html
    assert "5.1.1 failed" in html


def test_a_scanner_report_marked_auto_generated_is_still_a_report(org_key: Any) -> None:
    raw = plain_mail(
        "Scan found an exposed .git directory on www.example.org.",
        sender="Scanner <scanner@scan.example.net>",
        subject="Automated finding: exposed .git",
        headers={"Auto-Submitted": "auto-generated", "Precedence": "bulk"},
    )
    assert process_message(raw).outcome == "report"


def test_a_finders_reply_that_quotes_a_bounce_still_threads(org_key: Any) -> None:
    sent = sent_receipt()
    raw = plain_mail(
        "My first mail got 'Undeliverable: Mail delivery failed, 550 5.1.1' from your "
        "old address, so here it is again.",
        sender=f"Rita Finder <{FINDER}>",
        subject=f"Re: Undeliverable: [{sent.report.reference}] Your report",
        headers={"In-Reply-To": sent.mail.message_id},
    )
    result = process_message(raw)
    assert (result.outcome, result.report) == ("message", sent.report)
    assert OutboundMail.objects.get(pk=sent.mail.pk).status == OutboundMail.Status.SENT


def test_the_smtp_listener_matches_a_bounce_by_its_envelope_recipient(
    transactional_db: Any, org_key: Any
) -> None:
    sent = sent_receipt()
    # Only the RCPT TO names our mail: the listener records it as Delivered-To.
    raw = postfix_dsn(sent.return_path, header_to=CONTACT, delivered=False)
    with listening() as port, smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        # A bounce has a null sender; CRLF line ends, as on the wire.
        client.sendmail("", [sent.return_path], raw.replace(b"\n", b"\r\n"))
    assert bounced_mail(sent).bounce_detail == "5.1.1 failed"
    assert InboundMail.objects.filter(outcome="ignored", reason="bounce").count() == 1
    assert Report.objects.count() == 1


def test_fetchmail_matches_a_bounce_and_marks_it_done(mailbox: Dovecot, org_key: Any) -> None:
    sent = sent_receipt()
    mailbox.append(postfix_dsn(sent.return_path, header_to=CONTACT))
    stats = imap.fetch_once()
    assert (stats.processed, stats.outcomes["ignored"]) == (1, 1)
    assert bounced_mail(sent).bounce_detail == "5.1.1 failed"
    assert Report.objects.count() == 1
    assert all(flags >= {"$Meldpunt", "\\Seen"} for flags in mailbox.flags())


def test_a_person_answering_our_return_path_reaches_the_report(org_key: Any) -> None:
    """Not a bounce: someone wrote to the envelope sender of our receipt. The keyed return
    path names that mail, so the answer threads to its report instead of opening a new one."""
    sent = sent_receipt()
    raw = plain_mail(
        "Sorry, I answered the address in the bounce header. Any news?",
        sender=f"Rita Finder <{FINDER}>",
        to=sent.return_path,
        subject="Question",
    )
    result = process_message(raw)
    assert (result.outcome, result.report) == ("message", sent.report)
    local, _, domain = sent.return_path.rpartition("@")
    head, _, tag = local.rpartition(".")
    forged = f"{head}.{'a' * len(tag)}@{domain}"  # the right mail, a made-up tag
    other = process_message(plain_mail("Hello", sender=f"Rita <{FINDER}>", to=forged))
    assert other.outcome == "report" and other.report != sent.report
