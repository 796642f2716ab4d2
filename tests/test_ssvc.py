"""SSVC beside CVSS (issue 19): the team answers the decision points, CISA's table decides."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from django.test import Client

from meldpunt.advisories import csaf, publishing
from meldpunt.api.tokens import issue_token
from meldpunt.reports import ssvc
from meldpunt.reports.assessment import AssessmentError, assess
from meldpunt.reports.models import Event, Report
from tests.advisory_cast import fixed, ready
from tests.conftest import sign_in, submit
from tests.test_one_severity import public_sees

JSON = "application/json"
POINTS = ("ssvc_exploitation", "ssvc_automatable", "ssvc_technical_impact", "ssvc_mission_impact")
TREE = "CISA Coordinator 2.0.3"


def answers(*values: str) -> dict[str, str]:
    return dict(zip(POINTS, values, strict=True))


# Rows of CISA's published table (cisa.gov SSVC guide, "CISA Coordinator" 2.0.3).
@pytest.mark.parametrize(
    ("values", "decision"),
    [
        (("none", "no", "partial", "low"), "track"),
        (("none", "no", "total", "high"), "track_star"),
        (("public_poc", "no", "total", "medium"), "track_star"),
        (("public_poc", "yes", "partial", "high"), "attend"),
        (("active", "no", "total", "medium"), "attend"),
        (("active", "yes", "partial", "low"), "attend"),
        (("active", "no", "total", "high"), "act"),
        (("active", "yes", "total", "medium"), "act"),
    ],
)
def test_the_table_gives_cisas_decisions(values: tuple[str, ...], decision: str) -> None:
    assert ssvc.decide(answers(*values)) == decision


def test_the_table_decides_every_combination_once_and_names_its_version() -> None:
    table = ssvc.table()
    assert (table.label, len(table.decisions)) == (TREE, 36)
    every = itertools.product(*([v.slug for v in p.values] for p in table.points))
    assert {ssvc.decide(answers(*combo)) for combo in every} == set(ssvc.DECISIONS)
    assert ssvc.DECISIONS == ("track", "track_star", "attend", "act")
    # Not decided until all four are answered.
    assert ssvc.decide(answers("active", "yes", "total", "")) == ""


def test_the_shipped_table_comes_from_the_certcc_package() -> None:
    data = json.loads(ssvc.TABLE.read_text(encoding="utf-8"))
    assert data["source"].startswith("certcc-ssvc 2026.10.0 (PyPI)")
    assert [p["id"] for p in data["decision_points"]] == [
        "ssvc:E:1.1.0",
        "ssvc:A:2.0.0",
        "ssvc:TI:1.0.0",
        "ssvc:MWI:1.0.0",
    ]


def test_an_assessment_stores_the_decision_and_records_only_decision_values(alice, rita):
    report = rita.report
    assess(report, alice, **answers("active", "yes", "total", "low"))
    assert (report.ssvc_decision, report.ssvc_tree) == ("attend", TREE)
    event = Event.objects.filter(report=report, kind="assessed").latest("pk")
    assert event.data["ssvc_decision"] == "attend"
    assert event.data["ssvc_exploitation"] == "active"
    assert event.data["ssvc_tree"] == TREE
    assert sorted(event.data["fields"]) == sorted([*POINTS, "ssvc_decision", "ssvc_tree"])
    # Clearing an answer clears the decision, and that is a change with its own event.
    assess(report, alice, ssvc_mission_impact="")
    assert (report.ssvc_decision, report.ssvc_tree) == ("", "")
    latest = Event.objects.filter(report=report, kind="assessed").latest("pk")
    assert latest.data["ssvc_decision"] == ""
    assert assess(report, alice, ssvc_mission_impact="") == []  # no change, no event


def test_an_unknown_answer_is_refused(alice, rita):
    with pytest.raises(AssessmentError) as refused:
        assess(rita.report, alice, ssvc_exploitation="rampant")
    assert refused.value.field == "ssvc_exploitation"
    assert Report.objects.get(pk=rita.report.pk).ssvc_exploitation == ""


def _form(**values: str) -> dict[str, str]:
    return {"valid": "", "in_scope": "", "cvss31_vector": "", "cvss40_vector": "", **values}


def test_the_desk_form_sets_the_points_and_the_report_page_shows_the_decision(alice, rita):
    client = sign_in(Client(), alice)
    url = f"/triage/reports/{rita.report.uid}/"
    page = client.get(url).content.decode()
    assert '<fieldset class="ssvc" id="ssvc-points">' in page
    assert 'name="ssvc_exploitation"' in page
    response = client.post(f"{url}assess/", _form(**answers("active", "no", "total", "high")))
    assert response.status_code == 303
    page = client.get(url).content.decode()
    facts = re.search(r'<dl class="facts" id="ssvc">(.*?)</dl>', page, re.S)
    assert facts, page
    assert '<strong class="ssvc ssvc-act" lang="en">Act</strong>' in facts.group(1)
    assert TREE in facts.group(1)
    assert "remediate as soon as possible" in facts.group(1)


def test_the_desk_form_refuses_an_unknown_answer(alice, rita):
    client = sign_in(Client(), alice)
    url = f"/triage/reports/{rita.report.uid}/assess/"
    response = client.post(url, _form(ssvc_automatable="maybe"))
    assert response.status_code == 400
    assert "Choose one of the listed answers." in response.content.decode()
    assert Report.objects.get(pk=rita.report.pk).ssvc_automatable == ""


def test_a_viewer_cannot_set_the_points(alice, bob, rita):
    url = f"/triage/reports/{rita.report.uid}/assess/"
    response = sign_in(Client(), bob).post(url, _form(**answers("active", "no", "total", "high")))
    assert response.status_code == 403
    token = issue_token(bob, "viewer")
    answer = Client(headers={"Authorization": f"Bearer {token}"}).patch(
        f"/api/v1/reports/{rita.report.uid}/assessment",
        {"ssvc_exploitation": "active"},
        content_type=JSON,
    )
    assert answer.status_code == 403
    assert Report.objects.get(pk=rita.report.pk).ssvc_exploitation == ""


def _decided(alice: Any, *values: str) -> Report:
    report = submit(Client()).report
    assess(report, alice, **answers(*values))
    return report


def test_the_inbox_shows_and_filters_the_decision(alice):
    act = _decided(alice, "active", "yes", "total", "high")
    track = _decided(alice, "none", "no", "partial", "low")
    undecided = submit(Client()).report
    client = sign_in(Client(), alice)
    page = client.get("/triage/", {"ssvc": "act"}).content.decode()
    assert act.reference in page
    assert track.reference not in page and undecided.reference not in page
    assert '<span class="ssvc ssvc-act" data-ssvc="act" lang="en">Act</span>' in page
    page = client.get("/triage/", {"ssvc": "unset"}).content.decode()
    assert undecided.reference in page
    assert act.reference not in page and track.reference not in page
    # An unknown value is named on the page and ignored, as for the other filters.
    assert client.get("/triage/", {"ssvc": "panic"}).status_code == 400


def api(user: Any, name: str = "ssvc") -> Client:
    return Client(headers={"Authorization": f"Bearer {issue_token(user, name)}"})


def test_the_api_sets_shows_and_filters_the_decision(alice, rita):
    client = api(alice)
    url = f"/api/v1/reports/{rita.report.uid}"
    etag = client.get(url)["ETag"]
    body = answers("public_poc", "yes", "partial", "high")
    answer = client.patch(f"{url}/assessment", body, content_type=JSON, headers={"If-Match": etag})
    assert answer.status_code == 200, answer.content
    assert (answer.json()["ssvc_decision"], answer.json()["ssvc_tree"]) == ("attend", TREE)
    detail = client.get(url).json()
    assert {name: detail[name] for name in POINTS} == body
    # The version read before is no longer current: 412, and nothing changes.
    late = client.patch(
        f"{url}/assessment",
        {"ssvc_exploitation": "active"},
        content_type=JSON,
        headers={"If-Match": etag},
    )
    assert (late.status_code, late.json()["code"]) == (412, "precondition_failed")
    other = submit(Client()).report
    listed = client.get("/api/v1/reports", {"ssvc_decision": "attend"}).json()
    assert [r["uid"] for r in listed] == [str(rita.report.uid)]
    assert listed[0]["ssvc_decision"] == "attend"
    assert client.get("/api/v1/reports", {"ssvc_decision": "act"}).json() == []
    undecided = client.get("/api/v1/reports", {"ssvc_decision": "none"}).json()
    assert [r["uid"] for r in undecided] == [str(other.uid)]
    assert client.get("/api/v1/reports", {"ssvc_decision": "panic"}).status_code == 422


def test_the_api_refuses_an_unknown_answer_with_422(alice, rita):
    answer = api(alice).patch(
        f"/api/v1/reports/{rita.report.uid}/assessment",
        {"ssvc_technical_impact": "catastrophic"},
        content_type=JSON,
    )
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid")
    assert answer.json()["detail"][0]["loc"] == ["body", "change", "ssvc_technical_impact"]
    assert Report.objects.get(pk=rita.report.pk).ssvc_technical_impact == ""


def test_an_advisory_carries_the_decision_into_its_page_and_a_valid_csaf_note(alice, rita):
    report = fixed(alice, rita)
    assess(report, alice, **answers("active", "yes", "total", "high"))
    advisory = ready(alice, report)
    words = (
        "Act (CISA Coordinator 2.0.3; Exploitation: Active, Automatable: Yes, "
        "Technical Impact: Total, Mission and Well-Being Impact: High)"
    )
    assert advisory.draft["ssvc"] == words  # prefilled from the report
    publishing.publish(advisory, summary="", user=alice, skip_review=True)
    advisory.refresh_from_db()
    page = Client().get(f"/advisories/{advisory.identifier}/").content.decode()
    assert f'<dd id="advisory-ssvc" lang="en">{words}</dd>' in page
    document = public_sees(advisory.identifier)["csaf"]
    assert csaf.validate(document) == []
    notes = document["vulnerabilities"][0]["notes"]
    assert {"category": "other", "title": "SSVC", "text": words} in notes


def test_an_advisory_leaves_the_decision_out_when_the_team_empties_it(alice, rita):
    report = fixed(alice, rita)
    assess(report, alice, **answers("active", "yes", "total", "high"))
    advisory = ready(alice, report)
    publishing.update_draft(advisory, {"ssvc": ""}, alice)
    publishing.publish(advisory, summary="", user=alice, skip_review=True)
    advisory.refresh_from_db()
    document = public_sees(advisory.identifier)["csaf"]
    assert csaf.validate(document) == []
    assert all(n["title"] != "SSVC" for n in document["vulnerabilities"][0]["notes"])
    page = Client().get(f"/advisories/{advisory.identifier}/").content.decode()
    assert "advisory-ssvc" not in page
