"""/advisories/feed.atom: a valid Atom feed of the published advisories, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import feedparser  # type: ignore[import-untyped]  # ships no type hints
import pytest
from django.test import Client, override_settings

from meldpunt.advisories.models import Advisory
from tests.advisories import content, make_advisory, publish

BASE = "https://meldpunt.example.org"
URL = "/advisories/feed.atom"
pytestmark = pytest.mark.usefixtures("https_base")


@pytest.fixture
def https_base() -> Any:
    with override_settings(MELDPUNT_BASE_URL=BASE, MELDPUNT_ORG_NAME="Acme"):
        yield


def fetch() -> Any:
    response = Client().get(URL)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def test_it_has_one_entry_per_published_advisory_with_links_to_page_and_csaf(db):
    publish("MPSA-2026-0001", at=datetime(2026, 1, 10, 8, 0, tzinfo=UTC), revisions=2)
    publish(
        "MPSA-2026-0002",
        content(title="SQL injection", summary="Quotes & <tags> in the id."),
        at=datetime(2026, 2, 1, 8, 0, tzinfo=UTC),
    )
    make_advisory("MPSA-2026-0003", draft=content(title="Secret draft title"))
    make_advisory("MPSA-2026-0004", status=Advisory.Status.SCHEDULED)
    feed = fetch()
    assert feed.feed.title == "Security advisories of Acme"
    assert feed.feed.author == "Acme"
    assert feed.feed.updated_parsed[:5] == (2026, 2, 1, 8, 0)
    assert [e.title for e in feed.entries] == [
        "MPSA-2026-0002: SQL injection",
        "MPSA-2026-0001: Reflected XSS in the shop search",
    ]
    newer, older = feed.entries
    # Atom says "html"; escaped once, the text comes back as the text, tags and all.
    assert newer.summary == "Quotes &amp; &lt;tags&gt; in the id."
    assert newer.id == f"{BASE}/advisories/MPSA-2026-0002/"
    links = {(link.rel, link.get("type")): link.href for link in older.links}
    assert links[("alternate", "application/json")] == (
        f"{BASE}/.well-known/csaf/white/2026/mpsa-2026-0001.json"
    )
    assert older.link == f"{BASE}/advisories/MPSA-2026-0001/"
    # Updated with the latest revision, published with the first.
    assert older.updated_parsed[:3] == (2026, 1, 11)
    assert older.published_parsed[:3] == (2026, 1, 10)


def test_it_is_a_valid_empty_feed_before_the_first_publication(db):
    make_advisory("MPSA-2026-0001")
    feed = fetch()
    assert feed.entries == []
    assert b"MPSA-2026-0001" not in Client().get(URL).content


def test_it_answers_only_get_and_head_publicly(db):
    client = Client()
    assert client.post(URL).status_code == 405
    head = client.head(URL)
    assert head.status_code == 200
    assert "public" in head["Cache-Control"]
    assert not client.cookies
