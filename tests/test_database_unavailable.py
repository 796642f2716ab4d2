"""With the database down, pages say "try again", nothing is half-stored, nothing typed is lost."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test import Client, override_settings

from meldpunt.reports.models import Report
from tests.conftest import form_post, submit

pytestmark = pytest.mark.django_db


def down() -> Any:
    """Every new cursor fails as it does when PostgreSQL is stopped or SQLite is locked."""
    return mock.patch.object(
        connection,
        "ensure_connection",
        side_effect=OperationalError("server closed the connection"),
    )


def test_it_keeps_what_the_finder_typed_when_the_report_cannot_be_stored() -> None:
    client = Client()
    client.get("/report/")  # the form and its tokens, while the database is up
    with down():
        response = form_post(client, description="my precious finding")
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    page = response.content.decode()
    assert "nothing was stored" in page and "my precious finding" in page
    assert Report.objects.count() == 0


def test_it_does_not_store_half_a_report_when_the_commit_fails() -> None:
    client = Client()
    with mock.patch(
        "meldpunt.intake.views.submit_report", side_effect=OperationalError("disk I/O error")
    ):
        response = form_post(client, description="second try")
    assert response.status_code == 503
    assert "second try" in response.content.decode()
    assert Report.objects.count() == 0
    submit(client)  # once it is back, the same finder gets through
    assert Report.objects.count() == 1


def test_other_pages_answer_503_with_a_calm_page(rita: Any, rita_client: Client) -> None:
    with down():
        response = rita_client.get("/status/")
    assert response.status_code == 503
    page = response.content.decode()
    assert "Please try again in a few minutes" in page
    assert "Traceback" not in page and "OperationalError" not in page


@override_settings(DEBUG=False)
def test_it_answers_503_when_the_database_is_lost_after_the_view(rita: Any) -> None:
    # Signing in with the receipt code saves the session on the way out, in a middleware.
    client = Client(raise_request_exception=False)
    with mock.patch(
        "django.contrib.sessions.backends.db.SessionStore.save",
        side_effect=OperationalError("server closed the connection"),
    ):
        response = client.post("/status/", {"code": rita.code})
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert "Please try again in a few minutes" in response.content.decode()
