from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from meldpunt.reports.models import Event, Message
from meldpunt.reports.services import add_message, read_attachment


def test_it_lets_the_finder_reply_with_attachments(rita_client, rita):
    response = rita_client.post(
        "/status/reply/",
        {"text": "More detail: see log.", "attachments": [SimpleUploadedFile("log.txt", b"L")]},
    )
    assert response.status_code == 303
    message = Message.objects.get(report=rita.report)
    assert message.author == "finder"
    assert message.body["text"] == "More detail: see log."
    assert read_attachment(message.attachments.get()) == b"L"
    page = rita_client.get("/status/").content.decode()
    assert "More detail: see log." in page
    assert "log.txt" in page
    assert Event.objects.filter(report=rita.report, kind="message").exists()


def test_it_shows_the_team_messages_escaped(rita_client, rita):
    add_message(rita.report, "staff", "Thanks <b>rita</b>", [])
    page = rita_client.get("/status/").content.decode()
    assert "Thanks &lt;b&gt;rita&lt;/b&gt;" in page


def test_it_rejects_an_empty_reply(rita_client, rita):
    response = rita_client.post("/status/reply/", {"text": "  "})
    assert response.status_code == 400
    assert not Message.objects.exists()


def test_it_lets_the_finder_change_the_credit_preference(rita_client, rita):
    response = rita_client.post("/status/credit/", {"credit": "pseudonym", "name": "r1ta"})
    assert response.status_code == 303
    rita.report.refresh_from_db()
    assert rita.report.credit == "pseudonym"
    assert rita.report.finder["name"] == "r1ta"
    assert Event.objects.filter(report=rita.report, kind="credit_changed").exists()


def test_it_asks_for_a_name_when_credit_is_wanted(rita_client, rita):
    response = rita_client.post("/status/credit/", {"credit": "name", "name": ""})
    assert response.status_code == 400
    rita.report.refresh_from_db()
    assert rita.report.credit == "none"


def test_it_answers_404_without_a_portal_session(rita):
    outsider = Client()
    assert outsider.post("/status/reply/", {"text": "x"}).status_code == 404
    assert outsider.post("/status/credit/", {"credit": "none"}).status_code == 404
    assert not Message.objects.exists()


def test_it_answers_405_to_get_on_post_only_actions(rita_client):
    assert rita_client.get("/status/reply/").status_code == 405
    assert rita_client.get("/status/credit/").status_code == 405


def test_it_requires_the_csrf_token(rita):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/status/", {"code": rita.code}).status_code == 403
