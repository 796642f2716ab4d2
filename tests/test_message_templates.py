"""Messages to finders start from editable templates, in the report's language."""

from __future__ import annotations

import html
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from meldpunt.reports import assessment, messages
from meldpunt.reports.models import Event, Message, Report
from meldpunt.triage import message_templates
from meldpunt.triage.models import MessageTemplate, TemplateKind
from tests.conftest import make_staff, sign_in

LANGUAGES = ["nl", "en", "fr"]
# The policy asks finders to delete obtained data once the hole is closed.
DELETE_REMINDER = {
    "en": ["delete all confidential data that you obtained through the vulnerability"],
    "nl": ["alle vertrouwelijke gegevens te wissen", "via de kwetsbaarheid hebt verkregen"],
    "fr": ["supprimer", "toutes les données confidentielles", "par le biais de la vulnérabilité"],
}


@pytest.fixture
def alice_client(alice: User) -> Client:
    return sign_in(Client(), alice)


@pytest.fixture
def admin_client(db) -> Client:
    return sign_in(Client(), make_staff("ada@example.org", "admin"))


def in_language(report: Report, language: str) -> Report:
    Report.objects.filter(pk=report.pk).update(language=language)
    return Report.objects.get(pk=report.pk)


def compose_page(client: Client, report: Report, kind: str) -> str:
    response = client.get(f"/triage/reports/{report.uid}/compose/", {"template": kind})
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_it_seeds_every_kind_in_every_language(db):
    seeded = set(MessageTemplate.objects.values_list("kind", "language"))
    assert seeded == {(kind, lang) for kind in TemplateKind.values for lang in LANGUAGES}
    for template in MessageTemplate.objects.all():
        assert "{reference}" in template.body, template
        assert set(messages.PLACEHOLDER_RE.findall(template.body)) <= set(messages.PLACEHOLDERS)


def test_it_writes_each_language_in_that_language(db):
    bodies = {t.language: t.body for t in MessageTemplate.objects.filter(kind="acknowledgement")}
    assert "Thank you for reporting" in bodies["en"]
    assert "Hartelijk dank voor uw melding" in bodies["nl"]
    assert "Nous vous remercions" in bodies["fr"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_reminds_the_finder_to_delete_data_when_fixed(db, language):
    body = MessageTemplate.objects.get(kind="fixed", language=language).body
    for phrase in DELETE_REMINDER[language]:
        assert phrase in body


@pytest.mark.parametrize(
    ("language", "greeting", "fix_date"),
    [("nl", "Beste melder", "december 2030"), ("fr", "Bonjour", "décembre 2030")],
)
def test_it_prefills_the_template_in_the_reports_language(
    rita, alice, alice_client, language, greeting, fix_date
):
    report = in_language(rita.report, language)
    Report.objects.filter(pk=report.pk).update(expected_fix_date=date(2030, 12, 2))
    page = compose_page(alice_client, report, "acknowledgement")
    assert greeting in page
    assert report.reference in page
    assert "Example Org" in page  # {organisation}
    assert f"2 {fix_date}" in page  # {expected_fix_date}, written the report's way
    assert "http://127.0.0.1:8000/status/" in page
    assert "{reference}" not in page
    assert 'lang="en"' in page  # the team's own pages stay in the team's language


def test_it_falls_back_to_english_without_a_template_in_the_language(rita, alice_client):
    MessageTemplate.objects.filter(language="fr").delete()
    page = compose_page(alice_client, in_language(rita.report, "fr"), "needs_info")
    assert "we need more information from you" in page


def test_it_starts_a_blank_message_without_a_template(rita, alice_client):
    page = compose_page(alice_client, rita.report, "")
    assert "Thank you" not in page


def test_it_leaves_unknown_values_for_the_triager_to_fill(rita):
    text = message_templates.prefilled_text(rita.report, "acknowledgement")
    assert "{expected_fix_date}" in text and "{cvss}" in text  # not assessed yet
    assert "{reference}" not in text


def test_it_refuses_to_send_a_message_with_an_unfilled_placeholder(rita, alice_client):
    text = message_templates.prefilled_text(rita.report, "acknowledgement")
    response = alice_client.post(
        f"/triage/reports/{rita.report.uid}/message/", {"text": text, "template": "acknowledgement"}
    )
    assert response.status_code == 400
    assert "Fill in or remove {cvss}, {expected_fix_date}" in html.unescape(
        response.content.decode()
    )
    assert not Message.objects.exists()


def test_it_never_reaches_attributes_through_a_placeholder():
    values = {"reference": "MP-2026-0001"}
    text = "{reference} {reference.__class__} {0} {reference!r}"
    assert messages.fill_placeholders(text, values) == (
        "MP-2026-0001 {reference.__class__} {0} {reference!r}"
    )


def test_it_sends_the_edited_template_and_records_which_one(rita, rita_client, alice_client):
    text = message_templates.prefilled_text(rita.report, "needs_info").replace(
        "-\n", "- Which URL?\n"
    )
    response = alice_client.post(
        f"/triage/reports/{rita.report.uid}/message/", {"text": text, "template": "needs_info"}
    )
    assert response.status_code == 303
    event = Event.objects.get(report=rita.report, kind="message_sent")
    assert event.data["template"] == "needs_info"
    assert event.data["first_response"] is False
    assert "Which URL?" in html.unescape(rita_client.get("/status/").content.decode())


def test_it_lets_admins_edit_a_template(rita, admin_client, alice_client):
    assert admin_client.get("/triage/templates/").status_code == 200
    edit = "/triage/templates/duplicate/en/"
    assert admin_client.get(edit).status_code == 200
    response = admin_client.post(edit, {"body": "Seen before: {reference}. Thanks!"})
    assert response.status_code == 303
    template = MessageTemplate.objects.get(kind="duplicate", language="en")
    assert template.updated_by is not None
    assert template.updated_by.get_username() == "ada@example.org"
    page = compose_page(alice_client, rita.report, "duplicate")
    assert f"Seen before: {rita.report.reference}. Thanks!" in page


def test_it_refuses_an_unknown_placeholder_in_a_template(admin_client):
    response = admin_client.post("/triage/templates/fixed/nl/", {"body": "Hallo {naam}"})
    assert response.status_code == 400
    assert "{naam}" in html.unescape(response.content.decode())
    assert "{naam}" not in MessageTemplate.objects.get(kind="fixed", language="nl").body


def test_it_answers_404_for_an_unknown_template(admin_client):
    assert admin_client.get("/triage/templates/poem/en/").status_code == 404
    assert admin_client.get("/triage/templates/fixed/de/").status_code == 404


def test_it_keeps_the_templates_from_triagers_and_viewers(alice_client, bob):
    for client in (alice_client, sign_in(Client(), bob)):
        assert client.get("/triage/templates/").status_code == 403
        assert client.post("/triage/templates/fixed/en/", {"body": "x"}).status_code == 403
    assert Client().get("/triage/templates/")["Location"].startswith("/triage/login/")
    charlie = User.objects.create_user("charlie", password="x" * 20)
    assert sign_in(Client(), charlie).get("/triage/templates/").status_code == 404


def test_it_keeps_the_compose_page_from_viewers(rita, bob):
    response = sign_in(Client(), bob).get(f"/triage/reports/{rita.report.uid}/compose/")
    assert response.status_code == 403


def test_it_fills_the_fix_date_after_the_assessment(rita, alice):
    fix = timezone.localdate() + timedelta(days=10)
    assessment.assess(rita.report, alice, expected_fix_date=fix, cvss31_vector="")
    text = message_templates.prefilled_text(rita.report, "acknowledgement")
    assert "{expected_fix_date}" not in text
    assert str(fix.year) in text
