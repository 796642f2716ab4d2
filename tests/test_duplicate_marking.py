"""Marking a duplicate: asked first, the second finder told why, the policy's credit rule."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from meldpunt.advisories import publishing
from meldpunt.api.tokens import issue_token
from meldpunt.reports import lifecycle, outbox
from meldpunt.reports.messages import mark_duplicate
from meldpunt.reports.models import Event, Message, Report, Resolution, State
from tests.advisory_cast import fixed, ready
from tests.conftest import Submitted, sign_in, submit
from tests.test_hall_of_fame import halls
from tests.test_outbox import smtp  # noqa: F401 (a real local SMTP server, as a fixture)

SHOP = "https://shop.example.org/cart"
FIRST_TEXT = "Olga's own words: the q field of the shop search reflects <b>script</b>."
LATE_MAIL = "lars@example.net"


def url(report: Report) -> str:
    return f"/triage/reports/{report.uid}/duplicate/"


@pytest.fixture
def alice_client(alice: User) -> Client:
    return sign_in(Client(), alice)


@pytest.fixture
def first(db: Any) -> Report:
    return submit(
        Client(), affected_systems=SHOP, description=FIRST_TEXT, name="Olga First", credit="name"
    ).report


@pytest.fixture
def late(db: Any) -> Submitted:
    return submit(Client(), affected_systems=SHOP, name="Lars Late", credit="name", email=LATE_MAIL)


def finder_page(submitted: Submitted) -> str:
    client = Client()
    assert client.post("/status/", {"code": submitted.code}).status_code == 303
    return html.unescape(client.get("/status/").content.decode())


def confirmation(client: Client, report: Report, original: Report) -> str:
    response = client.get(url(report), {"original": original.reference})
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def prefilled(page: str) -> str:
    found = re.search(r'<textarea name="text"[^>]*>\n?(.*?)</textarea>', page, re.S)
    assert found, "the confirmation has no message to edit"
    return found.group(1)


def test_it_asks_for_confirmation_before_closing(alice_client, first, late):
    page = confirmation(alice_client, late.report, first)
    assert Report.objects.get(pk=late.report.pk).state == State.RECEIVED
    assert f"will be closed as a duplicate of {first.reference}" in page
    assert f'name="original" value="{first.reference}"' in page
    assert 'method="post"' in page and 'id="confirm-duplicate"' in page


def test_it_names_the_original_by_reference_only(alice_client, first, late):
    page = confirmation(alice_client, late.report, first)
    for secret in ("Olga", "reflects", FIRST_TEXT):
        assert secret not in page


def test_it_prefills_the_duplicate_template_in_the_finders_language(alice_client, first):
    late = submit(Client(), affected_systems=SHOP)
    Report.objects.filter(pk=late.report.pk).update(language="nl")
    text = prefilled(confirmation(alice_client, late.report, first))
    assert "als dubbele melding" in text
    assert late.report.reference in text


def test_it_closes_and_sends_the_edited_message(alice_client, first, late, smtp):  # noqa: F811
    text = prefilled(confirmation(alice_client, late.report, first))
    edited = text.replace("Thank you", "Many thanks")
    response = alice_client.post(url(late.report), {"original": first.reference, "text": edited})
    assert response.status_code == 303
    report = Report.objects.get(pk=late.report.pk)
    assert (report.state, report.resolution, report.duplicate_of) == (
        State.CLOSED,
        Resolution.DUPLICATE,
        first,
    )
    [message] = Message.objects.filter(report=report)
    assert message.body["text"] == edited.replace("\r\n", "\n").strip()
    assert "Many thanks" in message.body["text"]
    sent = Event.objects.get(report=report, kind="message_sent")
    assert sent.data["template"] == "duplicate"
    # The mail reaches a real server, and says only that there is news.
    assert outbox.deliver_due() == 1
    [mail] = smtp.mails
    assert mail.rcpt_tos == [LATE_MAIL]
    assert b"Olga" not in mail.raw and b"Many thanks" not in mail.raw
    assert not Message.objects.filter(report=first).exists()


def test_it_shows_the_finder_why_their_report_was_closed(alice, first, late):
    mark_duplicate(late.report, first, alice, "Closed: someone was quicker.")
    page = finder_page(late)
    status = re.search(r'<dd id="status">(.*?)</dd>', page, re.S)
    assert status is not None
    assert status.group(1) == (f"Closed as a duplicate of an earlier report ({first.reference})")
    assert "The finder who reported it first is credited for it." in page
    assert "First response promised by" not in page
    assert "not set yet" not in page
    assert "Closed: someone was quicker." in page
    for secret in ("Olga", FIRST_TEXT, "reflects"):
        assert secret not in page


def test_it_refuses_to_close_without_a_message(alice_client, first, late):
    response = alice_client.post(url(late.report), {"original": first.reference, "text": "  "})
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert "This field is required." in page
    assert 'id="confirm-duplicate"' in page  # the confirmation again, not a dead end
    assert Report.objects.get(pk=late.report.pk).state == State.RECEIVED
    assert not Message.objects.exists()


def test_it_refuses_a_message_with_an_unfilled_placeholder(alice_client, first, late):
    text = "Closed; fixed on {expected_fix_date}."
    response = alice_client.post(url(late.report), {"original": first.reference, "text": text})
    assert response.status_code == 400
    assert "{expected_fix_date}" in html.unescape(response.content.decode())
    assert Report.objects.get(pk=late.report.pk).state == State.RECEIVED


def test_it_refuses_an_unknown_reference_on_the_confirmation(alice_client, late):
    response = alice_client.get(url(late.report), {"original": "MP-1999-9999"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "No report has this reference." in page
    assert 'id="confirm-duplicate"' not in page


def test_it_refuses_to_confirm_a_report_that_is_closed_already(alice, alice_client, first, late):
    mark_duplicate(late.report, first, alice)
    response = alice_client.get(url(late.report), {"original": first.reference})
    assert response.status_code == 400
    assert "cannot go from" in html.unescape(response.content.decode())


def test_it_escapes_what_a_finder_typed_in_the_message_it_shows(alice, first, late):
    mark_duplicate(late.report, first, alice, "<script>alert(1)</script>")
    client = Client()
    client.post("/status/", {"code": late.code})
    raw = client.get("/status/").content.decode()
    assert "<script>alert(1)" not in raw and "&lt;script&gt;" in raw


def test_it_refuses_a_viewer_and_an_outsider(bob, first, late):
    viewer = sign_in(Client(), bob)
    assert viewer.get(url(late.report), {"original": first.reference}).status_code == 403
    posted = viewer.post(url(late.report), {"original": first.reference, "text": "x"})
    assert posted.status_code == 403
    assert Client().post(url(late.report), {"original": first.reference}).status_code == 302
    assert Report.objects.get(pk=late.report.pk).state == State.RECEIVED


def test_it_answers_405_to_another_method(alice_client, late):
    assert alice_client.put(url(late.report)).status_code == 405


def test_it_shows_unmarking_in_the_history_and_on_the_finders_page(
    alice, alice_client, first, late
):
    mark_duplicate(late.report, first, alice, "Closed as a duplicate.")
    lifecycle.transition(late.report, State.RECEIVED, alice)
    reopened = Event.objects.get(report=late.report, kind="reopened")
    assert reopened.data["previous_resolution"] == Resolution.DUPLICATE
    assert reopened.data["previous_duplicate_of"] == first.reference
    staff_page = html.unescape(alice_client.get(f"/triage/reports/{late.report.uid}/").text)
    assert f"Previously a duplicate of: {first.reference}" in staff_page
    original_page = html.unescape(alice_client.get(f"/triage/reports/{first.uid}/").text)
    assert "Duplicate link removed" in original_page
    assert f"Duplicate: {late.report.reference}" in original_page
    page = finder_page(late)
    assert "duplicate of an earlier report" not in page
    assert "Received: we will respond by the date below" in page
    assert "First response promised by" in page
    assert "Closed as a duplicate." in page  # history is never edited


def test_it_marks_through_the_api_with_the_message(alice, first, late):
    api = Client(headers={"Authorization": f"Bearer {issue_token(alice, 'tests')}"})
    response = api.post(
        f"/api/v1/reports/{late.report.uid}/state",
        {"to": "closed", "duplicate_of": first.reference, "message": "A duplicate, sorry."},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert Report.objects.get(pk=late.report.pk).duplicate_of == first
    assert Message.objects.get(report=late.report).body["text"] == "A duplicate, sorry."
    assert "A duplicate, sorry." in finder_page(late)


def test_it_refuses_an_api_message_without_a_duplicate(alice, late):
    api = Client(headers={"Authorization": f"Bearer {issue_token(alice, 'tests')}"})
    response = api.post(
        f"/api/v1/reports/{late.report.uid}/state",
        {"to": "closed", "resolution": "spam", "message": "Spam."},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert Report.objects.get(pk=late.report.pk).state == State.RECEIVED
    assert not Message.objects.exists()


def test_it_rolls_back_the_message_when_the_close_is_refused(alice, first, late):
    mark_duplicate(late.report, first, alice)
    with pytest.raises(lifecycle.WorkflowError):
        mark_duplicate(late.report, first, alice, "Told twice?")
    assert not Message.objects.exists()


def test_it_credits_only_the_first_finder_by_default(alice, first, late):
    mark_duplicate(late.report, first, alice)
    late.report.refresh_from_db()
    assert not lifecycle.earns_credit(late.report)
    assert lifecycle.credited_reports(first) == [first]


def test_it_credits_every_finder_when_the_policy_says_all(alice, settings):
    settings.MELDPUNT_DUPLICATE_CREDIT = "all"
    original = fixed(alice, name="Olga First", credit="name")
    late = submit(Client(), name="Lars Late", credit="pseudonym").report
    silent = submit(Client(), name="Nora None", credit="none").report
    mark_duplicate(late, original, alice)
    mark_duplicate(silent, original, alice)
    late.refresh_from_db()
    assert lifecycle.earns_credit(late)
    assert lifecycle.credited_reports(original) == [original, late, silent]
    advisory = ready(alice, original)
    assert publishing.credits_for(advisory) == ["Olga First", "Lars Late"]
    assert sorted(name for names in halls().values() for name in names) == [
        "Lars Late",
        "Olga First",
    ]


def test_it_leaves_duplicates_out_of_credits_by_default(alice):
    original = fixed(alice, name="Olga First", credit="name")
    late = submit(Client(), name="Lars Late", credit="name").report
    mark_duplicate(late, original, alice)
    assert publishing.credits_for(ready(alice, original)) == ["Olga First"]
    assert [name for names in halls().values() for name in names] == ["Olga First"]


def test_it_tells_a_credited_duplicate_finder_so(alice, first, late, settings):
    settings.MELDPUNT_DUPLICATE_CREDIT = "all"
    mark_duplicate(late.report, first, alice, "A duplicate.")
    assert "You are credited for the finding too" in finder_page(late)
    page = html.unescape(
        sign_in(Client(), alice)
        .get(url(submit(Client(), affected_systems=SHOP).report), {"original": first.reference})
        .content.decode()
    )
    assert "this finder is still credited" in page


def test_the_default_duplicate_text_follows_the_credit_rule(alice_client, first, late, settings):
    text = prefilled(confirmation(alice_client, late.report, first))
    assert "we cannot credit you for this one" in text
    assert "{duplicate_credit}" not in text
    settings.MELDPUNT_DUPLICATE_CREDIT = "all"
    text = prefilled(confirmation(alice_client, late.report, first))
    assert "cannot credit you" not in text
    assert "you will be credited for it as you chose" in text
    Report.objects.filter(pk=late.report.pk).update(language="fr")
    text = prefilled(confirmation(alice_client, late.report, first))
    assert "vous serez cité" in text


def test_the_staff_page_says_who_holds_the_credit_by_the_rule(alice_client, first, late, alice):
    mark_duplicate(late.report, first, alice, "Closed as a duplicate.")
    page = alice_client.get(f"/triage/reports/{late.report.uid}/").content.decode()
    assert "Its finder holds the credit." in page
    with override_settings(MELDPUNT_DUPLICATE_CREDIT="all"):
        page = alice_client.get(f"/triage/reports/{late.report.uid}/").content.decode()
    assert "Both finders are credited" in page and "Its finder holds the credit." not in page
