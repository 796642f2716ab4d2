"""The public key, WKD and security.txt stay reachable from a local copy while the database is down.

The database is taken away the way tests/test_database_unavailable.py does it (every new
cursor fails, as with PostgreSQL stopped); tests/test_frozen_database.py freezes a real one.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from meldpunt.policy import securitytxt
from meldpunt.public.published import wkd_hash
from tests.test_database_unavailable import down

WKD = f"/.well-known/openpgpkey/hu/{wkd_hash('security@example.org')}"


@pytest.fixture(autouse=True)
def own_data_dir(settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path  # no copy kept by another test


def test_it_serves_the_kept_copies_while_the_database_is_down(org_key: Any) -> None:
    client = Client()
    up = {url: client.get(url) for url in ("/pgp-key.asc", "/.well-known/security.txt", WKD)}
    assert all(r.status_code == 200 for r in up.values())
    with down():
        for url, before in up.items():
            during = client.get(url)
            assert during.status_code == 200, url
            assert during.content == before.content
            assert during["Content-Type"] == before["Content-Type"]
    assert (Path(settings.DATA_DIR) / "published" / "security.txt").exists()


def test_it_answers_503_when_nothing_was_kept_yet(org_key: Any) -> None:
    with down():
        for url in ("/pgp-key.asc", "/.well-known/security.txt"):
            response = Client().get(url)
            assert response.status_code == 503, url
            assert response["Retry-After"]


def test_it_serves_the_newest_key_after_a_rollover(org_key: Any) -> None:
    from meldpunt.policy import keys

    client = Client()
    client.get("/pgp-key.asc")
    keys.create_key()  # a rollover: the new key is the primary one
    newest = client.get("/pgp-key.asc").content
    with down():
        assert client.get("/pgp-key.asc").content == newest


def test_it_does_not_serve_an_expired_copy(org_key: Any) -> None:
    text = Client().get("/.well-known/security.txt").content.decode()
    assert not securitytxt.expired(text)
    later = timezone.now() + timedelta(days=3650)
    assert securitytxt.expired(text, now=later)
    assert securitytxt.expired("Contact: mailto:x@example.org\n")
    copy = Path(settings.DATA_DIR) / "published" / "security.txt"
    copy.write_text(text.replace("Expires: 20", "Expires: 19", 1))
    with down():
        assert Client().get("/.well-known/security.txt").status_code == 503
