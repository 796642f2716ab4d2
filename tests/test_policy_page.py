from __future__ import annotations

import re

from django.test import Client, override_settings
from django.urls import set_script_prefix

from meldpunt.policy.commitments import current_version
from meldpunt.policy.models import PolicyVersion
from tests.conftest import submit


def test_it_shows_the_configured_commitments(db):
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get("/").content.decode()
    assert "within 3 days" in page
    assert "Example Org" in page
    assert "security@example.org" in page
    for excluded in (
        "Physical attack",
        "Social engineering",
        "denial of service",
        "Spam",
        "third-party application",
    ):
        assert excluded in page
    assert "not take legal action" in page
    assert "pseudonym" in page


@override_settings(MELDPUNT_FIRST_RESPONSE_DAYS=5, MELDPUNT_ORG_NAME="Acme")
def test_it_generates_the_promise_from_settings(db):
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get("/").content.decode()
    assert "within 5 days" in page
    assert "Acme" in page


def test_it_keeps_policy_versions_and_records_the_one_the_finder_saw(db):
    first = current_version()
    assert first.number == 1
    sent = submit(Client())
    with override_settings(MELDPUNT_FIRST_RESPONSE_DAYS=2):
        second = current_version()
        later = submit(Client())
    assert second.number == 2
    assert PolicyVersion.objects.count() == 2
    assert sent.report.policy_version == first
    assert later.report.policy_version == second
    assert second.commitments["first_response_days"] == 2


def test_it_loads_nothing_from_another_origin(db):
    client = Client()
    for path in ("/", "/report/", "/status/"):
        page = client.get(path).content.decode()
        urls = re.findall(r'(?:src|href|action)="([^"]+)"', page)
        assert urls
        assert all(u.startswith(("/", "#")) for u in urls), (path, urls)


def test_it_sends_a_strict_content_security_policy(db):
    response = Client().get("/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_it_has_no_inline_script_or_style(db):
    for path in ("/", "/report/", "/status/"):
        page = Client().get(path).content.decode()
        assert "<script>" not in page and "style=" not in page and "<style" not in page


def test_it_picks_the_language_from_accept_language(db):
    assert 'lang="fr"' in Client(HTTP_ACCEPT_LANGUAGE="fr").get("/").content.decode()
    assert 'lang="nl"' in Client(HTTP_ACCEPT_LANGUAGE="nl-BE").get("/").content.decode()
    assert 'lang="en"' in Client(HTTP_ACCEPT_LANGUAGE="en").get("/").content.decode()


def test_it_offers_a_language_switch_that_works_without_javascript(db):
    page = Client().get("/").content.decode()
    for code in ("nl", "en", "fr"):
        assert f'name="language" value="{code}"' in page
    assert 'action="/language/"' in page


def test_every_public_page_links_to_the_finder_pages(db):
    nav = re.compile(r'<nav aria-label="[^"]+">(.*?)</nav>', re.S)
    for path in ("/", "/report/", "/status/", "/advisories/"):
        header = nav.search(Client().get(path).content.decode())
        assert header, path
        links = re.findall(r'href="([^"]+)"', header[1])
        assert links == ["/", "/report/", "/status/", "/advisories/", "/hall-of-fame/"], path


def test_the_links_follow_a_mount_below_the_site_root(db):
    Client().get("/report/")  # the links at the site root are known first
    set_script_prefix("/cvd/")  # what the WSGI handler does when mounted at /cvd
    try:
        page = Client().get("/report/").content.decode()
    finally:
        set_script_prefix("/")
    assert 'href="/cvd/status/"' in page and 'action="/cvd/language/"' in page


def test_it_answers_405_to_a_post_on_the_policy(db):
    assert Client().post("/").status_code == 405
