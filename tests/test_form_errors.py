"""A form that comes back with errors says what the person must do again, and no more."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.conftest import form_post
from tests.test_staff_login import password_step

ATTACHMENTS_AGAIN = "attachments must be chosen again"
MARKED = "The fields marked below need your attention."


def test_it_asks_for_attachments_again_only_on_a_form_with_attachments(db):
    proof = SimpleUploadedFile("proof.txt", b"proof")
    page = form_post(Client(), description="", attachments=[proof]).content.decode()
    assert 'class="error-summary"' in page
    assert ATTACHMENTS_AGAIN in page
    receipt = Client().post("/status/", {"code": "hello"}).content.decode()
    assert 'class="error-summary"' in receipt
    assert ATTACHMENTS_AGAIN not in receipt


@pytest.mark.parametrize("language", ["en", "nl", "fr"])
def test_it_says_nothing_of_attachments_on_the_sign_in_pages(alice, language):
    ask = Client(HTTP_ACCEPT_LANGUAGE=language)
    wrong_password = password_step(ask, "alice@example.org", "not her password")
    password_step(ask, "alice@example.org")
    wrong_code = ask.post("/triage/login/verify/", {"code": "000000"})
    wrong_receipt = Client(HTTP_ACCEPT_LANGUAGE=language).post("/status/", {"code": "hello"})
    attachments = {
        "en": ATTACHMENTS_AGAIN,
        "nl": "bijlagen moet u opnieuw kiezen",
        "fr": "les pièces jointes doivent être sélectionnées",
    }[language]
    for response in (wrong_password, wrong_code, wrong_receipt):
        page = response.content.decode()
        assert response.status_code == 400
        assert 'class="error-summary"' in page
        assert attachments not in page
    # The wrong password names no field, so no field is said to be marked either.
    assert "need your attention" not in wrong_password.content.decode()


def test_it_points_at_marked_fields_where_there_are_some(alice):
    client = Client()
    password_step(client, "alice@example.org")
    page = client.post("/triage/login/verify/", {"code": ""}).content.decode()
    assert MARKED in page
    assert ATTACHMENTS_AGAIN not in page
