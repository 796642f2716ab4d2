"""The report life cycle, the assessment, and who may act on a report."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone, translation

from meldpunt.reports import lifecycle, messages
from meldpunt.reports.assessment import AssessmentError, assess
from meldpunt.reports.lifecycle import WorkflowError, transition
from meldpunt.reports.models import Event, Report, Resolution, State
from tests.conftest import make_staff, sign_in, submit

V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"  # 6.1, medium
V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"  # 9.3, critical


def url(report: Report, action: str) -> str:
    return f"/triage/reports/{report.uid}/{action}/"


@pytest.fixture
def report(db) -> Report:
    return submit(Client()).report


@pytest.fixture
def alice_client(alice: User) -> Client:
    return sign_in(Client(), alice)


def triaged(report: Report, user: User) -> Report:
    """A report past its first response, as the first-response tests make it."""
    assess(report, user, valid=True, in_scope=True, expected_fix_date=timezone.localdate())
    messages.send_first_response(report, user, "Confirmed.")
    return report


def test_it_moves_a_report_along_the_allowed_transitions(report, alice):
    triaged(report, alice)
    for state in (State.FIX_IN_PROGRESS, State.FIXED, State.PUBLISHED):
        transition(report, state, alice)
        assert Report.objects.get(pk=report.pk).state == state
    transition(report, State.CLOSED, alice, resolution=Resolution.RESOLVED)
    report.refresh_from_db()
    assert (report.state, report.resolution) == (State.CLOSED, Resolution.RESOLVED)


def test_it_refuses_a_forbidden_transition_and_changes_nothing(report, alice):
    with pytest.raises(WorkflowError, match="cannot go from “Received” to “Fixed”"):
        transition(report, State.FIXED, alice)
    with pytest.raises(WorkflowError, match="closed as one of"):
        transition(report, State.CLOSED, alice, resolution=Resolution.RESOLVED)
    with pytest.raises(WorkflowError, match="Only a closed report has a resolution"):
        transition(report, State.NEEDS_INFO, alice, resolution=Resolution.SPAM)
    report.refresh_from_db()
    assert report.state == State.RECEIVED
    assert not Event.objects.filter(report=report, kind="state_changed").exists()


def test_it_triages_a_report_only_by_the_first_response(report, alice):
    with pytest.raises(WorkflowError, match="first response"):
        transition(report, State.TRIAGED, alice)
    assert (State.TRIAGED, "") not in lifecycle.allowed_moves(report)


def test_it_closes_an_open_report_with_a_resolution_before_a_fix(report, alice):
    transition(report, State.NEEDS_INFO, alice)
    transition(report, State.CLOSED, alice, resolution=Resolution.WITHDRAWN)
    report.refresh_from_db()
    assert (report.state, report.resolution) == (State.CLOSED, Resolution.WITHDRAWN)


def test_it_records_each_transition_with_actor_and_time(report, alice):
    before = timezone.now()
    transition(report, State.NEEDS_INFO, alice)
    event = Event.objects.get(report=report, kind="state_changed")
    assert event.actor == "staff:alice@example.org"
    assert before <= event.created_at <= timezone.now()
    assert event.data == {"from": "received", "to": "needs_info", "resolution": ""}


def test_it_reopens_a_closed_report_as_a_new_event(report, alice):
    transition(report, State.CLOSED, alice, resolution=Resolution.SPAM)
    transition(report, State.RECEIVED, alice)
    report.refresh_from_db()
    assert (report.state, report.resolution) == (State.RECEIVED, "")
    kinds = list(Event.objects.filter(report=report).values_list("kind", flat=True))
    assert kinds == ["received", "state_changed", "reopened"]
    closed, reopened = Event.objects.filter(report=report).order_by("id")[1:]
    assert closed.data["resolution"] == "spam"  # history is kept as it was
    assert reopened.data == {
        "from": "closed",
        "to": "received",
        "resolution": "",
        "previous_resolution": "spam",
    }


def test_it_scores_and_stores_both_cvss_vectors(report, alice):
    changed = assess(
        report,
        alice,
        valid=True,
        in_scope=True,
        cvss31_vector=f"  {V31} ",
        cvss40_vector=V40,
        cwe="cwe-79",
        affected_asset="portal.example.org",
        assignee=alice,
    )
    report.refresh_from_db()
    assert report.cvss31_vector == V31
    assert report.cvss31_score == Decimal("6.1")
    assert report.cvss40_score == Decimal("9.3")
    assert report.severity == "critical"  # from the newer version
    assert report.cwe == "CWE-79"
    assert report.assignee == alice
    assert report.assessed_at is not None
    event = Event.objects.get(report=report, kind="assessed")
    assert event.actor == "staff:alice@example.org"
    assert set(event.data["fields"]) == set(changed)
    assert {"valid", "cvss31_vector", "cvss40_vector", "severity", "cwe"} <= set(changed)
    assert event.data["severity"] == "critical"
    assert event.data["assignee"] == "alice@example.org"


def test_it_takes_the_severity_from_cvss31_when_no_40_vector(report, alice):
    assess(report, alice, cvss31_vector=V31)
    report.refresh_from_db()
    assert (report.severity, report.cvss40_score) == ("medium", None)


def test_it_records_no_event_when_nothing_changed(report, alice):
    assess(report, alice, cwe="CWE-89")
    assert assess(report, alice, cwe="CWE-89") == []
    assert Event.objects.filter(report=report, kind="assessed").count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cvss31_vector", "AV:N/AC:L", "starts with “CVSS:3.1/”"),
        ("cvss31_vector", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "starts with"),
        (
            "cvss31_vector",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
            'Missing mandatory metrics "A"',
        ),
        ("cvss31_vector", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 'Unknown value "X"'),
        ("cvss40_vector", "CVSS:4.0/AV:N", "Missing mandatory metrics"),
        ("cvss40_vector", V31, "starts with “CVSS:4.0/”"),
        ("cwe", "XSS", "CWE-<number>"),
        ("cwe", "CWE-", "CWE-<number>"),
    ],
)
def test_it_refuses_a_bad_vector_or_cwe_and_says_what_is_wrong(
    report, alice, field, value, message
):
    with pytest.raises(AssessmentError, match=message) as refused:
        assess(report, alice, **{field: value})
    assert refused.value.field == field
    report.refresh_from_db()
    assert getattr(report, field) == ""
    assert report.assessed_at is None


def test_it_refuses_a_fix_date_in_the_past(report, alice):
    yesterday = timezone.localdate() - timedelta(days=1)
    with pytest.raises(AssessmentError, match="past"):
        assess(report, alice, expected_fix_date=yesterday)


def test_it_assigns_only_triagers_and_admins(report, alice, bob):
    with pytest.raises(AssessmentError, match="triager or an admin"):
        assess(report, alice, assignee=bob)


def test_it_saves_the_assessment_from_the_form(report, alice_client, alice):
    response = alice_client.post(
        url(report, "assess"),
        {
            "valid": "yes",
            "in_scope": "no",
            "cvss31_vector": V31,
            "cvss40_vector": "",
            "cwe": "CWE-79",
            "affected_asset": "portal",
            "assignee": "alice@example.org",
            "expected_fix_date": "",
        },
    )
    assert response.status_code == 303
    assert response["Location"] == f"/triage/reports/{report.uid}/"
    report.refresh_from_db()
    assert (report.valid, report.in_scope, report.assignee) == (True, False, alice)
    assert report.cvss31_score == Decimal("6.1")


def test_it_shows_the_form_errors_and_stores_nothing(report, alice_client):
    response = alice_client.post(
        url(report, "assess"),
        {"valid": "yes", "cvss31_vector": "CVSS:3.1/AV:Q", "cwe": "79"},
    )
    assert response.status_code == 400
    page = response.content.decode().replace("&#34;", "&quot;")  # the same quote, escaped
    assert "This CVSS 3.1 vector is not valid: Unknown value &quot;Q&quot;" in page
    assert "CWE-&lt;number&gt;" in page
    report.refresh_from_db()
    assert (report.valid, report.assessed_at) == (None, None)


def test_it_moves_a_report_through_the_form(report, alice_client):
    response = alice_client.post(url(report, "move"), {"move": "closed:spam"})
    assert response.status_code == 303
    report.refresh_from_db()
    assert (report.state, report.resolution) == (State.CLOSED, "spam")


def test_it_offers_only_allowed_moves_in_the_form(report, alice_client):
    response = alice_client.post(url(report, "move"), {"move": "fixed:"})
    assert response.status_code == 400
    assert Report.objects.get(pk=report.pk).state == State.RECEIVED


def test_it_shows_the_workflow_panel_to_triagers_only(report, alice_client, bob):
    page = alice_client.get(f"/triage/reports/{report.uid}/").content.decode()
    assert f'action="/triage/reports/{report.uid}/move/"' in page
    assert f'action="/triage/reports/{report.uid}/assess/"' in page
    assert f'action="/triage/reports/{report.uid}/compose/"' in page
    bob_page = sign_in(Client(), bob).get(f"/triage/reports/{report.uid}/").content.decode()
    assert 'id="workflow"' in bob_page
    assert "/move/" not in bob_page


ACTIONS = ["move", "assess", "first-response", "message", "duplicate"]


@pytest.mark.parametrize("action", ACTIONS)
def test_it_forbids_viewers_to_act(report, bob, action):
    response = sign_in(Client(), bob).post(url(report, action), {"move": "closed:spam"})
    assert response.status_code == 403
    assert Report.objects.get(pk=report.pk).state == State.RECEIVED


@pytest.mark.parametrize("action", ACTIONS)
def test_it_answers_404_for_an_unknown_report(alice_client, action):
    unknown = f"/triage/reports/{uuid.uuid4()}/{action}/"
    assert alice_client.post(unknown, {}).status_code == 404


@pytest.mark.parametrize("action", ACTIONS)
def test_it_answers_404_to_an_outsider(report, action):
    charlie = User.objects.create_user("charlie", password="x" * 20)
    response = sign_in(Client(), charlie).post(url(report, action), {"move": "closed:spam"})
    assert response.status_code == 404
    assert Report.objects.get(pk=report.pk).state == State.RECEIVED


@pytest.mark.parametrize("action", ACTIONS)
def test_it_sends_anonymous_users_to_sign_in(report, action):
    response = Client().post(url(report, action), {"move": "closed:spam"})
    assert response.status_code == 302
    assert response["Location"].startswith("/triage/login/")
    assert Report.objects.get(pk=report.pk).state == State.RECEIVED


# "duplicate" answers GET with its confirmation page (tests/test_duplicate_marking.py).
@pytest.mark.parametrize("action", [a for a in ACTIONS if a != "duplicate"])
def test_it_answers_405_to_get_on_actions(report, alice_client, action):
    assert alice_client.get(url(report, action)).status_code == 405


def test_it_requires_the_csrf_token(report, alice):
    client = sign_in(Client(enforce_csrf_checks=True), alice)
    assert client.post(url(report, "move"), {"move": "closed:spam"}).status_code == 403
    assert Report.objects.get(pk=report.pk).state == State.RECEIVED


def test_it_lets_an_admin_act_too(report):
    admin = make_staff("ada@example.org", "admin")
    response = sign_in(Client(), admin).post(url(report, "move"), {"move": "needs_info:"})
    assert response.status_code == 303


def test_it_names_states_in_the_staff_members_language(report, alice):
    with translation.override("nl"), pytest.raises(WorkflowError) as refused:
        transition(report, State.FIXED, alice)
    assert "“Ontvangen”" in str(refused.value) and "“Verholpen”" in str(refused.value)
