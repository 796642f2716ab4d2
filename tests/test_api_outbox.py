"""The API shows each message's delivery and lists the outbox, filtered by state."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from meldpunt.api.tokens import issue_token
from meldpunt.reports import outbox
from meldpunt.reports.models import OutboundMail
from tests.conftest import submit
from tests.test_api import api
from tests.test_outbox import FINDER


def test_it_shows_each_messages_delivery(alice, db):
    report = submit(Client(), email=FINDER).report
    client = api(issue_token(alice, "tests"))
    posted = client.post(
        f"/api/v1/reports/{report.uid}/messages",
        {"text": "Hello."},
        content_type="application/json",
    )
    assert posted.status_code == 201
    assert posted.json()["delivery"]["state"] == "queued"
    later = timezone.now() + timedelta(minutes=5)
    OutboundMail.objects.update(
        status="deferred", attempts=1, last_error="ConnectionRefusedError", next_attempt_at=later
    )
    [message] = client.get(f"/api/v1/reports/{report.uid}").json()["messages"]
    delivery = message["delivery"]
    assert set(delivery) == {
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "sent_at",
        "bounced_at",
    }
    assert (delivery["state"], delivery["attempts"]) == ("deferred", 1)
    assert delivery["last_error"] == "ConnectionRefusedError"
    assert delivery["next_attempt_at"] is not None and delivery["sent_at"] is None


def test_it_shows_null_delivery_without_a_mail(alice, rita):
    client = api(issue_token(alice, "tests"))
    client.post(
        f"/api/v1/reports/{rita.report.uid}/messages",
        {"text": "Hello."},
        content_type="application/json",
    )
    [message] = client.get(f"/api/v1/reports/{rita.report.uid}").json()["messages"]
    assert message["delivery"] is None


def test_it_lists_the_outbox_by_state_without_addresses(bob, db):
    report = submit(Client(), email=FINDER).report
    client = api(issue_token(bob, "read"))  # a viewer may read it
    first = outbox.queue_news(report)
    second = outbox.queue_news(report)
    assert first is not None and second is not None
    OutboundMail.objects.filter(pk=first.pk).update(status="failed", last_error="SMTPDataError 550")
    response = client.get("/api/v1/outbox")
    assert response.status_code == 200
    rows = response.json()
    assert [r["uid"] for r in rows] == [str(second.uid), str(first.uid)]  # newest first
    assert rows[1]["state"] == "failed" and rows[1]["report"] == report.reference
    assert FINDER not in response.content.decode()
    failed = client.get("/api/v1/outbox", {"state": "failed"}).json()
    assert [r["uid"] for r in failed] == [str(first.uid)]


def test_it_refuses_an_unknown_state_naming_the_allowed_ones(bob, db):
    response = api(issue_token(bob, "read")).get("/api/v1/outbox", {"state": "lost"})
    assert response.status_code == 422
    text = response.content.decode()
    for allowed in ("queued", "deferred", "sent", "failed", "bounced", "unknown", "cancelled"):
        assert f"'{allowed}'" in text


def test_it_refuses_the_outbox_without_a_token(db):
    assert api(None).get("/api/v1/outbox").status_code == 401


def test_it_documents_the_outbox_and_delivery(db):
    schema = Client().get("/api/v1/openapi.json").json()
    assert "/api/v1/outbox" in schema["paths"]
    names = schema["components"]["schemas"]
    assert "delivery" in names["ReportMessage"]["properties"]
