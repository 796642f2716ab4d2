"""No IP address, user agent or referrer is stored with a report or logged by its views."""

from __future__ import annotations

import logging

import pytest
from django.test import Client, override_settings

from meldpunt.reports.models import Report
from tests.conftest import form_post, submit
from tests.test_encryption_at_rest import data_dir_bytes, database_bytes

IP = "198.51.100.77"
AGENT = "MarkerAgent/7.7 (privacy-test)"
REFERRER = "https://referrer-marker.example.net/page"


def finder_client() -> Client:
    return Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=AGENT, HTTP_REFERER=REFERRER)


@pytest.mark.django_db(transaction=True)
def test_it_stores_no_address_agent_or_referrer(caplog):
    caplog.set_level(logging.DEBUG)
    sent = submit(finder_client(), description="privacy marker text")
    client = finder_client()
    client.post("/status/", {"code": "0000-0000-0000-0000-0000"})
    client.post("/status/", {"code": sent.code})
    client.post("/status/reply/", {"text": "reply marker text"})
    stored = database_bytes() + data_dir_bytes()
    for secret in (IP, AGENT, "referrer-marker"):
        assert secret.encode() not in stored
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (IP, AGENT, "referrer-marker", "marker text", sent.code):
        assert secret not in logged
    assert sent.report.reference in logged  # logs name ids, which is what they are for


@override_settings(MELDPUNT_SUBMIT_CLIENT_LIMIT=2)
def test_it_rate_limits_submissions_per_client_without_losing_what_was_typed(db):
    flood = Client(REMOTE_ADDR="198.51.100.9")
    submit(flood)
    submit(flood)
    response = form_post(flood, description="third in a row")
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many reports from your network" in page
    assert "third in a row" in page
    assert Report.objects.count() == 2
    # Other finders are not affected.
    submit(Client(REMOTE_ADDR="203.0.113.20"))
    assert Report.objects.count() == 3
