"""The staff outbox page: every mail's delivery state, filtered, with resend and cancel."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from meldpunt.audit.models import AuditEntry
from meldpunt.reports.models import OutboundMail
from tests.conftest import Submitted, sign_in, submit
from tests.test_outbox import FINDER, queued


@pytest.fixture
def finder(db: Any) -> Submitted:
    return submit(Client(), email=FINDER, description="Stored XSS in profile")


def _mail(finder: Submitted, status: str, **fields: Any) -> OutboundMail:
    mail = queued(finder.report)
    OutboundMail.objects.filter(pk=mail.pk).update(status=status, **fields)
    mail.refresh_from_db()
    return mail


def test_it_lists_mails_with_their_state_for_a_viewer(finder, bob):
    failed = _mail(finder, "failed", attempts=8, last_error="SMTPDataError 550")
    deferred = _mail(finder, "deferred", attempts=2, last_error="<b>ConnectionRefusedError")
    page = sign_in(Client(), bob).get("/triage/outbox/")
    assert page.status_code == 200
    html = page.content.decode()
    assert page["Cache-Control"].startswith("max-age=0")
    assert f'data-mail="{failed.uid}" data-delivery-state="failed"' in html
    assert f'data-mail="{deferred.uid}" data-delivery-state="deferred"' in html
    assert html.index(str(deferred.uid)) < html.index(str(failed.uid))  # newest first
    assert f'href="/triage/reports/{finder.report.uid}/">{finder.report.reference}</a>' in html
    assert "SMTPDataError 550" in html and "&lt;b&gt;ConnectionRefusedError" in html
    assert "News for the finder" in html
    assert FINDER not in html and "Stored XSS" not in html  # no address, no content
    assert "/resend/" not in html and "/cancel/" not in html  # a viewer changes nothing
    assert 'href="/triage/outbox/" aria-current="page"' in html


def test_it_filters_by_state(finder, bob):
    failed = _mail(finder, "failed")
    sent = _mail(finder, "sent", sent_at=timezone.now())
    client = sign_in(Client(), bob)
    html = client.get("/triage/outbox/", {"state": "failed"}).content.decode()
    assert str(failed.uid) in html and str(sent.uid) not in html
    assert "1 mail" in html
    html = client.get("/triage/outbox/", {"state": "nonsense"}).content.decode()
    assert str(failed.uid) in html and str(sent.uid) in html  # a bad filter shows all


def test_it_shows_the_state_in_the_staff_language(finder, bob):
    _mail(finder, "deferred")
    client = sign_in(Client(), bob)
    html = client.get("/triage/outbox/", HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert "Uitgesteld" in html


def test_it_resends_for_a_triager_and_records_who(finder, alice):
    mail = _mail(finder, "failed", attempts=8)
    client = sign_in(Client(enforce_csrf_checks=True), alice)
    page = client.get("/triage/outbox/", {"state": "failed"}).content.decode()
    assert f'action="/triage/outbox/{mail.uid}/resend/"' in page
    token = client.cookies["csrftoken"].value
    response = client.post(
        f"/triage/outbox/{mail.uid}/resend/", {"state": "failed", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 303
    assert response["Location"] == "/triage/outbox/?state=failed"
    mail.refresh_from_db()
    assert (mail.status, mail.attempts) == ("queued", 0)
    assert AuditEntry.objects.filter(action="mail_resent").exists()
    assert finder.report.events.get(kind="mail_resent").actor == "staff:alice@example.org"


def test_it_cancels_for_a_triager_and_refuses_what_the_state_forbids(finder, alice):
    mail = _mail(finder, "queued")
    client = sign_in(Client(), alice)
    assert client.post(f"/triage/outbox/{mail.uid}/cancel/").status_code == 303
    mail.refresh_from_db()
    assert mail.status == "cancelled"
    again = client.post(f"/triage/outbox/{mail.uid}/cancel/", follow=True)
    assert "Only a queued or deferred mail can be cancelled." in again.content.decode()
    sent = _mail(finder, "sent")
    page = client.post(f"/triage/outbox/{sent.uid}/resend/", follow=True).content.decode()
    assert "Only a failed, bounced, unknown or cancelled mail can be sent again." in page
    sent.refresh_from_db()
    assert sent.status == "sent"


def test_it_refuses_without_csrf_token(finder, alice):
    mail = _mail(finder, "failed")
    client = sign_in(Client(enforce_csrf_checks=True), alice)
    assert client.post(f"/triage/outbox/{mail.uid}/resend/").status_code == 403
    mail.refresh_from_db()
    assert mail.status == "failed"


def test_it_refuses_a_viewer_outsiders_and_wrong_methods(finder, bob):
    mail = _mail(finder, "failed")
    viewer = sign_in(Client(), bob)
    assert viewer.post(f"/triage/outbox/{mail.uid}/resend/").status_code == 403
    assert viewer.post(f"/triage/outbox/{mail.uid}/cancel/").status_code == 403
    assert viewer.get(f"/triage/outbox/{mail.uid}/resend/").status_code == 405
    assert viewer.post("/triage/outbox/").status_code == 405
    assert Client().get("/triage/outbox/").status_code == 302
    charlie = get_user_model().objects.create_user("charlie", "charlie@example.net", "pw")
    outsider = Client()
    outsider.force_login(charlie)
    assert outsider.get("/triage/outbox/").status_code == 404
    assert outsider.post(f"/triage/outbox/{mail.uid}/resend/").status_code == 404
    mail.refresh_from_db()
    assert mail.status == "failed"


def test_it_answers_404_for_an_unknown_mail(alice):
    missing = "00000000-0000-4000-8000-000000000000"
    assert sign_in(Client(), alice).post(f"/triage/outbox/{missing}/resend/").status_code == 404
