"""Bulk actions from the inbox: all or nothing, each report its own events, changers only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from meldpunt.audit.models import AuditEntry
from meldpunt.reports.models import Event, Message, OutboundMail, Report, State, Tag
from tests.conftest import make_staff, sign_in, submit


@pytest.fixture
def two(db) -> list[Report]:
    return [submit(Client(), email="rita@example.net").report for _ in range(2)]


def bulk(client: Client, reports: list[Report], **fields: Any) -> Any:
    return client.post("/triage/bulk/", {"reports": [str(r.uid) for r in reports], **fields})


def fresh(reports: list[Report]) -> list[Report]:
    return [Report.objects.get(pk=r.pk) for r in reports]


def test_it_offers_the_bulk_form_with_its_rule_to_changers_only(alice, bob, two):
    page = sign_in(Client(), alice).get("/triage/?state=all").content.decode()
    assert 'action="/triage/bulk/"' in page and 'name="csrfmiddlewaretoken"' in page
    assert f'name="reports" value="{two[0].uid}"' in page
    assert "nothing changes and the next page lists which reports refused" in page
    viewer = sign_in(Client(), bob).get("/triage/").content.decode()
    assert 'action="/triage/bulk/"' not in viewer and 'name="reports"' not in viewer


def test_it_refuses_a_viewer_with_403_and_changes_nothing(bob, alice, two):
    response = bulk(sign_in(Client(), bob), two, action="assign", assignee=alice.username)
    assert response.status_code == 403
    assert [r.assignee for r in fresh(two)] == [None, None]


def test_it_needs_the_csrf_token(alice, two):
    client = sign_in(Client(enforce_csrf_checks=True), alice)
    assert bulk(client, two, action="assign", assignee=alice.username).status_code == 403
    assert [r.assignee for r in fresh(two)] == [None, None]


def test_it_assigns_each_report_with_its_own_event(alice, two):
    carol = make_staff("carol@example.org", "triager")
    response = bulk(
        sign_in(Client(), alice), two, action="assign", assignee=carol.username, back="?state=all"
    )
    assert response.status_code == 303 and response["Location"] == "/triage/?state=all"
    assert [r.assignee for r in fresh(two)] == [carol, carol]
    for report in two:
        (event,) = Event.objects.filter(report=report, kind="assessed")
        assert event.data["assignee"] == "carol@example.org"
        assert event.actor == "staff:alice@example.org"
        assert AuditEntry.objects.filter(action="assessed", report_ref=report.reference).exists()


def test_it_refuses_to_assign_to_a_viewer(alice, bob, two):
    response = bulk(sign_in(Client(), alice), two, action="assign", assignee=bob.username)
    assert response.status_code == 400
    assert [r.assignee for r in fresh(two)] == [None, None]


def test_it_tags_and_untags_the_selected_reports(alice, two):
    tag = Tag.objects.create(name="spam-wave", colour="grey")
    client = sign_in(Client(), alice)
    assert bulk(client, two, action="tag", tag=str(tag.uid)).status_code == 303
    assert all(list(r.tags.all()) == [tag] for r in two)
    assert bulk(client, two[:1], action="untag", tag=str(tag.uid)).status_code == 303
    assert [r.tags.count() for r in two] == [0, 1]
    kinds = list(Event.objects.filter(kind__startswith="tag_").values_list("report", "kind"))
    assert kinds == [
        (two[0].pk, "tag_added"),
        (two[1].pk, "tag_added"),
        (two[0].pk, "tag_removed"),
    ]


def test_it_moves_every_report_when_all_allow_it(alice, two):
    response = bulk(sign_in(Client(), alice), two, action="move", move="needs_info:")
    assert response.status_code == 303
    assert [r.state for r in fresh(two)] == [State.NEEDS_INFO, State.NEEDS_INFO]
    assert Event.objects.filter(kind="state_changed").count() == 2


def test_it_changes_none_when_one_report_refuses_and_names_it(alice, two):
    Report.objects.filter(pk=two[1].pk).update(state=State.FIXED)
    response = bulk(sign_in(Client(), alice), two, action="move", move="needs_info:")
    assert response.status_code == 409
    page = response.content.decode()
    assert 'id="refusals"' in page and "Nothing was changed" in page
    assert f"<strong>{two[1].reference}</strong>" in page
    assert f"<strong>{two[0].reference}</strong>" not in page
    assert [r.state for r in fresh(two)] == [State.RECEIVED, State.FIXED]
    assert not Event.objects.filter(kind="state_changed").exists()


def test_it_refuses_triaging_without_a_first_response(alice, two):
    response = bulk(sign_in(Client(), alice), two, action="move", move="triaged:")
    assert response.status_code == 409
    assert "first response" in response.content.decode()
    assert [r.state for r in fresh(two)] == [State.RECEIVED, State.RECEIVED]


def test_it_closes_as_spam_with_a_message_of_its_own_to_each_finder(alice, two):
    response = bulk(
        sign_in(Client(), alice), two, action="close", resolution="spam", template="out_of_scope"
    )
    assert response.status_code == 303
    for report in fresh(two):
        assert (report.state, report.resolution) == (State.CLOSED, "spam")
        (message,) = Message.objects.filter(report=report, author="staff")
        assert f"your report {report.reference}" in message.body["text"]
        kinds = set(Event.objects.filter(report=report).values_list("kind", flat=True))
        assert {"state_changed", "message_sent"} <= kinds
        assert OutboundMail.objects.filter(report=report, kind="news").count() == 1


def test_it_closes_none_if_one_is_closed_already(alice, two):
    Report.objects.filter(pk=two[0].pk).update(state=State.CLOSED, resolution="invalid")
    response = bulk(
        sign_in(Client(), alice), two, action="close", resolution="spam", template="out_of_scope"
    )
    assert response.status_code == 409
    assert two[0].reference in response.content.decode()
    assert not Message.objects.filter(author="staff").exists()
    assert fresh(two)[1].state == State.RECEIVED


def test_it_says_what_is_missing(alice: User, two):
    client = sign_in(Client(), alice)
    assert client.post("/triage/bulk/", {"action": "assign"}).status_code == 400
    response = bulk(client, two, action="close", template="out_of_scope")
    assert response.status_code == 400 and 'id="bulk-errors"' in response.content.decode()


def test_it_goes_back_only_to_the_inbox(alice, two):
    response = bulk(
        sign_in(Client(), alice), two, action="move", move="needs_info:", back="//evil.example"
    )
    assert response["Location"] == "/triage/"


def test_its_menus_list_what_their_querysets_would(alice, bob, two):
    """The assignee and tag menus come from rows the inbox keeps while nothing changed; a
    choice is still checked against the querysets (assignable staff: no viewer)."""
    from django import forms

    from meldpunt.reports.assessment import assignable_staff
    from meldpunt.triage.bulk import BulkForm
    from meldpunt.triage.forms import StaffChoiceField

    make_staff("carol@example.org", "admin")
    Tag.objects.create(name="retest", colour="red")
    Tag.objects.create(name="auth", colour="blue")
    form = BulkForm()
    staff = StaffChoiceField(queryset=assignable_staff(), to_field_name="username")
    tags = forms.ModelChoiceField(queryset=Tag.objects.all(), to_field_name="uid")

    def shown(field: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in field.choices]

    assert shown(form.fields["assignee"]) == shown(staff)
    assert shown(form.fields["tag"]) == shown(tags)
    assert "bob@example.org" not in str(shown(form.fields["assignee"]))
    assert [label for _, label in shown(tags)][1:] == ["auth", "retest"]
