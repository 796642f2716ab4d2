"""Finding and marking duplicates; the first finder keeps the credit."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from meldpunt.reports import duplicates, lifecycle
from meldpunt.reports.duplicates import suggest_duplicates
from meldpunt.reports.lifecycle import WorkflowError, transition
from meldpunt.reports.messages import mark_duplicate
from meldpunt.reports.models import Event, Report, Resolution, State
from tests.conftest import sign_in, submit

SHOP = "https://shop.example.org/cart"
XSS = "Reflected XSS in the search field q of the shop lets an attacker steal sessions."


def report_about(host: str, description: str, **fields: Any) -> Report:
    return submit(Client(), affected_systems=host, description=description, **fields).report


@pytest.fixture
def alice_client(alice: User) -> Client:
    return sign_in(Client(), alice)


def test_it_suggests_reports_about_the_same_host_most_alike_first(db):
    alike = report_about(SHOP, XSS.replace("steal sessions", "take over accounts"))
    other_bug = report_about(f"{SHOP}\n192.0.2.7", "SQL injection in the order id parameter.")
    report_about("https://blog.example.org/", XSS)  # another host: never suggested
    report = report_about("https://shop.example.org/search", XSS)
    suggestions = suggest_duplicates(report)
    assert [s.report for s in suggestions] == [alike, other_bug]
    assert 0 < suggestions[1].similarity < suggestions[0].similarity < 1


def test_it_puts_the_newest_first_among_equally_alike_reports(db):
    older = report_about(SHOP, XSS)
    newer = report_about(SHOP, XSS)
    report = report_about(SHOP, XSS)
    assert [s.report for s in suggest_duplicates(report)] == [newer, older]
    assert {s.similarity for s in suggest_duplicates(report)} == {1.0}


def test_it_reads_a_bounded_number_of_candidates(db, monkeypatch):
    monkeypatch.setattr(duplicates, "MAX_CANDIDATES", 2)
    oldest = report_about(SHOP, XSS)
    report_about(SHOP, "Something else entirely.")
    report_about(SHOP, "And yet another thing.")
    report = report_about(SHOP, XSS)
    assert oldest not in [s.report for s in suggest_duplicates(report)]


def test_it_marks_a_duplicate_and_the_original_keeps_the_credit(alice):
    original = report_about(SHOP, XSS, name="Olga", credit="name")
    late = report_about(SHOP, XSS, name="Lars", credit="name")
    mark_duplicate(late, original, alice)
    late.refresh_from_db()
    original.refresh_from_db()
    assert (late.state, late.resolution, late.duplicate_of) == (
        State.CLOSED,
        Resolution.DUPLICATE,
        original,
    )
    assert original.state == State.RECEIVED
    # Nobody's preference changes; the finding is credited to the first report only.
    assert (original.credit, late.credit) == ("name", "name")
    assert lifecycle.earns_credit(original) and not lifecycle.earns_credit(late)
    assert lifecycle.credit_holder(late) == original
    closed = Event.objects.get(report=late, kind="state_changed")
    assert closed.data["duplicate_of"] == original.reference
    assert closed.actor == "staff:alice@example.org"
    linked = Event.objects.get(report=original, kind="duplicate_linked")
    assert linked.data == {"duplicate": late.reference}


def test_it_points_a_duplicate_of_a_duplicate_to_the_first_report(alice):
    first, second, third = (report_about(SHOP, XSS) for _ in range(3))
    mark_duplicate(second, first, alice)
    mark_duplicate(third, second, alice)
    assert Report.objects.get(pk=third.pk).duplicate_of == first


def test_it_refuses_a_report_as_its_own_duplicate(alice):
    first, second = report_about(SHOP, XSS), report_about(SHOP, XSS)
    with pytest.raises(WorkflowError, match="itself"):
        mark_duplicate(first, first, alice)
    mark_duplicate(second, first, alice)
    with pytest.raises(WorkflowError, match="its duplicate"):
        mark_duplicate(first, second, alice)
    assert Report.objects.get(pk=first.pk).state == State.RECEIVED


def test_it_needs_the_original_to_close_as_duplicate(alice):
    report = report_about(SHOP, XSS)
    with pytest.raises(WorkflowError, match="names the report it duplicates"):
        transition(report, State.CLOSED, alice, resolution=Resolution.DUPLICATE)


def test_it_unlinks_a_reopened_duplicate(alice):
    original, late = report_about(SHOP, XSS), report_about(SHOP, XSS)
    mark_duplicate(late, original, alice)
    transition(late, State.RECEIVED, alice)
    late.refresh_from_db()
    assert (late.duplicate_of, late.resolution) == (None, "")
    assert lifecycle.earns_credit(late)
    assert Event.objects.filter(report=original, kind="duplicate_unlinked").exists()


def test_it_marks_a_duplicate_by_reference_through_the_form(alice_client):
    original, late = report_about(SHOP, XSS), report_about(SHOP, XSS)
    asked = alice_client.get(
        f"/triage/reports/{late.uid}/duplicate/", {"original": original.reference.lower()}
    )
    assert asked.status_code == 200
    assert Report.objects.get(pk=late.pk).state == State.RECEIVED  # not before confirming
    response = alice_client.post(
        f"/triage/reports/{late.uid}/duplicate/",
        {"original": original.reference.lower(), "text": "A duplicate of an earlier report."},
    )
    assert response.status_code == 303
    assert Report.objects.get(pk=late.pk).duplicate_of == original


def test_it_no_longer_closes_with_one_click(alice_client):
    original, late = report_about(SHOP, XSS), report_about(SHOP, XSS)
    response = alice_client.post(
        f"/triage/reports/{late.uid}/duplicate/", {"original": original.reference}
    )
    assert response.status_code == 400
    assert Report.objects.get(pk=late.pk).state == State.RECEIVED


def test_it_refuses_an_unknown_reference(alice_client):
    report = report_about(SHOP, XSS)
    response = alice_client.post(
        f"/triage/reports/{report.uid}/duplicate/", {"original": "MP-1999-9999", "text": "Dup."}
    )
    assert response.status_code == 400
    assert "No report has this reference." in response.content.decode()
    assert Report.objects.get(pk=report.pk).state == State.RECEIVED


def test_it_shows_the_suggestions_in_the_workflow_panel(alice_client):
    original = report_about(SHOP, XSS)
    report = report_about(SHOP, XSS)
    page = html.unescape(alice_client.get(f"/triage/reports/{report.uid}/").content.decode())
    assert 'id="duplicate-suggestions"' in page
    assert f'name="original" value="{original.reference}"' in page
    assert "100% alike" in page
    mark_duplicate(report, original, User.objects.get(username="alice@example.org"))
    page = alice_client.get(f"/triage/reports/{original.uid}/").content.decode()
    assert f">{report.reference}</a>" in page  # the original lists its duplicates
