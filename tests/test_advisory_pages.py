"""/advisories/ and /advisories/<identifier>/: what was published, in the reader's language."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from django.test import Client
from django.utils import translation

from meldpunt.advisories.models import Advisory
from tests.advisories import XSS_40, content, make_advisory, publish

LIST = "/advisories/"


def page(path: str, language: str = "en") -> str:
    response = Client(HTTP_ACCEPT_LANGUAGE=language).get(path)
    assert response.status_code == 200, (path, response.status_code)
    return str(response.content.decode())


@pytest.fixture
def advisories(db: Any) -> dict[str, Advisory]:
    first = publish(
        "MPSA-2026-0001",
        content(
            cve="CVE-2026-12345",
            cvss40_vector=XSS_40,
            products=[
                {"name": "Webshop", "affected": "2.3.1", "fixed": "2.3.2"},
                {"name": "Mobile app", "affected": "5.0", "fixed": "5.1"},
            ],
            references=["https://example.org/notes/xss", "javascript:alert(1)"],
        ),
        credits=["Jane Doe", "n0sy"],
        at=datetime(2026, 1, 10, 8, 0, tzinfo=UTC),
        revisions=3,
    )
    second = publish(
        "MPSA-2026-0002",
        content(title="Open redirect op de loginpagina", summary="De next-parameter …"),
        at=datetime(2026, 2, 1, 8, 0, tzinfo=UTC),
        language="nl",
    )
    draft = make_advisory("MPSA-2026-0003", draft=content(title="Secret draft title"))
    scheduled = make_advisory(
        "MPSA-2026-0004",
        status=Advisory.Status.SCHEDULED,
        draft=content(title="Scheduled secret title"),
    )
    return {"first": first, "second": second, "draft": draft, "scheduled": scheduled}


def test_it_lists_published_advisories_newest_first(advisories):
    html = page(LIST)
    rows = re.findall(r'<a href="/advisories/(MPSA-[\d-]+)/">', html)
    assert rows == ["MPSA-2026-0002", "MPSA-2026-0001"]
    assert "Reflected XSS in the shop search" in html
    assert '<td lang="nl">Open redirect op de loginpagina</td>' in html
    assert "Medium (6.1)" in html
    assert '<time datetime="2026-01-10T' in html


def test_it_never_shows_drafts_or_scheduled_advisories(advisories):
    html = page(LIST)
    assert "MPSA-2026-0003" not in html and "Secret draft title" not in html
    assert "MPSA-2026-0004" not in html and "Scheduled secret title" not in html
    client = Client()
    for identifier in ("MPSA-2026-0003", "MPSA-2026-0004", "MPSA-2026-9999", "mpsa-2026-0001"):
        assert client.get(f"/advisories/{identifier}/").status_code == 404, identifier


def test_it_shows_the_latest_revision_in_full(advisories):
    html = page("/advisories/MPSA-2026-0001/")
    assert '<h1 id="advisory-title" lang="en">Reflected XSS in the shop search</h1>' in html
    assert "The q parameter of the search page was echoed without escaping." in html
    assert "Webshop</span> (affected: 2.3.1) (fixed in 2.3.2)" in html
    assert "Mobile app</span> (affected: 5.0) (fixed in 5.1)" in html
    assert "Upgrade to 2.3.2." in html
    assert "6.1 Medium <code>CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N</code>" in html
    assert f"5.3 Medium <code>{XSS_40}</code>" in html
    assert 'CWE-79: <span lang="en">Improper Neutralization of Input During Web' in html
    assert 'href="https://www.cve.org/CVERecord?id=CVE-2026-12345"' in html
    assert '<a href="https://example.org/notes/xss"' in html
    # A reference that is not a web address is shown, never made a link.
    assert "<li>javascript:alert(1)</li>" in html
    assert 'href="javascript:' not in html
    credits = re.search(r'<dd id="advisory-credits">(.*?)</dd>', html, re.S)
    assert credits and re.findall(r"<li>(.*?)</li>", credits.group(1)) == ["Jane Doe", "n0sy"]
    revisions = re.search(r'<ol class="plain" id="advisory-revisions">(.*?)</ol>', html, re.S)
    assert revisions and revisions.group(1).count("<li>") == 3
    assert "Revision 3: details added." in revisions.group(1)
    assert 'href="/.well-known/csaf/white/2026/mpsa-2026-0001.json"' in html
    assert 'href="/.well-known/csaf/white/2026/mpsa-2026-0001.json.asc"' in html


def test_it_marks_the_advisory_text_with_its_own_language(advisories):
    for language in ("en", "nl", "fr"):
        html = page("/advisories/MPSA-2026-0002/", language)
        assert f'<html lang="{language}">' in html
        assert '<h1 id="advisory-title" lang="nl">Open redirect op de loginpagina</h1>' in html
        assert '<div class="text" id="advisory-summary" lang="nl">' in html
        listing = page(LIST, language)
        assert f'<html lang="{language}">' in listing


def marked(message: str) -> str:
    return f"⟦{message}⟧"


def test_it_passes_every_label_through_gettext(advisories):
    # A stand-in catalogue that brackets what it translates: an unmarked label stays bare.
    trans = translation._trans  # type: ignore[attr-defined]
    with translation.override("en"):
        translation.gettext("warm up")  # makes _trans hold gettext as an attribute
        with mock.patch.object(trans, "gettext", side_effect=marked, create=True):
            listing = page(LIST)
            detail = page("/advisories/MPSA-2026-0001/")
    for label in ("Security advisories", "Advisory", "Title", "Published", "Severity", "Medium"):
        assert marked(label) in listing, label
    for label in ("Products", "Remediation", "References", "Credits", "Revision history"):
        assert marked(label) in detail, label
    assert marked("(affected: 2.3.1)") in detail
    assert marked("Revision 3") in detail


def test_it_escapes_what_the_advisory_says(db):
    publish(
        "MPSA-2026-0009",
        content(title="<script>alert(1)</script>", summary="<img src=x onerror=alert(2)>"),
        credits=["<b>Mallory</b>"],
    )
    for html in (page(LIST), page("/advisories/MPSA-2026-0009/")):
        assert "<script>alert(1)" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    detail = page("/advisories/MPSA-2026-0009/")
    assert "<img src=x" not in detail and "<b>Mallory</b>" not in detail
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in detail


def test_it_says_so_when_nothing_is_published(db):
    make_advisory("MPSA-2026-0001")
    assert 'id="no-advisories"' in page(LIST)


def test_it_answers_only_get_and_head_and_may_be_cached_briefly(advisories):
    client = Client()
    for path in (LIST, "/advisories/MPSA-2026-0001/"):
        assert client.post(path).status_code == 405
        head = client.head(path)
        assert head.status_code == 200
        assert "max-age=300" in head["Cache-Control"]
        # It carries the language form's CSRF cookie, so no shared cache may keep it.
        assert "private" in head["Cache-Control"]
