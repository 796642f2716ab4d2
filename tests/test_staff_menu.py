"""The staff menu links every desk screen a staff member may open, and no other."""

from __future__ import annotations

import re

from django.test import Client

from tests.conftest import make_staff, sign_in

NAV = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)
FIRST_NAV = re.compile(r'<header class="site">.*?<nav aria-label="[^"]+">(.*?)</nav>', re.S)


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


def test_each_language_role_and_page_gets_its_own_menu(alice):
    """The menu is rendered once per process for each language, role and page
    (triage/base.html's {% cache %}): every one of them must still get its own."""
    admin = sign_in(Client(), make_staff("ada@example.org", "admin"))
    triager = sign_in(Client(), alice)
    for _ in range(2):  # the second time from the kept fragments
        assert '<a href="/triage/outbox/">Outbox</a>' in menu(triager)
        on_outbox = menu(triager, "/triage/outbox/")
        assert '<a href="/triage/outbox/" aria-current="page">Outbox</a>' in on_outbox
        assert 'aria-current="page">Inbox' not in on_outbox
        assert "/triage/templates/" not in menu(triager)
        assert '<a href="/triage/templates/">Message templates</a>' in menu(admin)
        for language, outbox in (("nl", "Uitgaande e-mail"), ("fr", "Boîte d\u2019envoi")):
            page = triager.get("/triage/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
            found = FIRST_NAV.search(page)
            assert found and f'<a href="/triage/outbox/">{outbox}</a>' in found[1]
