"""The finder downloads what the report holds from /status/, and can erase who they are."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from meldpunt.lib.uploads import IncomingFile
from meldpunt.reports.models import Event, OutboundMail, Report
from meldpunt.reports.services import add_message
from tests.conftest import submit

pytestmark = pytest.mark.django_db


def _finder(**fields: Any) -> tuple[Any, Client]:
    sent = submit(Client(), **fields)
    client = Client()
    assert client.post("/status/", {"code": sent.code}).status_code == 303
    return sent, client


def test_it_exports_everything_held_about_the_report_as_json() -> None:
    sent, client = _finder(name="Rita R.", email="rita@example.net", description="EXPORT-ME")
    add_message(sent.report, "staff", "Thanks!", [])
    add_message(sent.report, "finder", "More", [IncomingFile("poc.txt", "text/plain", b"x")])
    response = client.post("/status/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{sent.report.reference}.json"'
    assert "no-store" in response["Cache-Control"]
    doc = json.loads(response.content)
    assert doc["reference"] == sent.report.reference
    assert doc["report"]["description"] == "EXPORT-ME"
    assert doc["about_you"] == {"name": "Rita R.", "email": "rita@example.net"}
    assert [(m["from"], m["text"]) for m in doc["messages"]] == [
        ("team", "Thanks!"),
        ("you", "More"),
    ]
    assert doc["attachments"][0]["name"] == "poc.txt"
    assert Event.objects.filter(report=sent.report, kind="finder_export").exists()


def test_it_exports_only_by_post_and_only_with_a_portal_session(rita: Any) -> None:
    assert Client().post("/status/export/").status_code == 404
    _sent, client = _finder()
    assert client.get("/status/export/").status_code == 405


def test_it_erases_name_address_and_key_at_once() -> None:
    sent, client = _finder(name="Rita R.", email="rita@example.net", credit="name")
    response = client.post("/status/erase/", {"confirm": "on"})
    assert response.status_code == 303
    report = Report.objects.get(pk=sent.report.pk)
    assert report.finder["email"] == "" and report.finder["name"] == ""
    assert report.finder["erased_at"]
    assert (report.has_contact, report.has_pgp_key, report.credit) == (False, False, "none")
    assert Event.objects.filter(report=report, kind="finder_data_erased").exists()
    page = client.get("/status/").content.decode()
    assert 'id="erased"' in page and "rita@example.net" not in page


def test_it_asks_for_confirmation_before_erasing() -> None:
    sent, client = _finder(email="rita@example.net")
    response = client.post("/status/erase/", {})
    assert response.status_code == 400
    assert Report.objects.get(pk=sent.report.pk).finder["email"] == "rita@example.net"


def test_it_removes_the_address_from_the_outbox_and_cancels_queued_mail() -> None:
    sent, client = _finder(email="rita@example.net")
    mail = OutboundMail(
        report=sent.report,
        created_at=timezone.now(),
        kind="news",
        message_id="<x@example.org>",
        next_attempt_at=timezone.now() + timedelta(minutes=5),
    )
    mail.envelope = {"to": ["rita@example.net"], "raw": "cmF3"}
    mail.save()
    client.post("/status/erase/", {"confirm": "on"})
    stored = OutboundMail.objects.get(pk=mail.pk)
    assert stored.envelope == {"to": [], "raw": ""}
    assert stored.status == OutboundMail.Status.CANCELLED
    assert stored.last_error == "contact data erased"


def test_it_offers_both_on_the_status_page() -> None:
    _sent, client = _finder()
    page = client.get("/status/").content.decode()
    assert 'action="/status/export/"' in page and 'action="/status/erase/"' in page
