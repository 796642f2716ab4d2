"""/.well-known/security.txt: valid RFC 9116, signed with our key, and never stale."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
import sectxt  # type: ignore[import-untyped]  # ships no type hints
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver
from django.utils import timezone

from meldpunt import urls as meldpunt_urls
from meldpunt.policy import keys
from meldpunt.policy.models import SecurityTxt
from meldpunt.policy.securitytxt import renew_if_due
from tests.advisories import make_advisory, publish

BASE = "https://meldpunt.example.org"
URL = "/.well-known/security.txt"
https = override_settings(MELDPUNT_BASE_URL=BASE)


def fetch() -> str:
    response = Client().get(URL)
    assert response.status_code == 200, response.content
    return str(response.content.decode())


def field_values(text: str, name: str) -> list[str]:
    return re.findall(rf"^{name}: (.*)$", text, flags=re.MULTILINE)


def expires_of(text: str) -> datetime:
    (value,) = field_values(text, "Expires")
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@https
def test_it_serves_a_signed_file_the_validator_accepts(org_key):
    response = Client().get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    parsed = sectxt.Parser(response.content, urls=f"{BASE}{URL}")
    assert parsed.errors == []
    codes = {r["code"] for r in parsed.recommendations}
    assert not codes & {"not_signed", "no_canonical", "long_expiry", "no_encryption"}
    assert response.content.startswith(b"-----BEGIN PGP SIGNED MESSAGE-----\n")


@https
def test_it_is_judged_unsigned_and_invalid_when_it_is_not(org_key):
    # The validator is not a rubber stamp: the unsigned body without https fails it.
    from meldpunt.policy.securitytxt import body

    with override_settings(MELDPUNT_BASE_URL="http://meldpunt.example.org"):
        parsed = sectxt.Parser(body(timezone.now() + timedelta(days=30)).encode())
    assert {r["code"] for r in parsed.recommendations} >= {"not_signed"}
    assert "no_https" in {e["code"] for e in parsed.errors}


@https
def test_it_signs_it_so_that_gpg_verifies_it(org_key, gpg):
    gpg.import_key(keys.public_armored())
    signed = fetch().encode()
    result = gpg.run("--status-fd", "1", "--verify", input=signed)
    assert re.search(rb"VALIDSIG [0-9A-F]{40} .* " + org_key.fingerprint.encode(), result.stdout)
    tampered = signed.replace(b"mailto:security@", b"mailto:attacker@")
    assert gpg.run("--verify", input=tampered, check=False).returncode != 0


@https
@override_settings(
    MELDPUNT_SECURITY_CONTACT="psirt@acme.example",
    LANGUAGES=[("en", "English"), ("fr", "Français")],
)
def test_it_lists_every_field_from_the_configuration(org_key):
    text = fetch()
    assert field_values(text, "Contact") == ["mailto:psirt@acme.example", f"{BASE}/report/"]
    assert field_values(text, "Encryption") == [f"{BASE}/pgp-key.asc"]
    assert field_values(text, "Policy") == [f"{BASE}/"]
    assert field_values(text, "Preferred-Languages") == ["en, fr"]
    assert field_values(text, "Canonical") == [f"{BASE}{URL}"]
    assert len(field_values(text, "Expires")) == 1


def _without_public_advisories() -> list[URLPattern | URLResolver]:
    return [
        p for p in meldpunt_urls.urlpatterns if getattr(p, "namespace", "") != "advisories_public"
    ]


def urlconf(name: str, patterns: list[URLPattern | URLResolver]) -> ModuleType:
    """A urlconf module made in place (Django caches resolvers by it, so it must hash)."""
    module = ModuleType(name)
    module.urlpatterns = patterns  # type: ignore[attr-defined]
    return module


WITHOUT_HALL = urlconf("without_hall", _without_public_advisories())


@https
def test_it_thanks_finders_in_a_hall_of_fame_only_where_that_page_exists(org_key):
    with override_settings(ROOT_URLCONF=WITHOUT_HALL):
        assert field_values(fetch(), "Acknowledgments") == []
    text = fetch()
    assert field_values(text, "Acknowledgments") == [f"{BASE}/hall-of-fame/"]
    assert Client().get("/hall-of-fame/").status_code == 200
    assert sectxt.Parser(text.encode(), urls=f"{BASE}{URL}").errors == []


@https
def test_it_points_csaf_aggregators_to_the_provider_once_an_advisory_is_published(org_key, gpg):
    before = fetch()
    assert field_values(before, "CSAF") == []
    make_advisory("MPSA-2026-0001")  # a draft is not published
    assert renew_if_due() is False
    assert field_values(fetch(), "CSAF") == []
    publish("MPSA-2026-0002")
    after = fetch()
    assert field_values(after, "CSAF") == [f"{BASE}/.well-known/csaf/provider-metadata.json"]
    assert Client().get("/.well-known/csaf/provider-metadata.json").status_code == 200
    assert sectxt.Parser(after.encode(), urls=f"{BASE}{URL}").errors == []
    # Signed again with the new field, and stable after that.
    gpg.import_key(keys.public_armored())
    assert gpg.run("--verify", input=after.encode(), check=False).returncode == 0
    assert renew_if_due() is False
    assert fetch() == after


@https
def test_it_expires_within_a_year_and_is_renewed_before_it_lapses(org_key):
    start = timezone.now()
    with mock.patch("django.utils.timezone.now", return_value=start):
        first = fetch()
    expires = expires_of(first)
    assert timedelta(days=settings.MELDPUNT_SECURITY_TXT_DAYS - 1) < expires - start
    assert expires - start < timedelta(days=365)
    # Still fresh a day later: the same signed bytes.
    with mock.patch("django.utils.timezone.now", return_value=start + timedelta(days=1)):
        assert fetch() == first
    # Inside the renewal window: signed again, with a later Expires.
    later = expires - timedelta(days=settings.MELDPUNT_SECURITY_TXT_RENEW_DAYS, seconds=-1)
    assert renew_if_due(now=later) is True
    with mock.patch("django.utils.timezone.now", return_value=later):
        renewed = fetch()
    assert expires_of(renewed) > expires
    assert renew_if_due(now=later) is False


@https
def test_it_signs_again_at_once_when_the_configuration_changes(org_key):
    before = fetch()
    assert renew_if_due() is False
    with override_settings(MELDPUNT_SECURITY_CONTACT="psirt@acme.example"):
        after = fetch()
        assert field_values(after, "Contact")[0] == "mailto:psirt@acme.example"
        assert renew_if_due() is False
    assert after != before
    assert SecurityTxt.objects.count() == 1


@https
def test_it_signs_again_with_the_new_key_after_a_rollover(org_key, gpg):
    fetch()
    new = keys.create_key()
    text = fetch()
    assert SecurityTxt.objects.get().fingerprint == new.fingerprint
    gpg.import_key(new.public_armored)
    result = gpg.run("--status-fd", "1", "--verify", input=text.encode())
    assert re.search(rb"VALIDSIG [0-9A-F]{40} .* " + new.fingerprint.encode(), result.stdout)


def _race(now: datetime, signed: list[int]) -> list[bool]:
    """Run renew_if_due in two threads at the same moment; count the signatures."""
    real_sign = keys.sign_cleartext
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def slow_sign(text: str) -> str:
        signed.append(1)
        time.sleep(0.3)  # widen the window in which the other thread could interfere
        return real_sign(text)

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(renew_if_due(now=now))
        finally:
            connection.close()

    with mock.patch("meldpunt.policy.keys.sign_cleartext", side_effect=slow_sign):
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    return sorted(results)


@https
@pytest.mark.django_db(transaction=True)
def test_it_is_safe_when_two_workers_renew_at_once():
    keys.create_key()
    # Nothing stored yet: both may sign, but exactly one row is written and reported.
    assert _race(timezone.now(), []) == [False, True]
    assert SecurityTxt.objects.count() == 1
    # Due for renewal: the row lock lets exactly one of them sign.
    stored = SecurityTxt.objects.get()
    signed: list[int] = []
    later = stored.expires_at - timedelta(days=1)
    assert _race(later, signed) == [False, True]
    assert len(signed) == 1
    assert SecurityTxt.objects.get().expires_at > stored.expires_at


def test_it_answers_503_in_plain_text_without_a_key(db):
    response = Client().get(URL)
    assert response.status_code == 503
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert b"not set up yet" in response.content
    assert renew_if_due() is False
    assert SecurityTxt.objects.count() == 0


def test_it_answers_only_get_and_head_and_sets_no_cookie(org_key):
    client = Client()
    assert client.post(URL).status_code == 405
    head = client.head(URL)
    assert head.status_code == 200
    assert head.content == b""
    response = client.get(URL)
    assert response.status_code == 200
    assert not response.cookies
    assert not client.cookies


def test_it_keeps_the_signed_text_fresh_for_the_worker(org_key: Any):
    # The worker's schedule calls renew_if_due; a first call signs, a second does nothing.
    assert renew_if_due() is True
    assert renew_if_due() is False
    stored = SecurityTxt.objects.get()
    assert stored.fingerprint == org_key.fingerprint
    assert stored.signed.startswith("-----BEGIN PGP SIGNED MESSAGE-----")
