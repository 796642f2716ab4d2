from __future__ import annotations

from datetime import timedelta
from unittest import mock

from django.test import Client, override_settings
from django.utils import timezone

from meldpunt.portal.views import SESSION_KEY


def test_it_opens_the_status_page_with_the_receipt_code(rita):
    client = Client()
    response = client.post("/status/", {"code": rita.code})
    assert response.status_code == 303
    assert response["Location"] == "/status/"  # never the code in a URL
    page = client.get("/status/").content.decode()
    assert rita.report.reference in page
    assert "Received" in page


def test_it_accepts_the_code_typed_loosely(rita):
    loose = rita.code.replace("-", " ").lower()
    assert Client().post("/status/", {"code": loose}).status_code == 303


def test_it_gives_one_uniform_error_for_wrong_codes(rita):
    wrong = Client().post("/status/", {"code": "0000-0000-0000-0000-0000"})
    malformed = Client().post("/status/", {"code": "hello"})
    assert wrong.status_code == malformed.status_code == 400
    for response in (wrong, malformed):
        assert "This receipt code is not valid." in response.content.decode()
    assert SESSION_KEY not in Client().session


@override_settings(MELDPUNT_RECEIPT_CLIENT_LIMIT=5)
def test_it_rate_limits_guessing_per_client(rita):
    attacker = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(5):
        assert attacker.post("/status/", {"code": "0000-0000-0000-0000-0000"}).status_code == 400
    # Now even the right code is refused from that client, with the same vague answer.
    limited = attacker.post("/status/", {"code": rita.code})
    assert limited.status_code == 429
    assert "Too many attempts" in limited.content.decode()
    # Another client is not affected.
    assert (
        Client(REMOTE_ADDR="203.0.113.9").post("/status/", {"code": rita.code}).status_code == 303
    )


@override_settings(MELDPUNT_RECEIPT_CLIENT_LIMIT=100, MELDPUNT_RECEIPT_GLOBAL_LIMIT=6)
def test_it_rate_limits_guessing_globally_across_clients(rita):
    for i in range(6):
        guess = Client(REMOTE_ADDR=f"198.51.100.{i + 1}")
        assert guess.post("/status/", {"code": "0000-0000-0000-0000-0000"}).status_code == 400
    fresh = Client(REMOTE_ADDR="203.0.113.200")
    assert fresh.post("/status/", {"code": rita.code}).status_code == 429


@override_settings(MELDPUNT_RECEIPT_CLIENT_LIMIT=3)
def test_it_does_not_count_correct_codes_against_the_limit(rita):
    finder = Client(REMOTE_ADDR="203.0.113.5")
    for _ in range(6):
        assert finder.post("/status/", {"code": rita.code}).status_code == 303


@override_settings(MELDPUNT_RECEIPT_CLIENT_LIMIT=2, MELDPUNT_RECEIPT_WINDOW_MINUTES=15)
def test_it_lifts_the_limit_when_the_window_has_passed(rita):
    client = Client(REMOTE_ADDR="198.51.100.50")
    for _ in range(3):
        client.post("/status/", {"code": "0000-0000-0000-0000-0000"})
    assert client.post("/status/", {"code": rita.code}).status_code == 429
    later = timezone.now() + timedelta(minutes=16)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert client.post("/status/", {"code": rita.code}).status_code == 303


def test_it_uses_an_expiring_http_only_session_cookie(rita):
    client = Client()
    response = client.post("/status/", {"code": rita.code})
    cookie = response.cookies["meldpunt_session"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 30 * 60


def test_it_ends_the_session_after_the_absolute_limit(rita_client):
    later = timezone.now() + timedelta(hours=5)
    with mock.patch("meldpunt.portal.views.timezone.now", return_value=later):
        page = rita_client.get("/status/").content.decode()
    assert 'name="code"' in page


def test_it_closes_the_report_page_on_logout(rita_client, rita):
    assert rita_client.post("/status/logout/").status_code == 303
    assert rita.report.reference not in rita_client.get("/status/").content.decode()


def test_it_rotates_the_session_id_on_login(rita):
    client = Client()
    client.get("/status/")
    client.cookies["meldpunt_session"] = "attacker-chosen-session-id"
    client.post("/status/", {"code": rita.code})
    assert client.cookies["meldpunt_session"].value != "attacker-chosen-session-id"
