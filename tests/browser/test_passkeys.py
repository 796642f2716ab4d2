"""Passkeys in Chromium, with the DevTools virtual authenticator standing in for a phone or a
security key: register, sign in, a response for another origin, a counter that went
backwards, removal. JavaScript on, the real Content-Security-Policy in force."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, CDPSession, Page, expect

from meldpunt.accounts.models import Passkey, StaffProfile
from meldpunt.audit.models import AuditEntry
from tests.browser.conftest import Traffic
from tests.browser.test_staff_xss import sign_in_with_totp
from tests.conftest import PASSWORD, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def desk(browser: Browser, live_server: Any, settings: Any) -> Iterator[tuple[Page, Traffic]]:
    # The relying party is MELDPUNT_BASE_URL: here the live server (on "localhost": WebAuthn
    # refuses IP addresses as RP ids).
    settings.MELDPUNT_BASE_URL = live_server.url
    context = browser.new_context(
        java_script_enabled=True, locale="en-GB", extra_http_headers={"Accept-Language": "en"}
    )
    page = context.new_page()
    traffic = Traffic(live_server.url)
    traffic.watch(page)
    yield page, traffic
    context.close()


def virtual_authenticator(page: Page) -> tuple[CDPSession, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
    }
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return cdp, added["authenticatorId"]


def password_step(page: Page, base: str, user: Any) -> None:
    page.goto(base + "/triage/login/?next=/triage/")
    page.get_by_label("E-mail address or user name").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Continue").click()


def sign_out(page: Page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()


def actions(user: Any) -> list[str]:
    entries = AuditEntry.objects.filter(actor=f"staff:{user.pk}")
    return list(entries.values_list("action", flat=True))


def test_it_registers_signs_in_refuses_and_removes_passkeys(
    desk: tuple[Page, Traffic], live_server: Any, settings: Any
) -> None:
    page, traffic = desk
    base = live_server.url
    alice = make_staff("alice@example.org", "triager")
    cdp, authenticator = virtual_authenticator(page)

    # Register: with TOTP first, then from the passkeys page.
    sign_in_with_totp(page, base, alice)
    page.goto(base + "/triage/passkeys/")
    expect(page.locator("#no-passkeys")).to_be_visible()
    page.get_by_label("Name of this passkey").fill("Work laptop")
    with page.expect_navigation():
        page.get_by_role("button", name="Register a passkey").click()
    expect(page.locator("#passkeys")).to_contain_text("Work laptop")
    passkey = Passkey.objects.get(user=alice)
    assert passkey.name == "Work laptop" and passkey.last_used_at is None
    assert "internal" in passkey.transports
    sign_out(page)

    # Sign in: the passkey instead of a code.
    password_step(page, base, alice)
    with page.expect_navigation(url=base + "/triage/"):
        page.get_by_role("button", name="Use a passkey").click()
    passkey.refresh_from_db()
    assert passkey.last_used_at is not None and passkey.sign_count > 0
    sign_out(page)

    # A genuine signature, made for another origin than the desk's: refused.
    settings.MELDPUNT_BASE_URL = base.replace(f":{live_server.thread.port}", ":1")
    password_step(page, base, alice)
    page.get_by_role("button", name="Use a passkey").click()
    expect(page.locator(".passkey-status")).to_have_text("This passkey was not accepted.")
    assert page.url == base + "/triage/login/verify/"
    settings.MELDPUNT_BASE_URL = base

    # The authenticator's counter put back below what the desk saw: a possible clone.
    (credential,) = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})[
        "credentials"
    ]
    cdp.send("WebAuthn.clearCredentials", {"authenticatorId": authenticator})
    cdp.send(
        "WebAuthn.addCredential",
        {"authenticatorId": authenticator, "credential": {**credential, "signCount": 0}},
    )
    page.reload()
    page.get_by_role("button", name="Use a passkey").click()
    expect(page.locator(".passkey-status")).to_contain_text("signature counter went backwards")
    passkey.refresh_from_db()
    assert passkey.regressed_at is not None
    assert "passkey_counter_regressed" in actions(alice)

    # The owner sees it blocked, and removes it: it then signs in no more.
    code_field = page.get_by_label("Code from your authenticator app, or a recovery code")
    secret = StaffProfile.objects.get(user=alice).totp["secret"]
    # The next 30 s step: the current one was spent signing in above (no replay).
    code_field.fill(pyotp.TOTP(secret).at(time.time() + 30))
    with page.expect_navigation(url=base + "/triage/"):
        page.get_by_role("button", name="Sign in").click()
    page.goto(base + "/triage/passkeys/")
    expect(page.locator("#passkeys")).to_contain_text("Blocked")
    with page.expect_navigation():
        page.get_by_role("button", name="Remove Work laptop").click()
    expect(page.locator("#no-passkeys")).to_be_visible()
    assert not Passkey.objects.filter(user=alice).exists()
    sign_out(page)
    password_step(page, base, alice)
    expect(page.get_by_role("button", name="Use a passkey")).to_have_count(0)

    assert {"passkey_registered", "passkey_used", "passkey_removed"} <= set(actions(alice))
    # The refused attempts answered 400 on purpose; nothing else failed, no CSP complaint.
    refused = "/triage/login/passkey/"
    traffic.failures = [f for f in traffic.failures if refused not in f]
    traffic.console_errors = [e for e in traffic.console_errors if refused not in e]
    traffic.assert_clean()
