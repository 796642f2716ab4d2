"""Passkeys on the server side: registration and sign-in checked by py_webauthn against the
desk's own origin, single-use expiring challenges, counter regression, removal, and the
require-passkeys policy. A software authenticator makes the responses
(tests/soft_authenticator.py); tests/browser/test_passkeys.py does the same in Chromium."""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest
from django.test import Client

from meldpunt.accounts.models import Passkey, StaffProfile
from meldpunt.accounts.passkeys import CHALLENGE, CHALLENGE_SECONDS
from meldpunt.audit.models import AuditEntry
from tests.conftest import PASSWORD, sign_in
from tests.soft_authenticator import SoftAuthenticator

pytestmark = pytest.mark.django_db

BASE = "https://desk.example.org"


@pytest.fixture(autouse=True)
def desk_address(settings: Any) -> None:
    settings.MELDPUNT_BASE_URL = BASE


@pytest.fixture
def key() -> SoftAuthenticator:
    return SoftAuthenticator(rp_id="desk.example.org", origin=BASE)


def register(client: Client, key: SoftAuthenticator, name: str = "Laptop") -> Any:
    options = client.post("/triage/passkeys/options/").content.decode()
    return client.post(
        "/triage/passkeys/register/", {"name": name, "response": key.register(options)}
    )


def password_step(user: Any) -> Client:
    client = Client()
    answer = client.post("/triage/login/", {"username": user.username, "password": PASSWORD})
    assert answer.status_code == 303
    return client


def passkey_step(client: Client, key: SoftAuthenticator, origin: str | None = None) -> Any:
    options = client.post("/triage/login/passkey/options/").content.decode()
    return client.post("/triage/login/passkey/", {"response": key.assert_(options, origin)})


def actions(user: Any) -> list[str]:
    entries = AuditEntry.objects.filter(actor=f"staff:{user.pk}")
    return list(entries.values_list("action", flat=True))


@pytest.fixture
def enrolled(alice: Any, key: SoftAuthenticator) -> Passkey:
    answer = register(sign_in(Client(), alice), key)
    assert answer.status_code == 200, answer.content
    return Passkey.objects.get(user=alice)


def test_it_registers_a_passkey_and_signs_in_with_it(
    alice: Any, key: SoftAuthenticator, enrolled: Passkey
) -> None:
    assert enrolled.name == "Laptop" and enrolled.transports == ["internal"]
    assert bytes(enrolled.credential_id) == key.credential_id

    client = password_step(alice)
    page = client.get("/triage/login/verify/").content.decode()
    # Without JavaScript the page says why, and the code form stays (codes are allowed here).
    assert "Signing in with a passkey needs JavaScript. Use a code instead." in page
    assert 'name="code"' in page and "meldpunt/passkeys.js" in page
    answer = passkey_step(client, key)
    assert answer.status_code == 200 and answer.json() == {"next": "/triage/"}
    assert client.get("/triage/").status_code == 200
    enrolled.refresh_from_db()
    assert enrolled.sign_count == 1 and enrolled.last_used_at is not None
    assert {"passkey_registered", "passkey_used", "second_factor_passed"} <= set(actions(alice))


def test_it_refuses_a_response_made_for_another_origin(
    alice: Any, key: SoftAuthenticator, enrolled: Passkey
) -> None:
    client = password_step(alice)
    answer = passkey_step(client, key, origin="https://desk.example.org.evil.example")
    assert answer.status_code == 400
    assert answer.json()["error"] == "This passkey was not accepted."
    assert client.get("/triage/").status_code == 302  # still not signed in

    stranger = Client()
    refused = register(sign_in(stranger, alice), SoftAuthenticator("evil.example", BASE))
    assert refused.status_code == 400  # another RP id: not registered either
    assert Passkey.objects.filter(user=alice).count() == 1


def test_it_accepts_each_challenge_once(
    alice: Any, key: SoftAuthenticator, enrolled: Passkey
) -> None:
    client = password_step(alice)
    options = client.post("/triage/login/passkey/options/").content.decode()
    response = key.assert_(options)
    assert client.post("/triage/login/passkey/", {"response": "{}"}).status_code == 400
    replay = client.post("/triage/login/passkey/", {"response": response})
    assert replay.status_code == 400 and "used already" in replay.json()["error"]


def test_it_lets_challenges_expire(alice: Any, key: SoftAuthenticator, enrolled: Passkey) -> None:
    client = password_step(alice)
    options = client.post("/triage/login/passkey/options/").content.decode()
    session = client.session
    session[CHALLENGE] = {**session[CHALLENGE], "at": time.time() - CHALLENGE_SECONDS - 1}
    session.save()
    answer = client.post("/triage/login/passkey/", {"response": key.assert_(options)})
    assert answer.status_code == 400 and "expired" in answer.json()["error"]


def test_it_flags_a_sign_count_that_went_backwards(
    alice: Any, key: SoftAuthenticator, enrolled: Passkey
) -> None:
    assert passkey_step(password_step(alice), key).status_code == 200
    key.sign_count = 0  # a clone that never saw the first sign-in
    answer = passkey_step(password_step(alice), key)
    assert answer.status_code == 400 and "went backwards" in answer.json()["error"]
    enrolled.refresh_from_db()
    assert enrolled.regressed_at is not None and enrolled.sign_count == 1
    assert "passkey_counter_regressed" in actions(alice)
    # Blocked from then on, whatever the count says.
    key.sign_count = 50
    assert passkey_step(password_step(alice), key).status_code == 400


def test_a_forged_signature_flags_nothing(
    alice: Any, key: SoftAuthenticator, enrolled: Passkey
) -> None:
    forger = SoftAuthenticator("desk.example.org", BASE, credential_id=key.credential_id)
    assert passkey_step(password_step(alice), forger).status_code == 400
    enrolled.refresh_from_db()
    assert enrolled.regressed_at is None


def test_removal_needs_fresh_proof_and_the_passkey_then_signs_in_no_more(
    alice: Any, key: SoftAuthenticator, enrolled: Passkey, monkeypatch: Any
) -> None:
    client = sign_in(Client(), alice)
    session = client.session
    session["staff_second_factor_at"] = time.time() - 3600  # an hour ago: not fresh
    session.save()
    stale = client.post(f"/triage/passkeys/{enrolled.uid}/remove/")
    assert stale.status_code == 302 and "/triage/login/again/" in stale["Location"]
    assert Passkey.objects.filter(pk=enrolled.pk).exists()

    fresh = sign_in(Client(), alice)
    assert fresh.post(f"/triage/passkeys/{enrolled.uid}/remove/").status_code == 303
    assert not Passkey.objects.filter(user=alice).exists()
    assert "passkey_removed" in actions(alice)
    assert passkey_step(password_step(alice), key).status_code == 400


def test_someone_elses_passkey_cannot_be_removed(bob: Any, enrolled: Passkey) -> None:
    answer = sign_in(Client(), bob).post(f"/triage/passkeys/{enrolled.uid}/remove/")
    assert answer.status_code == 404
    assert Passkey.objects.filter(pk=enrolled.pk).exists()


def test_the_passkey_steps_answer_nobody_who_is_not_signing_in(client: Client) -> None:
    assert client.post("/triage/login/passkey/options/").status_code == 403
    assert client.post("/triage/login/passkey/", {"response": "{}"}).status_code == 403
    assert client.get("/triage/login/passkey/options/").status_code == 405


def _totp(user: Any, offset: int = 0) -> str:
    secret = StaffProfile.objects.get(user=user).totp["secret"]
    return pyotp.TOTP(secret).at(time.time() + offset)


def test_required_passkeys_refuse_codes_unless_totp_is_the_allowed_recovery(
    alice: Any, key: SoftAuthenticator, enrolled: Passkey, settings: Any
) -> None:
    settings.MELDPUNT_REQUIRE_PASSKEYS = True
    settings.MELDPUNT_TOTP_AS_RECOVERY = False
    client = password_step(alice)
    page = client.get("/triage/login/verify/")
    assert b"Use a passkey" in page.content and b'name="code"' not in page.content
    assert client.post("/triage/login/verify/", {"code": _totp(alice)}).status_code == 400

    settings.MELDPUNT_TOTP_AS_RECOVERY = True
    answer = client.post("/triage/login/verify/", {"code": _totp(alice, 30)})
    assert answer.status_code == 303 and answer["Location"] == "/triage/"


def test_required_passkeys_send_a_member_without_one_to_register_first(
    alice: Any, key: SoftAuthenticator, settings: Any
) -> None:
    settings.MELDPUNT_REQUIRE_PASSKEYS = True
    settings.MELDPUNT_TOTP_AS_RECOVERY = False
    client = password_step(alice)
    answer = client.post("/triage/login/verify/", {"code": _totp(alice)})
    assert answer["Location"] == "/triage/passkeys/"
    assert client.get("/triage/")["Location"] == "/triage/passkeys/"
    assert b"register one before you continue" in client.get("/triage/passkeys/").content

    assert register(client, key).status_code == 200
    assert client.get("/triage/").status_code == 200


def test_a_passkey_renews_the_proof_for_a_sensitive_action(
    alice: Any, key: SoftAuthenticator, enrolled: Passkey
) -> None:
    client = sign_in(Client(), alice)
    session = client.session
    session["staff_second_factor_at"] = time.time() - 3600
    session.save()
    page = client.get("/triage/login/again/?next=/triage/passkeys/")
    assert b"Use a passkey" in page.content and b'data-next="/triage/passkeys/"' in page.content
    options = client.post("/triage/login/passkey/options/").content.decode()
    response = {"response": key.assert_(options), "next": "https://evil.example/"}
    answer = client.post("/triage/login/passkey/", response)
    assert answer.status_code == 200 and answer.json() == {"next": "/triage/"}  # not elsewhere
    assert client.post(f"/triage/passkeys/{enrolled.uid}/remove/").status_code == 303
    assert "sudo_passed" in actions(alice)
