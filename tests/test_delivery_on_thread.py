"""The report page shows, next to each message to the finder, what became of its mail."""

from __future__ import annotations

from typing import Any

from django.test import Client

from meldpunt.intake.mail import process_message
from meldpunt.reports import outbox
from meldpunt.reports.models import OutboundMail, Report
from tests.conftest import sign_in, submit
from tests.mailservers import free_port
from tests.test_outbox import FINDER


def _page(client: Client, report: Report) -> str:
    return client.get(f"/triage/reports/{report.uid}/").content.decode()


def test_it_shows_a_deferred_mail_with_next_try_and_error(db, alice, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens
    report = submit(Client(), email=FINDER).report
    client = sign_in(Client(), alice)
    response = client.post(
        f"/triage/reports/{report.uid}/message/", {"text": "Hello.", "template": ""}
    )
    assert response.status_code == 303
    assert 'data-delivery-state="queued"' in _page(client, report)
    assert outbox.deliver_due() == 0
    page = _page(client, report)
    assert 'data-delivery-state="deferred"' in page
    assert "E-mail: Deferred — next try" in page
    assert "last error ConnectionRefusedError" in page
    assert FINDER in page  # the finder's data section; the delivery line names no address
    line = page.split('data-delivery-state="deferred"', 1)[1].split("</span>", 1)[0]
    assert FINDER not in line


def test_it_shows_an_unknown_mail_with_what_it_means(db, alice):
    report = submit(Client(), email=FINDER).report
    client = sign_in(Client(), alice)
    client.post(f"/triage/reports/{report.uid}/message/", {"text": "Hello.", "template": ""})
    OutboundMail.objects.update(status="unknown", last_error="worker stopped during hand-over")
    page = _page(client, report)
    assert 'data-delivery-state="unknown"' in page
    assert "it may have arrived" in page


def test_it_shows_no_mail_for_a_finder_without_address(rita, alice):
    client = sign_in(Client(), alice)
    client.post(f"/triage/reports/{rita.report.uid}/message/", {"text": "Hi.", "template": ""})
    assert "data-delivery-state" not in _page(client, rita.report)


def test_it_shows_the_receipt_mail_of_a_mailed_report(org_key: Any, alice: Any) -> None:
    process_message(
        b"From: rita@example.net\r\nMessage-ID: <r@example.net>\r\nSubject: XSS\r\n\r\n"
        b"Stored XSS on https://app.example.org/profile\r\n"
    )
    report = Report.objects.get()
    page = _page(sign_in(Client(), alice), report)
    receipt = page.split('id="receipt-mail"', 1)[1]
    assert receipt.lstrip(">").startswith('<span class="delivery delivery-queued"')
    assert 'data-delivery-state="queued"' in receipt
