"""The staff menu links every desk screen a staff member may open, and no other."""

from __future__ import annotations

import re

from django.test import Client

from tests.conftest import make_staff, sign_in

NAV = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)


def menu(client: Client, url: str = "/triage/") -> str:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    found = NAV.search(response.content.decode())
    assert found
    return found[1]


def test_it_links_the_advisories_for_every_staff_member(alice, bob):
    for user in (alice, bob):
        client = sign_in(Client(), user)
        assert '<a href="/triage/advisories/">Advisories</a>' in menu(client)
        assert client.get("/triage/advisories/").status_code == 200


def test_it_marks_the_advisories_link_as_the_current_page(alice):
    nav = menu(sign_in(Client(), alice), "/triage/advisories/")
    assert '<a href="/triage/advisories/" aria-current="page">Advisories</a>' in nav


def test_it_links_the_message_templates_for_admins_only(alice, bob):
    admin = sign_in(Client(), make_staff("ada@example.org", "admin"))
    assert '<a href="/triage/templates/">Message templates</a>' in menu(admin)
    assert admin.get("/triage/templates/").status_code == 200
    for user in (alice, bob):
        assert "/triage/templates/" not in menu(sign_in(Client(), user))
