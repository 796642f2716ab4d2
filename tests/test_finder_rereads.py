"""A finder re-reads, on /status/, the report they sent and their answers on advisories:
escaped, as finders may send payloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from meldpunt.advisories import publishing
from tests.advisory_cast import fixed, ready
from tests.conftest import Submitted, submit

pytestmark = pytest.mark.django_db

PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"


def signed_in(code: str) -> Client:
    client = Client()
    assert client.post("/status/", {"code": code}).status_code == 303
    return client


def test_it_shows_the_finder_their_own_report_escaped(db: None) -> None:
    sent = submit(
        Client(),
        description=f"Reflected XSS.\n{PAYLOAD}",
        steps=f"Open /search?q={PAYLOAD}",
        impact="Session theft.",
        references="https://example.org/advisory-1",
    )
    html = signed_in(sent.code).get("/status/").content.decode()
    assert 'id="your-report-title">Your report<' in html
    assert "Cross-site scripting (XSS)" in html
    assert "<code>https://portal.example.org/login</code>" in html
    assert "<code>192.0.2.10</code>" in html
    assert f"Reflected XSS.<br>{ESCAPED}" in html
    assert f"Open /search?q={ESCAPED}" in html
    assert "https://example.org/advisory-1" in html
    assert PAYLOAD not in html and "<img src=x" not in html


def test_it_shows_another_finder_nothing_of_it(rita: Submitted) -> None:
    other = submit(Client(), description="Another finding entirely.")
    html = signed_in(other.code).get("/status/").content.decode()
    assert "Another finding entirely." in html
    assert "Reflected XSS in the q parameter." not in html


def test_it_shows_the_finder_their_review_comments_escaped(
    rita: Submitted, rita_client: Client, alice: User
) -> None:
    advisory = ready(alice, fixed(alice, rita), publish_at=datetime(2030, 6, 3, 8, 0, tzinfo=UTC))
    review = f"/status/advisory/{advisory.uid}/"
    answer = {
        "decision": "comment",
        "text": f"Please name 2.3.0 too. {PAYLOAD}",
        "proposed_date": "",
        "proposed_time": "",
        "proposed_tz": "Europe/Brussels",
    }
    assert rita_client.post(review, answer).status_code == 303
    html = rita_client.get("/status/").content.decode()
    assert 'id="your-reviews-title"' in html
    assert f"Please name 2.3.0 too. {ESCAPED}" in html
    assert PAYLOAD not in html
    # Still there once the advisory is published and its review page gone.
    advisory.refresh_from_db()
    advisory.publish_at = timezone.now() - timedelta(minutes=1)
    publishing.publish(advisory, summary="", user=alice, skip_review=True)
    assert rita_client.get(review).status_code == 404
    assert "Please name 2.3.0 too." in rita_client.get("/status/").content.decode()


def test_it_shows_no_answers_section_to_a_finder_without_any(rita_client: Client) -> None:
    assert 'id="your-reviews-title"' not in rita_client.get("/status/").content.decode()
