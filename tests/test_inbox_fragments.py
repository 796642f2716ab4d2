"""The inbox's filter and bulk fields are rendered once per language, values and choices
(meldpunt/lib/fragments.py): the next page still shows a new tag or staff member, the values
asked for, the visitor's language, and exactly the HTML an uncached rendering gives."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from meldpunt.reports.models import Tag
from meldpunt.triage import inbox
from tests.conftest import make_staff, sign_in
from tests.test_triage_inbox import new_report

SELECTS = re.compile(r'<select name="(\w+)"[^>]*>(.*?)</select>', re.S)


@pytest.fixture
def alice_client(alice: User) -> Client:
    new_report(severity="high", state="triaged")  # a row, so the bulk form is there too
    return sign_in(Client(), alice)


def page(client: Client, query: str = "", language: str = "en") -> str:
    response = client.get(f"/triage/{query}", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


def fields(html: str) -> tuple[str, str]:
    """The filter form and the bulk controls (the rest of the page has a CSRF token)."""
    filters = re.search(r'<form class="filters".*?</form>', html, re.S)
    bulk = re.search(r'<section class="bulk".*?</section>', html, re.S)
    assert filters
    return filters.group(0), bulk.group(0) if bulk else ""


def options(html: str) -> list[tuple[str, str]]:
    """Each select's name and its options, in page order (filters, then the bulk form)."""
    return [(name, body) for name, body in SELECTS.findall(html)]


def test_a_new_tag_and_staff_member_show_on_the_next_page(alice_client):
    before = page(alice_client)
    assert "retest-now" not in before and "carol@example.org" not in before
    Tag.objects.create(name="retest-now", colour="red")
    make_staff("carol@example.org", "triager")
    after = page(alice_client)
    tag_selects = [body for name, body in options(after) if name == "tag"]
    assignee_selects = [body for name, body in options(after) if name == "assignee"]
    assert len(tag_selects) == 2 and all("retest-now" in body for body in tag_selects)
    assert len(assignee_selects) == 2
    assert all("carol@example.org" in body for body in assignee_selects)


def test_it_shows_the_values_asked_for_and_forgets_them_on_the_next_page(alice_client):
    chosen = page(alice_client, "?severity=high&overdue=on")
    assert '<option value="high" selected>' in chosen
    assert re.search(r'<input type="checkbox" name="overdue"[^>]* checked', chosen)
    plain = page(alice_client)
    assert '<option value="high" selected>' not in plain
    assert not re.search(r'<input type="checkbox" name="overdue"[^>]* checked', plain)
    assert fields(page(alice_client, "?severity=high&overdue=on")) == fields(chosen)


def test_it_follows_the_visitors_language(alice_client):
    assert ">Severity<" in page(alice_client, language="en")
    assert ">Ernst<" in page(alice_client, language="nl")
    assert ">Gravité<" in page(alice_client, language="fr")
    assert ">Severity<" in page(alice_client, language="en")


def test_kept_fields_are_the_same_html_as_rendered_fields(alice_client):
    inbox._FRAGMENTS.clear()
    first = fields(page(alice_client, "?tag=&state=triaged"))  # rendered, then kept
    assert len(inbox._FRAGMENTS._items) == 2
    kept = fields(page(alice_client, "?tag=&state=triaged"))  # from the cache
    assert first == kept and first[1]
    inbox._FRAGMENTS.clear()
    assert fields(page(alice_client, "?tag=&state=triaged")) == first


def test_a_field_with_an_error_or_a_search_is_not_kept(alice_client):
    inbox._FRAGMENTS.clear()
    page(alice_client, "?q=portal.example.org")
    assert len(inbox._FRAGMENTS._items) == 1  # the bulk fields only, not the search's filters
    response = alice_client.get("/triage/?severity=bogus", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert len(inbox._FRAGMENTS._items) == 1
