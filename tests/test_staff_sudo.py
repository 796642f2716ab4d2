"""Sensitive actions ask for the second factor again when it is older than a few minutes."""

from __future__ import annotations

import time

import pyotp
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from meldpunt.accounts.access import sudo_required
from meldpunt.accounts.gate import SECOND_FACTOR_AT
from meldpunt.accounts.models import StaffProfile
from tests.conftest import sign_in


@sudo_required
def export(request: HttpRequest) -> HttpResponse:
    return HttpResponse("exported")


def request_for(user, factor_age: float | None) -> HttpRequest:
    request = RequestFactory().get("/triage/export/")
    request.user = user
    request.session = SessionStore()
    if factor_age is not None:
        request.session[SECOND_FACTOR_AT] = time.time() - factor_age
    return request


def test_it_runs_a_sensitive_action_right_after_the_second_factor(alice):
    assert export(request_for(alice, 10)).content == b"exported"


def test_it_asks_for_the_second_factor_again_after_five_minutes(alice):
    response = export(request_for(alice, 6 * 60))
    assert response.status_code == 302
    assert response["Location"] == "/triage/login/again/?next=%2Ftriage%2Fexport%2F"


def test_it_sends_anonymous_users_to_sign_in(db):
    response = export(request_for(AnonymousUser(), None))
    assert response["Location"].startswith("/triage/login/")


def test_it_renews_the_second_factor_on_the_again_page(alice):
    client = sign_in(Client(), alice)
    session = client.session
    session[SECOND_FACTOR_AT] = time.time() - 3600
    session.save()
    assert client.get("/triage/login/again/?next=/triage/").status_code == 200
    code = pyotp.TOTP(StaffProfile.objects.get(user=alice).totp["secret"]).now()
    response = client.post("/triage/login/again/?next=/triage/", {"code": code})
    assert response.status_code == 303
    assert response["Location"] == "/triage/"
    assert time.time() - client.session[SECOND_FACTOR_AT] < 60
