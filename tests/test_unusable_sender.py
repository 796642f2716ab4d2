"""A finder address no mail can be sent to (issue 21): the report is taken in and stays
answerable, staff see that the finder cannot be mailed, and no staff action fails on it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from meldpunt.api.tokens import issue_token
from meldpunt.intake.models import InboundMail
from meldpunt.lib import receipt
from meldpunt.reports.assessment import assess
from meldpunt.reports.models import Message, OutboundMail, Report
from tests.conftest import sign_in, submit
from tests.test_smtpd import listening, send

# Found by an attacker: parseaddr made this the "address" `ab <c@example.org>`.
UNUSABLE = 'a"b <c@example.org>'


def raw_mail(sender: str, msg_id: str) -> bytes:
    # Written out by hand: EmailMessage would repair the From header on the way.
    return (
        f"From: {sender}\r\nTo: security@example.org\r\nSubject: IDOR\r\n"
        f"Message-ID: <{msg_id}@example.net>\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "\r\nIDOR on /api/invoices/<id>.\r\n"
    ).encode()


@pytest.fixture
def port(transactional_db: Any, org_key: Any) -> Iterator[int]:
    # The real listener of `meldpunt smtpd`, on its own threads and connections.
    with listening() as port:
        yield port


@pytest.fixture
def mailed(port: int) -> Report:
    send(port, raw_mail(UNUSABLE, "unusable"))
    return Report.objects.get()


@pytest.fixture
def alice_client(alice: User) -> Client:
    return sign_in(Client(), alice)


def page(report: Report, action: str) -> str:
    return f"/triage/reports/{report.uid}/{action}/"


def test_it_takes_the_report_in_without_an_address_to_write_to(mailed: Report) -> None:
    assert mailed.finder["email"] == ""
    assert mailed.finder["email_raw"] == UNUSABLE  # kept, sealed, for the team to read
    assert mailed.has_contact is False
    assert InboundMail.objects.get().answered is False
    assert not OutboundMail.objects.exists()


def test_it_shows_staff_that_the_finder_cannot_be_mailed(
    mailed: Report, alice_client: Client
) -> None:
    body = alice_client.get(f"/triage/reports/{mailed.uid}/").content.decode()
    line = re.search(r'id="finder-undeliverable">([^<]*)<', body)
    assert line is not None
    assert line[1] == "Cannot be mailed: a&quot;b &lt;c@example.org&gt;"


def test_it_lets_staff_answer_it_on_the_triage_page(
    mailed: Report, alice: User, alice_client: Client
) -> None:
    fix_date = timezone.localdate() + timedelta(days=30)
    assess(mailed, alice, valid=True, in_scope=True, expected_fix_date=fix_date)
    form = {"text": "Confirmed.", "after": "triage"}
    first = alice_client.post(page(mailed, "first-response"), form)
    assert first.status_code == 303
    assert alice_client.post(page(mailed, "message"), {"text": "Fixed soon."}).status_code == 303
    report = Report.objects.get(pk=mailed.pk)
    assert report.first_response_at is not None
    assert Message.objects.filter(report=report, author="staff").count() == 2
    assert not OutboundMail.objects.exists()  # nobody to mail: the news waits on /status/
    # The finder who holds the receipt code reads both on the status page.
    code = receipt.new_code()
    Report.objects.filter(pk=report.pk).update(receipt_digest=receipt.digest(code))
    finder = Client()
    assert finder.post("/status/", {"code": code}).status_code == 303
    status = finder.get("/status/").content.decode()
    assert "Confirmed." in status and "Fixed soon." in status


def test_it_lets_staff_answer_it_through_the_api(mailed: Report, alice: User) -> None:
    client = Client(headers={"Authorization": f"Bearer {issue_token(alice, 'tests')}"})
    response = client.post(
        f"/api/v1/reports/{mailed.uid}/messages",
        {"text": "We are looking into it."},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert response.json()["text"] == "We are looking into it."


def test_it_keeps_a_named_valid_address_deliverable(port: int) -> None:
    send(port, raw_mail("Rita Finder <rita@example.net>", "valid"))
    report = Report.objects.get()
    assert (report.finder["name"], report.finder["email"]) == ("Rita Finder", "rita@example.net")
    assert "email_raw" not in report.finder
    assert report.has_contact is True
    assert OutboundMail.objects.get(kind="receipt").status == OutboundMail.Status.QUEUED


@pytest.mark.parametrize(
    ("email", "name"),
    [
        ("ab <c@example.org>", ""),  # what the intake stored before issue 21
        ("finder@example.net\r\nBcc: spy@example.net", "Finder"),
    ],
)
def test_it_stores_a_mail_it_cannot_build_as_failed_and_sends_the_message(
    db: Any, alice: User, alice_client: Client, email: str, name: str
) -> None:
    report = submit(Client(), email="finder@example.net").report
    report.finder = {**report.finder, "email": email, "name": name}
    report.save(update_fields=["finder_blob"])
    response = alice_client.post(page(report, "message"), {"text": "News for you."})
    assert response.status_code == 303
    assert Message.objects.filter(report=report, author="staff").exists()
    mail = OutboundMail.objects.get(report=report)
    assert mail.status == OutboundMail.Status.FAILED
    assert mail.last_error == "cannot be built: ValueError"
    assert mail.envelope == {"to": [], "raw": ""}


def test_it_forgets_the_kept_sender_when_the_contact_data_goes(mailed: Report) -> None:
    from django.db import transaction

    from meldpunt.reports.services import forget_contact

    with transaction.atomic():
        locked = Report.objects.select_for_update().get(pk=mailed.pk)
        locked.save(update_fields=forget_contact(locked))
    assert Report.objects.get(pk=mailed.pk).finder["email_raw"] == ""
