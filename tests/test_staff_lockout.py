"""A flood of sign-in guesses cannot lock the team out: known browsers keep signing in."""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

import pyotp
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings

from meldpunt.accounts.devices import COOKIE
from meldpunt.accounts.models import StaffProfile
from tests.conftest import PASSWORD

LOGIN, VERIFY = "/triage/login/", "/triage/login/verify/"
# The default limits (10 per client and per account, 300 for everyone, per 15 minutes)
# at a fifth of their size, so that the flood of 500 guesses below takes 100 posts.
PER_CLIENT, EVERYONE, FLOOD = 2, 60, 100


@pytest.fixture(autouse=True)
def _small_limits() -> Any:
    with override_settings(
        MELDPUNT_STAFF_LOGIN_LIMIT=PER_CLIENT, MELDPUNT_STAFF_LOGIN_GLOBAL_LIMIT=EVERYONE
    ):
        yield


def password_step(client: Client, username: str, password: str = PASSWORD) -> Any:
    return client.post(LOGIN, {"username": username, "password": password})


def signed_in_browser(user: User, address: str = "192.0.2.7") -> Client:
    """A browser where this member signed in completely (password and second factor)."""
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR=address)
    assert _post(client, LOGIN, username=user.get_username(), password=PASSWORD).status_code == 303
    secret = StaffProfile.objects.get(user=user).totp["secret"]
    assert _post(client, VERIFY, code=pyotp.TOTP(secret).now()).status_code == 303
    client.post("/triage/logout/", {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    return client


def _post(client: Client, path: str, **data: str) -> Any:
    client.get(path)  # for the CSRF cookie
    return client.post(path, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def flood(attempts: int, *, target: str | None = None) -> Any:
    """Failed guesses from one attacker who holds an IPv6 /48: a new /64 for every client."""
    response = None
    for n in range(attempts):
        client = Client(REMOTE_ADDR=f"2001:db8:42:{n // PER_CLIENT:x}::1")
        username = target or f"guess{n}@example.org"
        response = password_step(client, username, f"guess {n}")
    return response


def test_it_lets_a_known_browser_sign_in_while_a_flood_refuses_everyone_else(alice, bob):
    known = signed_in_browser(alice)
    assert COOKIE in known.cookies
    last = flood(FLOOD)
    assert last.status_code == 429  # the global limit is reached: unknown clients wait
    response = _post(known, LOGIN, username="alice@example.org", password=PASSWORD)
    assert response.status_code == 303
    assert response["Location"] == VERIFY
    assert known.get(VERIFY).status_code == 200  # the second-factor step
    for stranger in ("203.0.113.9", "2001:db8:ffff::1"):
        assert password_step(Client(REMOTE_ADDR=stranger), "bob@example.org").status_code == 429
        assert password_step(Client(REMOTE_ADDR=stranger), "alice@example.org").status_code == 429


def test_it_lets_a_known_browser_sign_in_behind_the_flooding_address(alice):
    known = signed_in_browser(alice, address="198.51.100.20")
    for _ in range(PER_CLIENT + 1):
        password_step(Client(REMOTE_ADDR="198.51.100.20"), "mallory@example.org", "guess")
    assert password_step(Client(REMOTE_ADDR="198.51.100.20"), "bob@example.org").status_code == 429
    response = _post(known, LOGIN, username="alice@example.org", password=PASSWORD)
    assert response.status_code == 303


def test_it_stops_guessing_one_accounts_password_from_many_clients(alice):
    known = signed_in_browser(alice)
    last = flood(PER_CLIENT + 1, target="alice@example.org")
    assert last.status_code == 429
    # Even the right password, from a client that is not known, waits.
    assert password_step(Client(REMOTE_ADDR="203.0.113.9"), "alice@example.org").status_code == 429
    assert _post(known, LOGIN, username="alice@example.org", password=PASSWORD).status_code == 303


def test_it_does_not_let_another_accounts_device_cookie_bypass_the_limits(alice, bob):
    bobs_browser = signed_in_browser(bob)
    flood(PER_CLIENT + 1, target="alice@example.org")
    response = _post(bobs_browser, LOGIN, username="alice@example.org", password=PASSWORD)
    assert response.status_code == 429
    assert (
        _post(bobs_browser, LOGIN, username="bob@example.org", password=PASSWORD).status_code == 303
    )


def test_it_does_not_let_a_forged_device_cookie_bypass_the_limits(alice):
    genuine = signed_in_browser(alice).cookies[COOKIE].value
    flood(PER_CLIENT + 1, target="alice@example.org")
    value, _sep, signature = genuine.rpartition(":")
    device, _sep, account = value.partition(":")
    forgeries = [
        f"{device}x:{account}:{signature}",  # another device id under the same signature
        f"{device}:{account}",  # unsigned
        "0" * 32 + ":" + account,
        "garbage",
    ]
    for forged in forgeries:
        client = Client(REMOTE_ADDR="203.0.113.9")
        client.cookies[COOKIE] = forged
        assert password_step(client, "alice@example.org").status_code == 429, forged


def test_it_treats_an_expired_device_cookie_as_none(alice):
    known = signed_in_browser(alice)
    flood(PER_CLIENT + 1, target="alice@example.org")
    later = time.time() + (settings.MELDPUNT_STAFF_DEVICE_DAYS + 1) * 24 * 3600
    with mock.patch("django.core.signing.time.time", return_value=later):
        response = _post(known, LOGIN, username="alice@example.org", password=PASSWORD)
    assert response.status_code == 429


def test_it_sets_a_strict_http_only_device_cookie_that_hides_the_address(alice):
    client = Client(REMOTE_ADDR="192.0.2.7")
    password_step(client, "alice@example.org")
    assert COOKIE not in client.cookies  # the password alone is not a sign-in
    secret = StaffProfile.objects.get(user=alice).totp["secret"]
    response = client.post(VERIFY, {"code": pyotp.TOTP(secret).now()})
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == LOGIN
    assert int(cookie["max-age"]) == settings.MELDPUNT_STAFF_DEVICE_DAYS * 24 * 3600
    assert "alice" not in cookie.value
    assert "example.org" not in cookie.value


def test_it_gives_a_known_browser_a_limit_of_its_own(alice):
    known = signed_in_browser(alice)
    for _ in range(PER_CLIENT):
        assert (
            _post(known, LOGIN, username="alice@example.org", password="guess").status_code == 400
        )
    refused = _post(known, LOGIN, username="alice@example.org", password=PASSWORD)
    assert refused.status_code == 429
