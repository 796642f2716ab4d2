"""Files the team sends with a message: desk and API, the finder's download, the mail."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from meldpunt.api.models import ApiToken
from meldpunt.api.tokens import issue_token
from meldpunt.audit.models import AuditEntry
from meldpunt.lib.storage import save_durably
from meldpunt.lib.uploads import IncomingFile
from meldpunt.reports import services
from meldpunt.reports.models import Attachment, Event, Message, OutboundMail
from tests.conftest import sign_in, submit

JSON = "application/json"
PATCH = b"--- a/app.py\n+++ b/app.py\n@@ -1 +1 @@\n-print(q)\n+print(escape(q))\n"


def upload(name: str = "fix.patch", data: bytes = PATCH) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/x-diff")


def api(token: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {token}"})


def stored_names() -> set[str]:
    root = Path(default_storage.location)  # type: ignore[attr-defined]
    return {str(p) for p in root.rglob("*") if p.is_file()}


def test_the_desk_sends_a_message_with_files_and_the_finder_downloads_them(alice, rita):
    desk = sign_in(Client(), alice)
    url = f"/triage/reports/{rita.report.uid}/message/"
    answer = desk.post(url, {"text": "A fix to try.", "attachments": [upload()]})
    assert answer.status_code == 303, answer.content.decode()[:2000]
    message = Message.objects.get(report=rita.report, author="staff")
    [att] = message.attachments.all()
    assert att.meta["name"] == "fix.patch" and att.size == len(PATCH)
    sent = Event.objects.get(report=rita.report, kind="message_sent")
    assert sent.data["attachments"] == 1
    entry = AuditEntry.objects.get(action="attachment_sent")
    assert entry.data["attachment"] == str(att.uid) and entry.data["size"] == len(PATCH)

    finder = Client()
    assert finder.post("/status/", {"code": rita.code}).status_code == 303
    page = finder.get("/status/").content.decode()
    link = f"/status/attachment/{att.uid}/"
    assert link in page
    got = finder.get(link)
    assert got.status_code == 200 and got.getvalue() == PATCH
    assert got["Content-Disposition"].startswith("attachment;")
    assert Event.objects.filter(report=rita.report, kind="attachment_downloaded").get().actor == (
        "finder"
    )
    # Another finder, and nobody at all, get nothing.
    other = submit(Client())
    stranger = Client()
    assert stranger.post("/status/", {"code": other.code}).status_code == 303
    assert stranger.get(link).status_code == 404
    assert Client().get(link).status_code == 404


def test_the_finder_cannot_download_their_own_files_through_the_team_link(rita, rita_client):
    rita_client.post("/status/reply/", {"text": "More.", "attachments": [upload("poc.txt")]})
    own = Attachment.objects.get(report=rita.report)
    assert rita_client.get(f"/status/attachment/{own.uid}/").status_code == 404


def test_the_desk_applies_the_finders_limits(alice, rita, settings):
    settings.MELDPUNT_MAX_ATTACHMENTS = 1
    desk = sign_in(Client(), alice)
    url = f"/triage/reports/{rita.report.uid}/message/"
    answer = desk.post(url, {"text": "Two files.", "attachments": [upload("a"), upload("b")]})
    assert answer.status_code == 400
    assert "at most 1 file" in answer.content.decode()
    assert not Message.objects.filter(author="staff").exists()


def test_a_failing_store_leaves_no_message_and_no_file(alice, rita, monkeypatch, files_store):
    before = stored_names()
    real = save_durably
    calls = []

    def second_fails(*args: Any) -> str:
        calls.append(args)
        if len(calls) == 2:
            raise OSError("disk gone")
        return real(*args)

    monkeypatch.setattr(services, "save_durably", second_fails)
    desk = sign_in(Client(), alice)
    desk.raise_request_exception = False
    url = f"/triage/reports/{rita.report.uid}/message/"
    answer = desk.post(url, {"text": "Two files.", "attachments": [upload("a"), upload("b")]})
    assert answer.status_code == 500
    assert not Message.objects.filter(author="staff").exists()
    assert not Attachment.objects.exists()
    assert not Event.objects.filter(kind="message_sent").exists()
    assert stored_names() == before


def test_a_failing_transaction_removes_the_stored_files(alice, rita, monkeypatch):
    before = stored_names()
    monkeypatch.setattr(
        "meldpunt.reports.outbox.queue_news", lambda *a, **k: (_ for _ in ()).throw(OSError)
    )
    from meldpunt.reports import messages

    with pytest.raises(OSError):
        messages.send_message(
            rita.report, alice, "A fix.", files=[IncomingFile("a", "text/plain", b"x")]
        )
    assert not Attachment.objects.exists() and not Message.objects.filter(author="staff")
    assert stored_names() == before


def test_the_mail_in_clear_says_how_many_files_wait_without_carrying_them(alice):
    report = submit(Client(), email="rita@example.net").report
    desk = sign_in(Client(), alice)
    url = f"/triage/reports/{report.uid}/message/"
    files = [upload("one.patch"), upload("two.patch")]
    assert desk.post(url, {"text": "Fixes.", "attachments": files}).status_code == 303
    mail = OutboundMail.objects.get(report=report, kind="news")
    raw = base64.b64decode(mail.envelope["raw"])
    assert b"2 attachments" in raw
    assert PATCH not in raw and b"one.patch" not in raw and b"Fixes." not in raw


def test_the_api_sends_files_that_download_as_sent(alice, rita):
    client = api(issue_token(alice, "files"))
    url = f"/api/v1/reports/{rita.report.uid}"
    etag = client.get(url)["ETag"]
    answer = client.post(
        f"{url}/messages/attachments",
        {"text": "A fix to try.", "files": [upload(), upload("notes.txt", b"read me")]},
        headers={"If-Match": etag},
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert [(a["name"], a["size"]) for a in body["attachments"]] == [
        ("fix.patch", len(PATCH)),
        ("notes.txt", 7),
    ]
    detail = client.get(url).json()
    [sent] = [m for m in detail["messages"] if m["author"] == "staff"]
    assert sent["uid"] == body["uid"] and sent["attachments"] == body["attachments"]
    first = body["attachments"][0]["uid"]
    assert client.get(f"{url}/attachments/{first}").getvalue() == PATCH
    assert Event.objects.get(kind="message_sent").data["attachments"] == 2
    assert AuditEntry.objects.filter(action="attachment_sent").count() == 2


def test_the_api_refuses_what_the_desk_refuses(alice, bob, rita, settings):
    url = f"/api/v1/reports/{rita.report.uid}"
    target = f"{url}/messages/attachments"
    reader = api(issue_token(alice, "read", scopes=["read"]))
    assert reader.post(target, {"text": "x", "files": [upload()]}).status_code == 403
    viewer_token = issue_token(bob, "viewer")
    ApiToken.objects.filter(user=bob).update(scopes=["read", "triage"])
    viewer = api(viewer_token)
    assert viewer.post(target, {"text": "x", "files": [upload()]}).status_code == 403
    client = api(issue_token(alice, "files"))
    etag = client.get(url)["ETag"]
    # Someone changes the report after this client read it.
    change = api(issue_token(alice, "other")).patch(
        f"{url}/assessment", {"cwe": "CWE-79"}, content_type=JSON
    )
    assert change.status_code == 200
    stale = client.post(target, {"text": "x", "files": [upload()]}, headers={"If-Match": etag})
    assert stale.status_code == 412
    settings.MELDPUNT_MAX_ATTACHMENT_BYTES = 10
    big = client.post(target, {"text": "x", "files": [upload()]})
    assert big.status_code == 422 and big.json()["code"] == "invalid"
    assert not Message.objects.filter(author="staff").exists()
    assert not Attachment.objects.exists()
