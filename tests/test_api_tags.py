"""Tags in the API: names on every report, a `tag` filter, the list of tags, setting them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from meldpunt.api.models import ApiToken
from meldpunt.api.tokens import issue_token
from meldpunt.reports.models import Event, Tag
from tests.conftest import submit


def api(token: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def alice_api(alice) -> Client:
    return api(issue_token(alice, "tests"))


@pytest.fixture
def tags(db) -> dict[str, Tag]:
    return {n: Tag.objects.create(name=n, colour="teal") for n in ("auth", "quick-win")}


def test_it_lists_the_tags(alice_api, tags):
    assert alice_api.get("/api/v1/tags").json() == [
        {"name": "auth", "colour": "teal", "description": ""},
        {"name": "quick-win", "colour": "teal", "description": ""},
    ]


def test_it_carries_tag_names_and_filters_by_tag(alice_api, tags):
    tagged, other = submit(Client()).report, submit(Client()).report
    tagged.tags.add(tags["auth"], tags["quick-win"])
    listed = {r["reference"]: r["tags"] for r in alice_api.get("/api/v1/reports").json()}
    assert listed == {tagged.reference: ["auth", "quick-win"], other.reference: []}
    found = alice_api.get("/api/v1/reports", {"tag": "auth"}).json()
    assert [r["reference"] for r in found] == [tagged.reference]
    assert alice_api.get(f"/api/v1/reports/{tagged.uid}").json()["tags"] == ["auth", "quick-win"]


def test_it_lists_tag_names_in_name_order_without_a_query_per_report(alice_api, tags):
    """The list fetches the names of all its reports' tags in one statement."""
    reports = [submit(Client()).report for _ in range(3)]
    for report in reports:
        report.tags.add(tags["quick-win"], tags["auth"])
    with CaptureQueriesContext(connection) as queries:
        listed = alice_api.get("/api/v1/reports").json()
    assert [r["tags"] for r in listed] == [["auth", "quick-win"]] * 3
    assert len([q for q in queries if "reports_report_tags" in q["sql"]]) == 1


def test_it_refuses_an_unknown_tag_filter_naming_the_tags(alice_api, tags, rita):
    response = alice_api.get("/api/v1/reports", {"tag": "nope"})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["query", "tag"]
    assert problem["ctx"]["allowed"] == ["auth", "quick-win"]


def test_it_sets_a_reports_tags_each_change_an_event(alice_api, tags, rita):
    url = f"/api/v1/reports/{rita.report.uid}/tags"
    response = alice_api.put(url, {"tags": ["auth"]}, content_type="application/json")
    assert response.status_code == 200 and response.json()["tags"] == ["auth"]
    response = alice_api.put(url, {"tags": ["quick-win"]}, content_type="application/json")
    assert response.json()["tags"] == ["quick-win"]
    kinds = Event.objects.filter(report=rita.report, kind__startswith="tag_")
    assert [(e.kind, e.data["tag"]) for e in kinds] == [
        ("tag_added", "auth"),
        ("tag_added", "quick-win"),
        ("tag_removed", "auth"),
    ]


def test_it_refuses_setting_an_unknown_tag_and_changes_nothing(alice_api, tags, rita):
    url = f"/api/v1/reports/{rita.report.uid}/tags"
    response = alice_api.put(url, {"tags": ["auth", "nope"]}, content_type="application/json")
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["input"] == "nope" and problem["ctx"]["allowed"] == ["auth", "quick-win"]
    assert list(rita.report.tags.all()) == []


def test_it_refuses_setting_tags_with_a_viewers_token(bob, tags, rita):
    url = f"/api/v1/reports/{rita.report.uid}/tags"
    # A viewer's own token reads only; a migrated token with triage still meets the role.
    token = issue_token(bob, "ro")
    for code in ("insufficient_scope", "forbidden"):
        response = api(token).put(url, {"tags": ["auth"]}, content_type="application/json")
        assert response.status_code == 403
        assert response.json()["code"] == code
        ApiToken.objects.filter(user=bob).update(scopes=["read", "triage"])  # as migrated
    assert list(rita.report.tags.all()) == []


def test_the_openapi_document_lists_the_tags_there_are(alice_api, tags):
    schema = Client().get("/api/v1/openapi.json").json()
    (param,) = [
        p for p in schema["paths"]["/api/v1/reports"]["get"]["parameters"] if p["name"] == "tag"
    ]
    assert param["schema"]["enum"] == ["auth", "quick-win"]


def test_the_list_loads_no_column_per_report(alice_api, alice, tags):
    """The list selects only the columns a summary shows; one reading a column it did not
    select would cost a statement per report: one report and four take the same."""
    from meldpunt.reports.models import Report

    def add() -> None:
        report = submit(Client()).report
        report.tags.add(tags["auth"])
        Report.objects.filter(pk=report.pk).update(
            assignee=alice, severity="high", ssvc_decision="act", low_value_rule="no_impact",
            cvss31_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        )  # fmt: skip

    def statements() -> int:
        with CaptureQueriesContext(connection) as queries:
            listed = alice_api.get("/api/v1/reports").json()
        assert all(
            r["assignee"] == alice.username and r["cvss_score"] == 9.8 and r["tags"] == ["auth"]
            for r in listed
        )
        return len(queries)

    add()
    statements()
    one = statements()
    for _ in range(3):
        add()
    assert statements() == one
