"""Reminders before the response deadline, escalation after it; each sent exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from meldpunt.reports.models import Message, Reminder, Report
from meldpunt.reports.services import add_message
from meldpunt.triage.reminders import send_due_reminders
from tests.conftest import make_staff, submit


def due_in(report: Report, delta: timedelta) -> None:
    Report.objects.filter(pk=report.pk).update(response_due_at=timezone.now() + delta)


def test_it_reminds_the_assignee_before_the_deadline_once(alice, rita):
    Report.objects.filter(pk=rita.report.pk).update(assignee=alice)
    due_in(rita.report, timedelta(hours=5))
    assert send_due_reminders() == 1
    assert send_due_reminders() == 0  # a second run (or a second worker) sends nothing
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.org"]
    assert rita.report.reference in str(mail.outbox[0].subject)
    assert "first response due" in str(mail.outbox[0].subject)


def test_it_reminds_all_triagers_of_an_unassigned_report(alice, bob, rita):
    due_in(rita.report, timedelta(hours=2))
    send_due_reminders()
    assert mail.outbox[0].to == ["alice@example.org"]  # bob is a viewer


def test_it_escalates_to_the_admins_after_the_deadline(alice, rita):
    make_staff("ada@example.org", "admin")
    Report.objects.filter(pk=rita.report.pk).update(assignee=alice)
    due_in(rita.report, timedelta(hours=-1))
    assert send_due_reminders() == 1
    assert mail.outbox[0].to == ["ada@example.org", "alice@example.org"]
    assert "OVERDUE" in str(mail.outbox[0].subject)


def test_it_sends_nothing_far_from_the_deadline_or_after_the_first_response(alice, rita):
    due_in(rita.report, timedelta(days=2))
    assert send_due_reminders() == 0
    other = submit(Client())
    Report.objects.filter(pk=other.report.pk).update(
        response_due_at=timezone.now() - timedelta(hours=1), first_response_at=timezone.now()
    )
    assert send_due_reminders() == 0


def test_it_reminds_again_when_the_deadline_moves(alice, rita):
    due_in(rita.report, timedelta(hours=3))
    send_due_reminders()
    due_in(rita.report, timedelta(hours=4))
    assert send_due_reminders() == 1
    assert Reminder.objects.filter(report=rita.report).count() == 2


def test_it_puts_no_report_content_in_reminders(alice):
    sent = submit(Client(), description="secret description marker")
    due_in(sent.report, timedelta(hours=1))
    send_due_reminders()
    message = mail.outbox[0]
    assert "secret description marker" not in f"{message.subject} {message.body}"


def test_it_reminds_of_a_progress_update_owed_to_the_finder(alice, rita):
    Report.objects.filter(pk=rita.report.pk).update(
        assignee=alice, first_response_at=timezone.now() - timedelta(days=20)
    )
    add_message(rita.report, Message.Author.STAFF, "first response", [])
    Message.objects.filter(report=rita.report).update(
        created_at=timezone.now() - timedelta(days=15)
    )
    # rita read it on her status page: only the update is owed, she was reached.
    Report.objects.filter(pk=rita.report.pk).update(finder_seen_at=timezone.now())
    assert send_due_reminders() == 1
    assert "progress update" in str(mail.outbox[0].subject)


@pytest.mark.django_db(transaction=True)
def test_it_sends_a_reminder_once_when_two_workers_run_at_the_same_moment():
    alice = make_staff("alice@example.org", "triager")
    sent = submit(Client())
    Report.objects.filter(pk=sent.report.pk).update(
        assignee=alice, response_due_at=timezone.now() + timedelta(hours=1)
    )
    start = threading.Barrier(2)
    counts: list[int] = []

    def worker() -> None:
        start.wait()
        try:
            counts.append(send_due_reminders())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(counts) == [0, 1]
    assert len(mail.outbox) == 1
    assert Reminder.objects.count() == 1
