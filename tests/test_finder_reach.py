"""A finder not reached: shown on the report, filtered in the inbox and the API, reminded once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.utils import timezone

from meldpunt.api.tokens import issue_token
from meldpunt.reports.models import Message, OutboundMail, Reminder, Report
from meldpunt.reports.reach import UNREAD, finder_reach, not_reached
from meldpunt.reports.services import add_message
from meldpunt.triage.reminders import send_due_reminders
from tests.conftest import sign_in, submit

S = OutboundMail.Status


def mail_to(report: Report, status: str, age: timedelta = timedelta(0)) -> OutboundMail:
    """A mail in the outbox as the outbox engine leaves it (the engine has its own tests)."""
    at = timezone.now() - age
    sent = OutboundMail(
        report=report,
        created_at=at,
        kind="news",
        message_id=f"<{uuid.uuid4()}@test>",
        status=status,
        status_changed_at=at,
        next_attempt_at=at,
    )
    sent.envelope = {"to": [], "raw": ""}
    sent.save()
    return sent


def staff_message(report: Report, age: timedelta = timedelta(0)) -> Message:
    message = add_message(report, Message.Author.STAFF, "news", [])
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - age)
    return message


def with_contact(report: Report) -> Report:
    Report.objects.filter(pk=report.pk).update(has_contact=True)
    report.refresh_from_db()
    return report


def seen(report: Report, at: datetime | None) -> Report:
    Report.objects.filter(pk=report.pk).update(finder_seen_at=at)
    return report


# Each case: (set-up, reached?, reason). One new report per case.
HOUR = timedelta(hours=1)
CASES: list[tuple[str, Callable[[Report], object], bool, str]] = [
    ("contact, no mail", lambda r: with_contact(r), True, ""),
    ("newest mail sent", lambda r: (with_contact(r), mail_to(r, S.SENT)), True, ""),
    ("newest mail queued", lambda r: (with_contact(r), mail_to(r, S.QUEUED)), True, ""),
    (
        "newest mail deferred",
        lambda r: (with_contact(r), mail_to(r, S.DEFERRED)),
        False,
        "deferred",
    ),
    ("newest mail failed", lambda r: (with_contact(r), mail_to(r, S.FAILED)), False, "failed"),
    ("newest mail bounced", lambda r: (with_contact(r), mail_to(r, S.BOUNCED)), False, "bounced"),
    ("newest mail unknown", lambda r: (with_contact(r), mail_to(r, S.UNKNOWN)), False, "unknown"),
    (
        "a failed mail, then a sent one",
        lambda r: (with_contact(r), mail_to(r, S.FAILED, 2 * HOUR), mail_to(r, S.SENT)),
        True,
        "",
    ),
    (
        "a bounced mail, then a cancelled one",
        lambda r: (with_contact(r), mail_to(r, S.BOUNCED, 2 * HOUR), mail_to(r, S.CANCELLED)),
        False,
        "bounced",
    ),
    ("no address, no team message", lambda r: None, True, ""),
    ("no address, message never read", lambda r: staff_message(r), False, UNREAD),
    (
        "no address, page opened after the message",
        lambda r: (staff_message(r, HOUR), seen(r, timezone.now())),
        True,
        "",
    ),
    (
        "no address, page opened before the message",
        lambda r: (seen(r, timezone.now() - 2 * HOUR), staff_message(r, HOUR)),
        False,
        UNREAD,
    ),
    (
        "no address, only the finder wrote",
        lambda r: add_message(r, Message.Author.FINDER, "hello", []),
        True,
        "",
    ),
]


@pytest.mark.django_db
def test_it_agrees_between_the_rule_for_one_report_and_the_filter():
    expected = {}
    for name, setup, reached, reason in CASES:
        report = submit(Client()).report
        setup(report)
        report.refresh_from_db()
        reach = finder_reach(report)
        assert (reach.reached, reach.reason) == (reached, reason), name
        expected[report.pk] = reached
    filtered = set(Report.objects.filter(not_reached()).values_list("pk", flat=True))
    assert filtered == {pk for pk, reached in expected.items() if not reached}
    excluded = set(Report.objects.exclude(not_reached()).values_list("pk", flat=True))
    assert excluded == {pk for pk, reached in expected.items() if reached}


def test_it_shows_a_finder_not_reached_on_the_report_with_the_reason(rita, alice):
    client = sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), alice)
    reached = client.get(f"/triage/reports/{rita.report.uid}/").content.decode()
    assert 'data-finder-reached="yes"' in reached
    mail_to(with_contact(rita.report), S.BOUNCED)
    html = client.get(f"/triage/reports/{rita.report.uid}/").content.decode()
    assert 'data-finder-reached="no"' in html
    assert "Finder not reached" in html
    assert "mail bounced" in html


def test_it_names_the_unread_message_of_a_finder_without_an_address(rita, alice):
    staff_message(rita.report)
    html = (
        sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), alice)
        .get(f"/triage/reports/{rita.report.uid}/")
        .content.decode()
    )
    assert 'data-finder-reached="no"' in html
    assert "has not read the message of" in html


def test_it_counts_the_status_page_as_reading_the_message(rita, rita_client, alice):
    staff_message(rita.report, HOUR)
    assert not finder_reach(Report.objects.get(pk=rita.report.pk)).reached
    rita_client.get("/status/")
    assert finder_reach(Report.objects.get(pk=rita.report.pk)).reached


def test_it_filters_the_inbox_on_finders_not_reached(alice):
    lost, fine = submit(Client()).report, submit(Client()).report
    mail_to(with_contact(lost), S.FAILED)
    mail_to(with_contact(fine), S.SENT)
    client = sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), alice)
    html = client.get("/triage/", {"not_reached": "on"}).content.decode()
    assert lost.reference in html
    assert fine.reference not in html
    assert "finder not reached" in html  # the row's badge
    everything = client.get("/triage/").content.decode()
    assert fine.reference in everything


def test_it_says_in_the_api_whether_the_finder_was_reached(rita, alice):
    client = Client(headers={"Authorization": f"Bearer {issue_token(alice, 'tests')}"})
    assert client.get(f"/api/v1/reports/{rita.report.uid}").json()["finder_reached"] is True
    mail_to(with_contact(rita.report), S.DEFERRED)
    detail = client.get(f"/api/v1/reports/{rita.report.uid}").json()
    assert detail["finder_reached"] is False
    assert detail["finder_not_reached_reason"] == "deferred"
    listed = client.get("/api/v1/reports", {"not_reached": "true"}).json()
    assert [r["reference"] for r in listed] == [rita.report.reference]
    assert client.get("/api/v1/reports", {"not_reached": "false"}).json() == []


def test_it_reminds_the_assignee_once_after_the_grace(rita, alice: User, settings):
    settings.MELDPUNT_NOT_REACHED_HOURS = 24
    Report.objects.filter(pk=rita.report.pk).update(
        assignee=alice, response_due_at=timezone.now() + timedelta(days=3)
    )
    failed = mail_to(with_contact(rita.report), S.FAILED, timedelta(hours=2))
    assert send_due_reminders() == 0  # a mail may still find its way: wait out the grace
    OutboundMail.objects.filter(pk=failed.pk).update(
        status_changed_at=timezone.now() - timedelta(hours=25)
    )
    assert send_due_reminders() == 1
    assert send_due_reminders() == 0
    assert [m.to for m in mail.outbox] == [["alice@example.org"]]
    assert "not reached" in str(mail.outbox[0].subject)
    assert rita.report.reference in str(mail.outbox[0].subject)
    assert Reminder.objects.filter(kind=Reminder.Kind.NOT_REACHED).count() == 1
