"""/api/v1/docs: Swagger UI from our own static files, for signed-in staff only."""

from __future__ import annotations

import re

from django.test import Client

from meldpunt.api.tokens import issue_token
from tests.conftest import sign_in

DOCS = "/api/v1/docs"


def test_anyone_not_signed_in_is_sent_to_the_login(db):
    response = Client().get(DOCS)
    assert response.status_code == 302
    assert response["Location"].startswith("/triage/login/?next=")


def test_a_token_alone_is_not_a_browser_login(alice):
    token = issue_token(alice, "script", scopes=["read"])
    response = Client(headers={"Authorization": f"Bearer {token}"}).get(DOCS)
    assert response.status_code == 302


def test_staff_get_the_page_with_nothing_from_another_origin(alice):
    response = sign_in(Client(), alice).get(DOCS)
    assert response.status_code == 200
    html = response.content.decode()
    assert re.findall(r"https?://", html) == []
    assert "/static/ninja/swagger-ui-bundle" in html
    assert "/static/meldpunt/api-docs" in html
    assert '"url": "/api/v1/openapi.json"' in html
    assert '"validatorUrl": null' in html  # else Swagger UI asks validator.swagger.io
    assert "<script>" not in html  # only src= scripts and the JSON settings
    assert "no-store" in response["Cache-Control"]


def test_its_policy_adds_only_fetching_from_this_server_and_data_images(alice):
    policy = sign_in(Client(), alice).get(DOCS)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert directives["default-src"] == "'none'"
    assert "unsafe" not in policy


def test_the_tokens_page_links_to_it(alice):
    html = sign_in(Client(), alice).get("/triage/tokens/").content.decode()
    assert f'href="{DOCS}"' in html
