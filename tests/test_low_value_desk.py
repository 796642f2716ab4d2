"""The "likely low value" label on the desk: inbox, one-action answer, feedback, rule editing."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from meldpunt.begbounty.models import Hit, Rule
from meldpunt.begbounty.store import precision
from meldpunt.reports.models import Event, Message, Report, Resolution, State
from tests.conftest import make_staff, sign_in, submit

SPF_NL = "Beste, uw domein heeft geen SPF-record. E-mail spoofing is mogelijk. Wat is de beloning?"


def template_report(language: str = "en", **fields: Any) -> Report:
    client = Client()
    client.cookies["django_language"] = language
    fields.setdefault("description", "No DMARC record found on your domain. Bounty?")
    fields.setdefault("steps", "")
    fields.setdefault("impact", "")
    report = submit(client, email="finder@example.net", **fields).report
    assert report.language == language
    return report


@pytest.fixture
def ada(db: Any) -> Any:
    return make_staff("ada@example.org", "admin")


@pytest.fixture
def alice_client(alice: User) -> Client:
    return sign_in(Client(), alice)


def test_the_inbox_labels_and_lists_low_value_reports_after_the_real_ones(db, alice_client):
    labelled = template_report()
    real = submit(Client()).report  # later, so its clock is due later
    assert labelled.low_value_rule and not real.low_value_rule
    page = alice_client.get("/triage/").content.decode()
    assert page.index(real.reference) < page.index(labelled.reference)
    assert 'data-low-value="email-authentication"' in page
    assert "SPF, DMARC or DKIM records" in page
    only = alice_client.get("/triage/?low_value=yes").content.decode()
    assert labelled.reference in only and real.reference not in only
    others = alice_client.get("/triage/?low_value=no").content.decode()
    assert real.reference in others and labelled.reference not in others


def test_the_api_filters_on_the_label(db, alice):
    from meldpunt.api.tokens import issue_token

    labelled = template_report()
    real = submit(Client()).report
    token = issue_token(alice, "test")
    headers = {"Authorization": f"Bearer {token[1] if isinstance(token, tuple) else token}"}
    found = Client().get("/api/v1/reports?low_value=true", headers=headers).json()
    refs = [r["reference"] for r in found["items"]] if "items" in found else found
    assert labelled.reference in str(refs) and real.reference not in str(refs)


def test_the_report_page_shows_the_rule_and_the_words(db, alice_client):
    report = template_report()
    page = alice_client.get(f"/triage/reports/{report.uid}/").content.decode()
    assert "<mark>dmarc</mark>" in page
    assert "Answer as low value" in page


def test_the_report_page_shows_why_a_guard_makes_it_real(db, alice_client):
    report = submit(Client(), description="SPF is v=spf1 +all: anyone can send as you.").report
    page = alice_client.get(f"/triage/reports/{report.uid}/").content.decode()
    assert 'id="low-value-overridden"' in page and "(+all)" in page
    assert "Answer as low value" not in page


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("nl", "Hartelijk dank"),
        ("fr", "pris le temps de nous écrire"),
        ("en", "Thank you for taking the time"),
    ],
)
def test_answer_as_low_value_is_the_first_response_in_the_finders_language(
    db, alice, alice_client, language, words
):
    report = template_report(language, description=SPF_NL)
    page = alice_client.get(f"/triage/reports/{report.uid}/low-value/answer/").content.decode()
    assert words in page and report.reference in page
    text = Rule.objects.get(slug="email-authentication").answers[language]
    text = text.replace("{reference}", report.reference).replace("{organisation}", "Org")
    response = alice_client.post(f"/triage/reports/{report.uid}/low-value/answer/", {"text": text})
    assert response.status_code == 303
    report.refresh_from_db()
    assert (report.state, report.resolution) == (State.CLOSED, Resolution.INVALID)
    assert report.valid is False and report.first_response_at is not None
    assert report.first_response_kept
    message = Message.objects.get(report=report)
    assert message.is_first_response and words in message.body["text"]
    sent = Event.objects.get(report=report, kind="message_sent")
    assert sent.data["template"] == "low_value:email-authentication"


def test_answer_keeps_the_assessment_already_made(db, alice, alice_client):
    from meldpunt.reports.assessment import assess

    report = template_report()
    assess(report, alice, valid=False, in_scope=False)
    report.refresh_from_db()
    # Assessed but not answered yet: the answer is still the first response.
    assert report.state == State.RECEIVED
    response = alice_client.post(
        f"/triage/reports/{report.uid}/low-value/answer/", {"text": "Thanks, not a vulnerability."}
    )
    assert response.status_code == 303
    report.refresh_from_db()
    assert report.state == State.CLOSED


def test_a_valid_report_is_not_answered_as_low_value(db, alice, alice_client):
    from meldpunt.reports.assessment import assess

    report = template_report()
    assess(report, alice, valid=True)
    response = alice_client.post(
        f"/triage/reports/{report.uid}/low-value/answer/", {"text": "Thanks."}
    )
    assert response.status_code == 400
    assert "assessed as valid" in response.content.decode()
    assert not Message.objects.filter(report=report).exists()


def test_a_viewer_can_neither_answer_nor_give_feedback(db, bob):
    report = template_report()
    viewer = sign_in(Client(), bob)
    assert viewer.post(f"/triage/reports/{report.uid}/low-value/not/").status_code in (403, 404)
    assert viewer.post(
        f"/triage/reports/{report.uid}/low-value/answer/", {"text": "x"}
    ).status_code in (403, 404)
    report.refresh_from_db()
    assert report.low_value_rule == "email-authentication"


def test_not_low_value_clears_the_label_and_counts_against_the_rule(db, alice, alice_client):
    report = template_report()
    template_report()
    response = alice_client.post(f"/triage/reports/{report.uid}/low-value/not/")
    assert response.status_code == 303
    report.refresh_from_db()
    assert report.low_value_rule == ""
    event = Event.objects.get(report=report, kind="low_value_cleared")
    assert event.data == {"rule": "email-authentication"}
    assert Hit.objects.get(report=report).not_low_value
    assert precision()["email-authentication"] == {"hits": 2, "wrong": 1, "precision": 0.5}
    page = alice_client.get(f"/triage/reports/{report.uid}/").content.decode()
    assert 'id="low-value-taken-back"' in page


def test_admins_see_each_rules_precision(db, ada):
    report = template_report()
    template_report()
    from meldpunt.begbounty.services import mark_not_low_value

    mark_not_low_value(report, ada)
    page = sign_in(Client(), ada).get("/triage/low-value-rules/").content.decode()
    row = page[page.index('data-rule="email-authentication"') :]
    row = row[: row.index("</tr>")]
    assert '<td class="hits">2</td>' in row and '<td class="wrong">1</td>' in row
    assert '<td class="precision">50 %</td>' in row


def rule_post(**overrides: str) -> dict[str, str]:
    data = {
        "name": "Missing favicon",
        "enabled": "on",
        "phrases": "favicon\nfavicon.ico missing",
        "guards": "It leaks a secret | secret, api key",
        "answer_en": "Thanks about {reference}.",
        "answer_nl": "Dank over {reference}.",
        "answer_fr": "Merci pour {reference}.",
    }
    data.update(overrides)
    return data


def test_an_admin_adds_a_rule_that_then_labels_reports(db, ada):
    admin = sign_in(Client(), ada)
    response = admin.post("/triage/low-value-rules/new/", rule_post(slug="favicon"))
    assert response.status_code == 303
    rule = Rule.objects.get(slug="favicon")
    assert rule.guards == [{"reason": "It leaks a secret", "phrases": ["secret", "api key"]}]
    assert rule.edited and not rule.shipped
    report = template_report(description="Your site has no favicon.")
    assert report.low_value_rule == "favicon"


def test_an_admin_edits_and_disables_a_shipped_rule(db, ada):
    admin = sign_in(Client(), ada)
    form = admin.get("/triage/low-value-rules/email-authentication/").content.decode()
    assert "+all" in form
    rule = Rule.objects.get(slug="email-authentication")
    data = rule_post(name=rule.name, phrases="\n".join(rule.phrases))
    del data["enabled"]
    assert admin.post("/triage/low-value-rules/email-authentication/", data).status_code == 303
    rule.refresh_from_db()
    assert not rule.enabled and rule.edited
    assert template_report(description="No DMARC record on your domain.").low_value_rule == ""


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("phrases", "ok phrase\nx", "too short"),
        ("phrases", "sp*f", "may only end a phrase"),
        ("guards", "no bar here", "put a |"),
        ("guards", " | +all", "needs a reason"),
        ("answer_fr", "Merci {nom}", "Unknown placeholders"),
    ],
)
def test_a_broken_rule_is_refused_with_a_clear_error(db, ada, field, value, error):
    admin = sign_in(Client(), ada)
    response = admin.post(
        "/triage/low-value-rules/new/", rule_post(slug="broken", **{field: value})
    )
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Rule.objects.filter(slug="broken").exists()


def test_a_triager_cannot_edit_rules(db, alice_client):
    response = alice_client.post("/triage/low-value-rules/new/", rule_post(slug="mine"))
    assert response.status_code in (403, 404)
    assert not Rule.objects.filter(slug="mine").exists()
