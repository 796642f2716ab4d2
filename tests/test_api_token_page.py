"""The API tokens page: each staff member sees and revokes their own, admins everyone's."""

from __future__ import annotations

import re
import time
from typing import Any

from django.test import Client

from meldpunt.accounts.gate import SECOND_FACTOR_AT
from meldpunt.api.models import ApiToken
from meldpunt.api.tokens import issue_token
from meldpunt.audit.models import AuditEntry
from tests.conftest import make_staff, sign_in

PAGE = "/triage/tokens/"


def create(client: Client, **fields: Any) -> Any:
    body = {"name": "tracker", "scopes": ["read", "triage"], "expires": "90", **fields}
    return client.post(f"{PAGE}new/", body)


def test_it_shows_a_new_token_once_and_stores_only_its_hash(alice):
    desk = sign_in(Client(), alice)
    answer = create(desk)
    assert answer.status_code == 201
    found = re.search(r'id="token-secret">(mp_[\w-]+)<', answer.content.decode())
    assert found is not None
    secret = found.group(1)
    token = ApiToken.objects.get()
    assert (token.name, token.scopes, token.user) == ("tracker", ["read", "triage"], alice)
    assert token.expires_at is not None
    assert secret not in desk.get(PAGE).content.decode()
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    assert api.get("/api/v1/reports").status_code == 200
    assert AuditEntry.objects.filter(action="api_token_created").get().data["token"] == "tracker"


def test_it_lists_name_scopes_dates_and_last_use(alice):
    secret = issue_token(alice, "nightly export", scopes=["read"])
    Client(headers={"Authorization": f"Bearer {secret}"}).get("/api/v1/reports")
    page = sign_in(Client(), alice).get(PAGE).content.decode()
    found = re.search(r"<tr><td>nightly export</td>.*?</tr>", page, re.S)
    assert found is not None
    row = found.group(0)
    assert "<td>read</td>" in row
    assert row.count("<time datetime=") == 2  # created and last used; it never expires
    assert "never" in row


def test_it_revokes_a_token_which_then_answers_401(alice, bob):
    secret = issue_token(alice, "old script")
    token = ApiToken.objects.get()
    # Another staff member (not an admin) cannot reach it.
    assert sign_in(Client(), bob).post(f"{PAGE}{token.uid}/revoke/").status_code == 404
    assert sign_in(Client(), alice).post(f"{PAGE}{token.uid}/revoke/").status_code == 303
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    assert api.get("/api/v1/reports").status_code == 401
    assert AuditEntry.objects.filter(action="api_token_revoked").exists()


def test_an_admin_sees_and_revokes_everyones_tokens(alice, bob):
    issue_token(alice, "alice's script")
    ada = sign_in(Client(), make_staff("ada@example.org", "admin"))
    assert "alice&#x27;s script" in ada.get(PAGE).content.decode()
    assert "alice&#x27;s script" not in sign_in(Client(), bob).get(PAGE).content.decode()
    token = ApiToken.objects.get()
    assert ada.post(f"{PAGE}{token.uid}/revoke/").status_code == 303
    assert ApiToken.objects.get().revoked_at is not None


def test_it_offers_only_the_scopes_the_role_allows(bob, alice):
    viewer = sign_in(Client(), bob)
    assert 'value="triage"' not in viewer.get(PAGE).content.decode()
    assert create(viewer).status_code == 400
    assert create(sign_in(Client(), alice), scopes=["admin"]).status_code == 400
    assert not ApiToken.objects.exists()


def test_a_publish_token_asks_for_a_fresh_second_factor(alice):
    desk = sign_in(Client(), alice)
    session = desk.session
    session[SECOND_FACTOR_AT] = time.time() - 3600  # too long ago for publishing
    session.save()
    answer = create(desk, scopes=["read", "publish"])
    assert answer.status_code == 303
    assert "/login/again/" in answer["Location"]
    assert not ApiToken.objects.exists()
    assert create(desk).status_code == 201  # read and triage need no fresh one


def test_it_is_for_staff_only(rita):
    assert Client().get(PAGE).status_code in (302, 404)
