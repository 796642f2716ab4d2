"""Tags: admins define them, triagers put them on reports, the inbox shows and filters them."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from meldpunt.audit.models import AuditEntry
from meldpunt.reports.models import Event, Report, Tag
from tests.conftest import make_staff, sign_in, submit

LINK = re.compile(r'href="/triage/reports/([0-9a-f-]{36})/"')


@pytest.fixture
def ada(db) -> User:
    admin: User = make_staff("ada@example.org", "admin")
    return admin


@pytest.fixture
def tags(db) -> dict[str, Tag]:
    return {
        "auth": Tag.objects.create(name="auth", colour="red", description="Log-in flows"),
        "quick-win": Tag.objects.create(name="quick-win", colour="green"),
    }


def test_it_lets_an_admin_define_a_tag(ada):
    client = sign_in(Client(), ada)
    response = client.post(
        "/triage/tags/", {"name": "payments", "colour": "purple", "description": "Card data"}
    )
    assert response.status_code == 303
    tag = Tag.objects.get(name="payments")
    assert (tag.colour, tag.description) == ("purple", "Card data")
    page = client.get("/triage/tags/").content.decode()
    assert '<span class="chip chip-purple">payments</span>' in page
    assert AuditEntry.objects.filter(action="tag_created").exists()


def test_it_refuses_a_colour_outside_the_palette_and_a_duplicate_name(ada, tags):
    client = sign_in(Client(), ada)
    assert client.post("/triage/tags/", {"name": "x", "colour": "#ff00ff"}).status_code == 400
    assert client.post("/triage/tags/", {"name": "AUTH", "colour": "blue"}).status_code == 400
    assert Tag.objects.count() == 2


def test_it_lets_an_admin_rename_and_delete_a_tag(ada, tags, rita):
    client = sign_in(Client(), ada)
    rita.report.tags.add(tags["auth"])
    edit = f"/triage/tags/{tags['auth'].uid}/"
    assert client.post(edit, {"name": "login", "colour": "teal"}).status_code == 303
    assert Tag.objects.get(pk=tags["auth"].pk).name == "login"
    assert client.post(f"{edit}delete/").status_code == 303
    assert not Tag.objects.filter(name="login").exists()
    assert list(rita.report.tags.all()) == []


def test_it_keeps_the_tag_screen_for_admins(alice, bob, tags):
    for user in (alice, bob):
        client = sign_in(Client(), user)
        assert client.get("/triage/tags/").status_code == 403
        assert client.post("/triage/tags/", {"name": "x", "colour": "blue"}).status_code == 403
    assert Tag.objects.count() == 2


def test_it_puts_tags_on_and_off_from_the_report_page_each_as_an_event(alice, tags, rita):
    client = sign_in(Client(), alice)
    url = f"/triage/reports/{rita.report.uid}/"
    form = {"tags": [str(tags["auth"].uid), str(tags["quick-win"].uid)]}
    assert client.post(f"{url}tags/", form).status_code == 303
    assert {t.name for t in rita.report.tags.all()} == {"auth", "quick-win"}
    page = client.get(url).content.decode()
    assert 'data-tag="auth"' in page and "chip-red" in page
    assert client.post(f"{url}tags/", {"tags": [str(tags["auth"].uid)]}).status_code == 303
    assert [t.name for t in rita.report.tags.all()] == ["auth"]
    events = Event.objects.filter(report=rita.report, kind__startswith="tag_")
    assert [(e.kind, e.data["tag"], e.actor) for e in events] == [
        ("tag_added", "auth", "staff:alice@example.org"),
        ("tag_added", "quick-win", "staff:alice@example.org"),
        ("tag_removed", "quick-win", "staff:alice@example.org"),
    ]
    assert AuditEntry.objects.filter(action="tag_removed", report_ref=rita.report.reference)


def test_it_refuses_tagging_to_a_viewer(bob, tags, rita):
    client = sign_in(Client(), bob)
    url = f"/triage/reports/{rita.report.uid}/"
    assert client.post(f"{url}tags/", {"tags": [str(tags["auth"].uid)]}).status_code == 403
    assert list(rita.report.tags.all()) == []
    assert 'id="tags-form"' not in client.get(url).content.decode()


def test_it_shows_chips_in_the_inbox_and_filters_by_tag(alice, tags):
    tagged, other = submit(Client()).report, submit(Client()).report
    tagged.tags.add(tags["auth"])
    client = sign_in(Client(), alice)
    page = client.get("/triage/").content.decode()
    assert '<span class="chip chip-red" data-tag="auth">auth</span>' in page
    filtered = client.get("/triage/", {"tag": "auth"}).content.decode()
    assert LINK.findall(filtered) == [str(tagged.uid)]
    assert str(other.uid) not in filtered


def test_it_names_an_unknown_tag_filter_as_ignored(alice, tags, rita):
    response = sign_in(Client(), alice).get("/triage/", {"tag": "nope"})
    assert response.status_code == 400
    assert 'id="ignored"' in response.content.decode()


def test_it_escapes_a_tag_name(ada, rita):
    Tag.objects.create(name="<b>x</b>", colour="blue")
    Report.objects.get(pk=rita.report.pk).tags.add(Tag.objects.get())
    page = sign_in(Client(), ada).get("/triage/").content.decode()
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_the_links_are_indexed_by_tag_then_report(db):
    """A tag's reports are read from one index (tag, report) alone; the index Django made on
    the tag by itself is gone (migration reports 0016)."""
    from django.db import connection

    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, "reports_report_tags")
    indexes = [c["columns"] for c in found.values() if c["index"] and not c["unique"]]
    assert ["tag_id", "report_id"] in indexes
    assert ["tag_id"] not in indexes
