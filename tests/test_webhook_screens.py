"""The webhook screens: administrators only; the secret shown once; the test-event button."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from standardwebhooks.webhooks import Webhook

from meldpunt.webhooks import delivery
from meldpunt.webhooks.models import Delivery, Endpoint
from tests.conftest import make_staff, sign_in
from tests.webhook_receiver import receiver


def form(url: str) -> dict[str, Any]:
    return {"name": "Chat", "url": url, "events": ["report.received"], "format": "slack"}


@pytest.mark.parametrize("role", ["viewer", "triager"])
def test_it_refuses_staff_who_are_not_administrators(db: Any, role: str) -> None:
    client = sign_in(Client(), make_staff("bob@example.org", role))
    assert client.get("/triage/webhooks/").status_code == 403
    assert (
        client.post("/triage/webhooks/add/", form("https://chat.example.org/")).status_code == 403
    )
    assert not Endpoint.objects.exists()


def test_it_adds_an_endpoint_and_shows_its_secret_once(db: Any) -> None:
    ada = sign_in(Client(), make_staff("ada@example.org", "admin"))
    response = ada.post("/triage/webhooks/add/", form("https://chat.example.org/hooks/1"))
    assert response.status_code == 200
    secret = re.search(r'id="secret">(whsec_[A-Za-z0-9+/=]+)<', response.content.decode())
    assert secret
    endpoint = Endpoint.objects.get()
    assert endpoint.secret["secret"] == secret.group(1)
    assert endpoint.events == ["report.received"] and endpoint.format == "slack"
    assert secret.group(1).encode() not in endpoint.secret_blob  # sealed, not in clear
    for page in ("/triage/webhooks/", f"/triage/webhooks/{endpoint.uid}/"):
        shown = ada.get(page)
        assert shown.status_code == 200 and secret.group(1) not in shown.content.decode()


def test_it_refuses_a_bad_url_and_stores_nothing(db: Any) -> None:
    ada = sign_in(Client(), make_staff("ada@example.org", "admin"))
    response = ada.post("/triage/webhooks/add/", form("ftp://chat.example.org/"))
    assert response.status_code == 400
    assert not Endpoint.objects.exists()


def test_the_test_event_button_sends_a_signed_test_event(db: Any, settings: Any) -> None:
    settings.MELDPUNT_WEBHOOK_ALLOW_PRIVATE = True
    ada = sign_in(Client(), make_staff("ada@example.org", "admin"))
    with receiver() as hook:
        added = ada.post("/triage/webhooks/add/", {**form(hook.url), "format": "generic"})
        secret = re.search(r'id="secret">([^<]+)<', added.content.decode())
        assert secret
        endpoint = Endpoint.objects.get()
        assert ada.get(f"/triage/webhooks/{endpoint.uid}/test/").status_code == 405
        response = ada.post(f"/triage/webhooks/{endpoint.uid}/test/")
        assert response.status_code == 303
        assert Delivery.objects.get().event_type == "webhook.test"
        assert delivery.deliver_due() == 1
    payload = Webhook(secret.group(1)).verify(hook.requests[0].body, hook.requests[0].headers)
    assert payload["type"] == "webhook.test" and "report" not in payload["data"]
    page = ada.get(f"/triage/webhooks/{endpoint.uid}/").content.decode()
    assert 'data-attempt="1" data-ok="true"' in page and "webhook.test" in page


def test_an_administrator_enables_a_disabled_endpoint_again(db: Any) -> None:
    ada = sign_in(Client(), make_staff("ada@example.org", "admin"))
    ada.post("/triage/webhooks/add/", form("https://chat.example.org/"))
    Endpoint.objects.update(enabled=False, consecutive_failures=15)
    endpoint = Endpoint.objects.get()
    assert ada.post(f"/triage/webhooks/{endpoint.uid}/enable/").status_code == 303
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.consecutive_failures == 0
    assert ada.post(f"/triage/webhooks/{endpoint.uid}/remove/").status_code == 303
    assert not Endpoint.objects.exists()
