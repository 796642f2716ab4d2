"""One report for the team: decrypted and escaped, files, notes, and who may do what."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils.formats import date_format

from meldpunt.lib.uploads import IncomingFile
from meldpunt.reports.assessment import assess
from meldpunt.reports.lifecycle import transition
from meldpunt.reports.models import Event, Note, Report
from meldpunt.reports.services import add_message
from tests.conftest import PASSWORD, Submitted, sign_in, submit

# Mail intake keeps names as sent: quotes, a header separator, markup, a bidi override, CR LF.
EVIL_NAME = 'bad"name;<b>\u202ex\r\n.html'


def url(report: Report, rest: str = "") -> str:
    return f"/triage/reports/{report.uid}/{rest}"


@pytest.fixture
def alice_client(alice: User) -> Client:
    return sign_in(Client(), alice)


@pytest.fixture
def bob_client(bob: User) -> Client:
    return sign_in(Client(), bob)


@pytest.fixture
def with_file(db) -> Submitted:
    sent = submit(Client())
    evil = IncomingFile(EVIL_NAME, "text/html", b"<script>alert(1)</script>")
    add_message(sent.report, "finder", "The proof.", [evil])
    return sent


def test_it_shows_every_field_decrypted_and_escaped(alice_client):
    sent = submit(
        Client(),
        affected_systems='https://x.example.org/"><b>sys</b>\nshop.example.org',
        description="<b>bold</b>\nsecond line",
        steps="<i>step</i>",
        impact="<u>impact</u>",
        exploited="yes",
        already_public="unknown",
        references="https://ref.example.org/<em>r</em>",
        disclosure_date="2099-05-01",
        csirt_notified="planned",
        name="<b>Rita</b>",
        email="rita@example.org",
        credit="name",
    )
    page = alice_client.get(url(sent.report)).content.decode()
    expected = [
        "<code>https://x.example.org/&quot;&gt;&lt;b&gt;sys&lt;/b&gt;</code>",
        "<code>shop.example.org</code>",
        "Cross-site scripting (XSS)",
        "&lt;b&gt;bold&lt;/b&gt;<br>second line",
        "&lt;i&gt;step&lt;/i&gt;",
        "&lt;u&gt;impact&lt;/u&gt;",
        '<dd id="exploited">Yes</dd>',
        '<dd id="already-public">Unknown</dd>',
        "<code>https://ref.example.org/&lt;em&gt;r&lt;/em&gt;</code>",
        "1 May 2099",
        '<dd id="csirt-notified">Not yet, but planned</dd>',
        '<dd id="finder-name">&lt;b&gt;Rita&lt;/b&gt;</dd>',
        '<dd id="finder-email">rita@example.org</dd>',
        '<dd id="finder-credit">By name</dd>',
        '<dd id="finder-pgp">none</dd>',
    ]
    for text in expected:
        assert text in page
    assert "<b>" not in page.split("<main")[1]


def test_it_says_whether_a_pgp_key_is_on_file(alice_client, rita):
    rita.report.finder = {**rita.report.finder, "pgp_key": "-----BEGIN PGP PUBLIC KEY BLOCK-----"}
    rita.report.save()
    page = alice_client.get(url(rita.report)).content.decode()
    assert '<dd id="finder-pgp">on file</dd>' in page
    assert "BEGIN PGP" not in page


def test_it_shows_the_thread_and_the_history(alice_client, rita, alice):
    add_message(rita.report, "finder", "It also works on <b>/admin</b>.", [])
    add_message(rita.report, "staff", "Thanks, we are looking.", [])
    page = alice_client.get(url(rita.report)).content.decode()
    assert "It also works on &lt;b&gt;/admin&lt;/b&gt;." in page
    assert "Thanks, we are looking." in page
    history = page.split('id="history"')[1]
    assert "Report received" in history
    assert history.count("Message") == 2


def test_it_gives_the_workflow_panel_the_report_and_the_role(alice_client, bob_client, rita):
    as_triager = alice_client.get(url(rita.report))
    as_viewer = bob_client.get(url(rita.report))
    assert as_triager.context["report"] == rita.report
    assert as_triager.context["can_change"] is True
    assert as_viewer.context["can_change"] is False
    assert "triage/workflow/panel.html" in [t.name for t in as_triager.templates]


def test_it_answers_404_for_an_unknown_report(alice_client):
    assert alice_client.get(f"/triage/reports/{uuid.uuid4()}/").status_code == 404
    assert alice_client.get("/triage/reports/1/").status_code == 404


def test_it_sends_anonymous_visitors_to_the_login_page(with_file):
    report = with_file.report
    attachment = report.attachments.get()
    anonymous = Client()
    for path in (url(report), url(report, f"attachments/{attachment.uid}/")):
        response = anonymous.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/triage/login/?next=")
    assert anonymous.post(url(report, "notes/"), {"text": "x"}).status_code == 302
    assert not Note.objects.exists()
    assert not Event.objects.filter(kind="attachment_downloaded").exists()


def test_it_keeps_a_password_only_session_out(alice, rita):
    client = Client()
    client.post("/triage/login/", {"username": "alice@example.org", "password": PASSWORD})
    response = client.get(url(rita.report))
    assert response.status_code == 302
    assert response["Location"].startswith("/triage/login/")


def test_it_lets_a_triager_add_a_sealed_note(alice_client, rita, alice):
    response = alice_client.post(url(rita.report, "notes/"), {"text": "Looks <b>real</b>."})
    assert response.status_code == 303
    assert response["Location"] == url(rita.report) + "#notes"
    note = Note.objects.get(report=rita.report)
    assert note.author == alice
    assert note.body == {"text": "Looks <b>real</b>."}
    assert b"real" not in bytes(note.body_blob)
    event = Event.objects.get(report=rita.report, kind="note_added")
    assert event.actor == "staff:alice@example.org"
    assert event.data == {"note": str(note.uid)}
    page = alice_client.get(url(rita.report)).content.decode()
    assert "Looks &lt;b&gt;real&lt;/b&gt;." in page
    assert "Your note has been added." in page


def test_it_rejects_an_empty_note(alice_client, rita):
    response = alice_client.post(url(rita.report, "notes/"), {"text": "   "})
    assert response.status_code == 400
    assert "Please check the form" in response.content.decode()
    assert not Note.objects.exists()


def test_it_shows_notes_to_a_viewer_but_no_form(alice_client, bob_client, rita):
    alice_client.post(url(rita.report, "notes/"), {"text": "Check the WAF logs."})
    page = bob_client.get(url(rita.report)).content.decode()
    assert "Check the WAF logs." in page
    assert 'action="/triage/reports/' not in page.split('id="notes"')[1].split("</section>")[0]


def test_it_refuses_a_note_from_a_viewer(bob_client, rita):
    response = bob_client.post(url(rita.report, "notes/"), {"text": "I am only a viewer."})
    assert response.status_code == 403
    assert not Note.objects.exists()
    assert not Event.objects.filter(kind="note_added").exists()


def test_it_answers_404_for_a_note_on_an_unknown_report(alice_client):
    response = alice_client.post(f"/triage/reports/{uuid.uuid4()}/notes/", {"text": "x"})
    assert response.status_code == 404


def test_it_never_shows_notes_to_the_finder(alice_client, rita, rita_client):
    alice_client.post(url(rita.report, "notes/"), {"text": "Finder seems to be a student."})
    page = rita_client.get("/status/").content.decode()
    assert "Finder seems to be a student." not in page
    assert "Internal note" not in page


def test_it_refuses_wrong_methods(alice_client, with_file):
    report = with_file.report
    attachment = report.attachments.get()
    assert alice_client.get(url(report, "notes/")).status_code == 405
    assert alice_client.post(url(report)).status_code == 405
    assert alice_client.post(url(report, f"attachments/{attachment.uid}/")).status_code == 405


def test_it_downloads_an_attachment_that_cannot_run_in_the_browser(alice_client, with_file):
    report = with_file.report
    attachment = report.attachments.get()
    page = alice_client.get(url(report)).content.decode()
    link = url(report, f"attachments/{attachment.uid}/")
    assert f'href="{link}" download>bad&quot;name;&lt;b&gt;x.html</a>' in page
    response = alice_client.get(link)
    assert response.status_code == 200
    assert response.getvalue() == b"<script>alert(1)</script>"
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == (
        "attachment; filename=\"badname__b_x.html\"; filename*=UTF-8''badname%3B%3Cb%3Ex.html"
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_it_records_every_download(alice_client, bob_client, with_file):
    report = with_file.report
    attachment = report.attachments.get()
    link = url(report, f"attachments/{attachment.uid}/")
    assert alice_client.get(link).status_code == 200
    assert bob_client.get(link).status_code == 200
    events = Event.objects.filter(report=report, kind="attachment_downloaded")
    assert [(e.actor, e.data) for e in events] == [
        ("staff:alice@example.org", {"attachment": str(attachment.uid)}),
        ("staff:bob@example.org", {"attachment": str(attachment.uid)}),
    ]


def test_it_answers_404_for_an_attachment_of_another_report(alice_client, with_file, rita):
    attachment = with_file.report.attachments.get()
    response = alice_client.get(url(rita.report, f"attachments/{attachment.uid}/"))
    assert response.status_code == 404
    assert alice_client.get(url(rita.report, f"attachments/{uuid.uuid4()}/")).status_code == 404
    assert not Event.objects.filter(kind="attachment_downloaded").exists()


def history_of(client: Client, report: Report, language: str = "en") -> str:
    page = client.get(url(report), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    return page.split('id="history"')[1].split("</ol>")[0]


def test_it_names_the_assessed_fields_by_their_labels_and_formats_values(alice_client, rita):
    fix = date.today() + timedelta(days=30)
    assess(
        rita.report,
        User.objects.get(username="alice@example.org"),
        valid=True,
        in_scope=False,
        cvss31_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
        expected_fix_date=fix,
    )
    history = history_of(alice_client, rita.report)
    assert "· fields:" not in history and "in_scope" not in history and "True" not in history
    assert "Changed fields: Validity, Scope, CVSS 3.1 vector, Expected fix date, Severity" in (
        history
    )
    assert "Validity: Yes" in history and "Scope: No" in history
    assert "Severity: High" in history
    assert f"Expected fix date: {date_format(fix, 'DATE_FORMAT')}" in history


def test_it_shows_the_history_in_the_readers_language(alice_client, alice, rita):
    assess(rita.report, alice, in_scope=True)
    transition(rita.report, "closed", alice, resolution="spam")
    history = history_of(alice_client, rita.report, "nl")
    assert "Gewijzigde velden: Toepassingsgebied" in history
    assert "Toepassingsgebied: Ja" in history
    assert "Nieuwe status: Afgesloten" in history and "Afhandeling: Spam" in history
    assert "closed" not in history and "spam" not in history
