"""The first response: it carries the assessment, stops the clock, and reaches the finder."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from meldpunt.reports import outbox
from meldpunt.reports.assessment import assess
from meldpunt.reports.lifecycle import WorkflowError, transition
from meldpunt.reports.messages import send_first_response, send_message
from meldpunt.reports.models import Event, Message, OutboundMail, Report, Resolution, State
from tests.conftest import sign_in, submit

FIX_DATE = timezone.localdate() + timedelta(days=30)


def url(report: Report, action: str) -> str:
    return f"/triage/reports/{report.uid}/{action}/"


@pytest.fixture
def alice_client(alice: User) -> Client:
    return sign_in(Client(), alice)


def assessed(report: Report, user: User, **fields: Any) -> Report:
    values = {"valid": True, "in_scope": True, "expected_fix_date": FIX_DATE, **fields}
    assess(report, user, **values)
    return report


def test_it_refuses_the_first_response_without_an_assessment(rita, alice):
    with pytest.raises(WorkflowError, match="Assess the report first"):
        send_first_response(rita.report, alice, "Thanks.")
    assert not Message.objects.exists()


def test_it_refuses_the_first_response_to_a_valid_report_without_a_fix_date(rita, alice):
    assessed(rita.report, alice, expected_fix_date=None)
    with pytest.raises(WorkflowError, match="expected fix date"):
        send_first_response(rita.report, alice, "Thanks.")
    rita.report.refresh_from_db()
    assert (rita.report.first_response_at, rita.report.state) == (None, State.RECEIVED)


def test_it_shows_the_refusal_on_the_form(rita, alice, alice_client):
    response = alice_client.post(
        url(rita.report, "first-response"), {"text": "Thanks.", "after": "triage"}
    )
    assert response.status_code == 400
    assert "Assess the report first" in response.content.decode()
    assert not Message.objects.exists()


def test_it_sends_the_first_response_and_stops_the_clock(rita, alice):
    assessed(rita.report, alice)
    message = send_first_response(rita.report, alice, "Confirmed; fix due next month.")
    report = Report.objects.get(pk=rita.report.pk)
    assert report.state == State.TRIAGED
    assert report.first_response_at == message.created_at
    assert report.first_response_kept is True
    assert message.is_first_response and message.staff_author == alice
    assert message.body == {"text": "Confirmed; fix due next month."}
    sent = Event.objects.get(report=report, kind="message_sent")
    assert sent.actor == "staff:alice@example.org"
    assert sent.data["first_response"] is True
    assert Event.objects.get(report=report, kind="state_changed").data["to"] == "triaged"


def test_it_records_a_late_first_response_as_not_kept(rita, alice):
    Report.objects.filter(pk=rita.report.pk).update(
        response_due_at=timezone.now() - timedelta(hours=1)
    )
    assessed(rita.report, alice)
    send_first_response(rita.report, alice, "Sorry for the wait.")
    assert Report.objects.get(pk=rita.report.pk).first_response_kept is False


def test_it_sends_the_first_response_only_once(rita, alice):
    assessed(rita.report, alice)
    send_first_response(rita.report, alice, "First.")
    with pytest.raises(WorkflowError, match="sent already"):
        send_first_response(rita.report, alice, "Second.")
    assert Message.objects.filter(is_first_response=True).count() == 1


def test_it_lets_a_plain_message_leave_the_clock_running(rita, alice):
    send_message(rita.report, alice, "Which URL exactly?")
    report = Report.objects.get(pk=rita.report.pk)
    assert (report.first_response_at, report.state) == (None, State.RECEIVED)
    assert not Message.objects.get().is_first_response


def test_it_closes_an_invalid_report_with_the_first_response_if_asked(rita, alice):
    assessed(rita.report, alice, valid=False, expected_fix_date=None)
    send_first_response(rita.report, alice, "Not a vulnerability.", close=True)
    report = Report.objects.get(pk=rita.report.pk)
    assert (report.state, report.resolution) == (State.CLOSED, Resolution.INVALID)
    assert report.first_response_kept is True


def test_it_closes_an_out_of_scope_report_without_a_fix_date(rita, alice):
    assessed(rita.report, alice, in_scope=False, expected_fix_date=None)
    send_first_response(rita.report, alice, "Out of scope.", close=True)
    report = Report.objects.get(pk=rita.report.pk)
    assert (report.state, report.resolution) == (State.CLOSED, Resolution.OUT_OF_SCOPE)


def test_it_does_not_close_a_valid_in_scope_report_with_the_first_response(rita, alice):
    assessed(rita.report, alice)
    with pytest.raises(WorkflowError, match="invalid or out-of-scope"):
        send_first_response(rita.report, alice, "Bye.", close=True)


def test_it_sends_the_first_response_after_the_finder_answered_a_question(rita, alice):
    transition(rita.report, State.NEEDS_INFO, alice)
    assessed(rita.report, alice)
    send_first_response(rita.report, alice, "Thanks for the details.")
    assert Report.objects.get(pk=rita.report.pk).state == State.TRIAGED


def test_it_shows_the_first_response_to_the_finder(rita, rita_client, alice, alice_client):
    assessed(rita.report, alice)
    response = alice_client.post(
        url(rita.report, "first-response"),
        {"text": "We confirm it; fix by the date shown.", "after": "triage"},
    )
    assert response.status_code == 303
    assert response["Location"] == f"/triage/reports/{rita.report.uid}/"
    page = rita_client.get("/status/").content.decode()
    assert "We confirm it; fix by the date shown." in page
    assert "Assessed" in page  # the finder's view of "triaged"


def test_it_offers_the_first_response_only_while_it_is_due(rita, alice, alice_client):
    compose = f"/triage/reports/{rita.report.uid}/compose/"
    assert "/first-response/" in alice_client.get(compose).content.decode()
    transition(rita.report, State.CLOSED, alice, resolution=Resolution.SPAM)
    page = alice_client.get(compose).content.decode()
    assert "/first-response/" not in page
    assert f'action="/triage/reports/{rita.report.uid}/message/"' in page


@pytest.mark.django_db(transaction=True)
def test_it_sends_one_first_response_when_two_triagers_click_at_once(alice):
    report = assessed(submit(Client()).report, alice)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def click(text: str) -> None:
        try:
            barrier.wait()
            send_first_response(Report.objects.get(pk=report.pk), alice, text)
            outcomes.append("sent")
        except WorkflowError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(t,)) for t in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "sent"]
    assert Message.objects.filter(report=report, is_first_response=True).count() == 1
    assert Event.objects.filter(report=report, kind="state_changed").count() == 1


# --- The notice to the finder (the outbox has its own tests: tests/test_outbox.py) --------

SECRET = "The admin password is hunter2"


def test_it_mails_a_notice_without_any_content(alice):
    sent = submit(Client(), email="finder@example.net", description="Stored XSS in profile")
    assessed(sent.report, alice)
    send_first_response(sent.report, alice, SECRET)
    assert mail.outbox == []  # queued, not sent: the outbox sends it
    assert outbox.deliver_due() == 1
    assert len(mail.outbox) == 1
    notice = mail.outbox[0]
    reference = sent.report.reference
    assert notice.to == ["finder@example.net"]
    assert reference in notice.subject
    assert "http://127.0.0.1:8000/status/" in notice.body
    assert reference in notice.body
    raw = notice.message().as_bytes()
    for secret in (SECRET, "hunter2", "Stored XSS", "XSS", "profile"):
        assert secret.encode() not in raw


def test_it_queues_the_notice_with_the_message_and_sends_it_after_the_commit(
    alice, django_capture_on_commit_callbacks
):
    sent = submit(Client(), email="finder@example.net")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        send_message(sent.report, alice, "Hello.")
    assert mail.outbox == []  # nothing before the commit
    assert callbacks == []  # its delivery task is committed with it
    queued = OutboundMail.objects.get(report=sent.report)
    tasks = DBTaskResult.objects.filter(task_path="meldpunt.reports.outbox.deliver")
    assert [t.args_kwargs["args"] for t in tasks] == [[str(queued.uid)]]
    assert (queued.kind, queued.status) == ("news", "queued")
