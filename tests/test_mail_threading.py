from __future__ import annotations

from typing import Any

from meldpunt.intake.mail import process_message
from meldpunt.lib import replyaddr
from meldpunt.reports.models import Event, Message, OutboundMail, Report
from tests.test_mail_intake import plain_mail


def first_report(**kwargs: Any) -> Report:
    result = process_message(plain_mail(msg_id="<first@example.net>", **kwargs))
    assert result.outcome == "report" and result.report is not None
    return result.report


def test_it_threads_by_the_per_report_reply_address(org_key: Any) -> None:
    report = first_report()
    to = replyaddr.reply_address(report.reference)
    result = process_message(plain_mail("More detail.", sender="other@example.com", to=to))
    assert (result.outcome, result.report) == ("message", report)
    message = Message.objects.get()
    assert (message.author, message.channel, message.received_encrypted) == (
        "finder",
        "email",
        False,
    )
    assert message.body["text"] == "More detail."
    assert Event.objects.filter(report=report, kind="message", data__channel="email").exists()
    assert Report.objects.count() == 1


def test_it_does_not_thread_by_a_forged_reply_address_tag(org_key: Any) -> None:
    report = first_report()
    forged = f"security+{report.reference.lower()}.aaaaaaaaaaaaaaaa@example.org"
    result = process_message(plain_mail(sender="mallory@example.com", to=forged))
    assert result.outcome == "report"
    assert result.report != report
    assert not Message.objects.exists()


def test_it_threads_by_in_reply_to_of_our_mail(org_key: Any) -> None:
    report = first_report()
    ours = OutboundMail.objects.get(report=report).message_id
    result = process_message(
        plain_mail("Answering you.", subject="Re: hi", headers={"In-Reply-To": ours})
    )
    assert (result.outcome, result.report) == ("message", report)


def test_it_threads_by_references_to_their_own_earlier_mail(org_key: Any) -> None:
    report = first_report()
    result = process_message(plain_mail(headers={"References": "<first@example.net>"}))
    assert (result.outcome, result.report) == ("message", report)


def test_it_threads_by_subject_reference_from_the_finders_address(org_key: Any) -> None:
    report = first_report()
    result = process_message(
        plain_mail(sender="RITA@Example.net", subject=f"Re: [{report.reference}] update")
    )
    assert (result.outcome, result.report) == ("message", report)


def test_it_does_not_thread_by_subject_reference_from_another_address(org_key: Any) -> None:
    report = first_report()
    result = process_message(
        plain_mail(sender="mallory@example.com", subject=f"Re: [{report.reference}] update")
    )
    assert result.outcome == "report"
    assert result.report != report
    assert not Message.objects.exists()


def test_it_queues_no_receipt_for_a_threaded_message(org_key: Any) -> None:
    report = first_report()
    process_message(plain_mail(to=replyaddr.reply_address(report.reference)))
    assert OutboundMail.objects.count() == 1
