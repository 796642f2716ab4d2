"""The staff API: tokens, the same permission rules as the pages, and its OpenAPI document."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from meldpunt.api.api import api as staff_api
from meldpunt.api.models import ApiToken
from meldpunt.api.tokens import issue_token
from meldpunt.reports.models import Report
from tests.conftest import submit


def api(token: str | None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(headers=headers)


@pytest.fixture
def alice_api(alice) -> Client:
    return api(issue_token(alice, "tests"))


def test_it_refuses_requests_without_a_valid_token(rita):
    assert api(None).get("/api/v1/reports").status_code == 401
    assert api("mp_not-a-real-token").get("/api/v1/reports").status_code == 401
    assert api(f"mp_{'x' * 43}").get(f"/api/v1/reports/{rita.report.uid}").status_code == 401


def test_it_stores_only_a_hash_of_the_token(alice):
    token = issue_token(alice, "ci")
    stored = ApiToken.objects.get(user=alice)
    assert token.encode() not in bytes(stored.digest)
    assert len(bytes(stored.digest)) == 32


def test_it_refuses_a_revoked_token(alice, rita):
    token = issue_token(alice, "old")
    ApiToken.objects.update(revoked_at=timezone.now())
    assert api(token).get("/api/v1/reports").status_code == 401


def test_it_lists_reports_by_deadline_without_decrypting(alice_api, db):
    first, second = submit(Client()), submit(Client())
    Report.objects.filter(pk=second.report.pk).update(
        response_due_at=timezone.now() - timedelta(hours=1)
    )
    rows = alice_api.get("/api/v1/reports").json()
    assert [r["reference"] for r in rows] == [second.report.reference, first.report.reference]
    assert rows[0]["overdue"] is True and rows[1]["overdue"] is False
    assert "description" not in rows[0]


def test_it_filters_and_searches(alice_api, db):
    web = submit(Client(), affected_systems="https://shop.example.org/cart")
    other = submit(Client(), affected_systems="198.51.100.4")
    found = alice_api.get("/api/v1/reports", {"q": "shop.example.org"}).json()
    assert [r["reference"] for r in found] == [web.report.reference]
    by_ref = alice_api.get("/api/v1/reports", {"q": other.report.reference}).json()
    assert [r["uid"] for r in by_ref] == [str(other.report.uid)]
    assert alice_api.get("/api/v1/reports", {"q": "nothing.example.net"}).json() == []
    assert alice_api.get("/api/v1/reports", {"state": "closed"}).json() == []
    assert len(alice_api.get("/api/v1/reports", {"overdue": "false"}).json()) == 2
    assert (
        alice_api.get("/api/v1/reports", {"limit": 0}).status_code == 422
    )  # refused by the documented bounds


def test_it_reads_one_report_decrypted(alice_api, rita):
    body = alice_api.get(f"/api/v1/reports/{rita.report.uid}").json()
    assert body["description"] == "Reflected XSS in the q parameter."
    assert body["events"][0]["kind"] == "received"


def test_it_answers_404_for_an_unknown_report(alice_api, db):
    assert alice_api.get(f"/api/v1/reports/{uuid.uuid4()}").status_code == 404


def test_it_lets_a_viewer_read(bob, rita):
    assert (
        api(issue_token(bob, "read")).get(f"/api/v1/reports/{rita.report.uid}").status_code == 200
    )


def test_it_serves_its_openapi_document(db):
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/reports" in schema["paths"]
    assert schema["components"]["securitySchemes"] == {
        "TokenAuth": {"type": "http", "scheme": "bearer"}
    }


def test_its_docs_page_is_the_desks_not_ninjas(db):
    # ninja's own page (open to all, Swagger from a CDN) stays off; ours is
    # tests/test_api_docs.py: staff only, our static files, our policy.
    assert staff_api.docs_url is None
    assert Client().get("/api/v1/docs").status_code == 302


def test_it_changes_state_with_the_workflow_rules(alice_api, rita):
    url = f"/api/v1/reports/{rita.report.uid}/state"
    refused = alice_api.post(url, {"to": "fixed"}, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["detail"]
    closed = alice_api.post(
        url, {"to": "closed", "resolution": "spam"}, content_type="application/json"
    )
    assert closed.status_code == 200
    assert closed.json()["state"] == "closed"
    assert Report.objects.get(pk=rita.report.pk).resolution == "spam"


def test_it_marks_a_duplicate_by_reference(alice_api, rita):
    later = submit(Client())
    response = alice_api.post(
        f"/api/v1/reports/{later.report.uid}/state",
        {"to": "closed", "resolution": "duplicate", "duplicate_of": rita.report.reference},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert Report.objects.get(pk=later.report.pk).duplicate_of_id == rita.report.pk


def test_it_posts_a_message_the_finder_sees(alice_api, rita, rita_client):
    response = alice_api.post(
        f"/api/v1/reports/{rita.report.uid}/messages",
        {"text": "Thanks, we are looking into it."},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert "Thanks, we are looking into it." in rita_client.get("/status/").content.decode()


def test_it_refuses_a_first_response_without_an_assessment(alice_api, rita):
    response = alice_api.post(
        f"/api/v1/reports/{rita.report.uid}/messages",
        {"text": "Hello", "first_response": True},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert Report.objects.get(pk=rita.report.pk).first_response_at is None


def test_it_does_not_let_a_viewer_change_anything(bob, rita):
    viewer = api(issue_token(bob, "read"))
    url = f"/api/v1/reports/{rita.report.uid}"
    body = {"to": "closed", "resolution": "spam"}
    assert viewer.post(f"{url}/state", body, content_type="application/json").status_code == 403
    message = {"text": "x"}
    assert (
        viewer.post(f"{url}/messages", message, content_type="application/json").status_code == 403
    )
    assert Report.objects.get(pk=rita.report.pk).state == "received"


def test_it_answers_json_to_a_server_error(alice_api, rita, caplog):
    # A sealed blob that no longer opens (damaged storage) is a genuine server error.
    Report.objects.filter(pk=rita.report.pk).update(content_blob=b"damaged")
    response = alice_api.get(f"/api/v1/reports/{rita.report.uid}")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json() == {"code": "server_error", "detail": "Internal server error"}
    assert "api GET api/v1/reports/<uid> failed: DecryptionError" in caplog.text


def test_it_answers_json_to_an_unknown_path_and_a_wrong_method(alice_api, rita):
    unknown = alice_api.get("/api/v1/nothing/here")
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"code": "not_found", "detail": "Not Found"},
    )
    wrong = alice_api.delete(f"/api/v1/reports/{rita.report.uid}")
    assert (wrong.status_code, wrong.json()) == (
        405,
        {"code": "method_not_allowed", "detail": "Method not allowed"},
    )
    assert wrong["Allow"] == "GET"


@pytest.mark.parametrize("text", ["", "  \n "])
def test_it_refuses_an_empty_message_by_its_schema(alice_api, rita, text):
    response = alice_api.post(
        f"/api/v1/reports/{rita.report.uid}/messages",
        {"text": text},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "new", "text"]
    assert not rita.report.messages.exists()


def test_it_documents_the_answers_every_operation_can_give(db):
    schema = Client().get("/api/v1/openapi.json").json()
    operations = [op for path in schema["paths"].values() for op in path.values()]
    assert len(operations) >= 4
    for operation in operations:
        assert {"401", "422", "500"} <= set(operation["responses"]), operation["operationId"]
    text = schema["components"]["schemas"]["NewMessage"]["properties"]["text"]
    assert (text["minLength"], text["maxLength"], text["pattern"]) == (1, 50_000, r"\S")


def test_it_names_every_error_with_a_code(alice_api, bob, rita):
    url = f"/api/v1/reports/{rita.report.uid}"
    assert api(None).get("/api/v1/reports").json()["code"] == "unauthorized"
    assert alice_api.get(f"/api/v1/reports/{uuid.uuid4()}").json() == {
        "code": "not_found",
        "detail": "Not Found",
    }
    viewer = api(issue_token(bob, "read"))
    # A viewer's token from before scopes holds triage: the role still refuses.
    ApiToken.objects.filter(user=bob).update(scopes=["read", "triage"])
    refused = viewer.post(f"{url}/state", {"to": "closed"}, content_type="application/json")
    assert refused.json()["code"] == "forbidden"
    bad = alice_api.post(f"{url}/state", {"to": "fixed"}, content_type="application/json")
    assert bad.json()["code"] == "workflow_refused"
    unknown = alice_api.post(
        f"{url}/state",
        {"to": "closed", "resolution": "duplicate", "duplicate_of": "MP-1999-0001"},
        content_type="application/json",
    )
    assert unknown.json()["code"] == "unknown_reference"
    invalid = alice_api.post(f"{url}/messages", {"text": ""}, content_type="application/json")
    assert invalid.json()["code"] == "invalid"
    assert invalid.json()["detail"][0]["loc"] == ["body", "new", "text"]


def test_it_answers_in_english_unless_the_client_asks(alice_api, rita):
    url = f"/api/v1/reports/{rita.report.uid}/state"
    english = alice_api.post(url, {"to": "fixed"}, content_type="application/json")
    assert english.json()["detail"].startswith("A report cannot go from")
    assert english["Content-Language"] == "en"
    dutch = alice_api.post(
        url, {"to": "fixed"}, content_type="application/json", headers={"Accept-Language": "nl"}
    )
    assert dutch.json()["code"] == "workflow_refused"
    assert dutch.json()["detail"].startswith("Een melding kan niet van")
    assert dutch["Content-Language"] == "nl"


def test_it_does_not_take_the_language_from_a_browser_cookie(alice_api, rita):
    alice_api.cookies["django_language"] = "nl"
    response = alice_api.post(
        f"/api/v1/reports/{rita.report.uid}/state", {"to": "fixed"}, content_type="application/json"
    )
    assert response.json()["detail"].startswith("A report cannot go from")


@pytest.mark.parametrize(("name", "value"), [("state", "bogus"), ("severity", "urgent")])
def test_it_refuses_an_unknown_filter_value_naming_the_allowed(alice_api, rita, name, value):
    response = alice_api.get("/api/v1/reports", {name: value})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    problem = body["detail"][0]
    assert (problem["loc"], problem["type"], problem["input"]) == (["query", name], "enum", value)
    expected = ["received", "closed"] if name == "state" else ["low", "critical"]
    assert set(expected) <= set(problem["ctx"]["allowed"])
    assert all(word in problem["msg"] for word in expected)


def test_it_keeps_the_inbox_and_the_api_on_one_rule(db):
    from meldpunt.reports.filters import ReportFilter, UnknownFilterValue

    with pytest.raises(UnknownFilterValue):
        ReportFilter(states=("bogus",))
    assert ReportFilter(states=("closed",), severity="").states == ("closed",)


def test_it_lists_enums_and_error_codes_in_its_openapi_document(db):
    schema = Client().get("/api/v1/openapi.json").json()
    parameters = schema["paths"]["/api/v1/reports"]["get"]["parameters"]
    by_name = {p["name"]: p["schema"] for p in parameters}
    assert "bogus" not in by_name["state"]["enum"]
    assert {"received", "closed"} <= set(by_name["state"]["enum"])
    assert {"low", "critical"} <= set(by_name["severity"]["enum"])
    components = schema["components"]["schemas"]
    summary = components["ReportSummary"]["properties"]
    for field in ("state", "resolution", "category", "severity"):
        assert summary[field]["enum"], field
    codes = components["Problem"]["properties"]["code"]["enum"]
    assert {"not_found", "unauthorized", "forbidden", "workflow_refused"} <= set(codes)
    assert "not_found" in schema["info"]["description"]


def test_the_list_answers_what_its_validated_schema_would(alice_api, alice, db):
    """The list renders its summaries without validating them again: what it sends must be
    byte for byte what ninja would send after validating each as a ReportSummary."""
    import json

    from django.http import HttpRequest

    from meldpunt.api.api import ReportSummary, _summary
    from meldpunt.reports.models import Tag
    from meldpunt.reports.tags import tag_names_of

    reports = [submit(Client()).report for _ in range(4)]
    now = timezone.now()
    Report.objects.filter(pk=reports[0].pk).update(
        assignee=alice, severity="critical", first_response_at=now, scope_verdict="unknown",
        cvss31_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", ssvc_decision="act",
        ssvc_tree="CISA Coordinator 2.0.3", low_value_rule="no_impact",
    )  # fmt: skip
    Report.objects.filter(pk=reports[1].pk).update(state="closed", resolution="invalid")
    Report.objects.filter(pk=reports[2].pk).update(
        cvss40_vector="CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        response_due_at=now - timedelta(days=3),
    )
    reports[0].tags.add(Tag.objects.create(name="web"), Tag.objects.create(name="auth"))
    response = alice_api.get("/api/v1/reports")
    assert response.status_code == 200
    loaded = Report.objects.select_related("assignee").order_by("response_due_at", "pk")
    names = tag_names_of([r.pk for r in loaded])
    validated = [
        ReportSummary.model_validate(_summary(r, now, names.get(r.pk, []))).model_dump()
        for r in loaded
    ]
    expected = staff_api.renderer.render(HttpRequest(), validated, response_status=200)
    assert json.loads(response.content) == json.loads(expected)
    assert response.content == (expected.encode() if isinstance(expected, str) else expected)
    assert [list(item) for item in response.json()] == [list(ReportSummary.model_fields)] * 4
    by_reference = {item["reference"]: item for item in response.json()}
    assert by_reference[reports[0].reference]["cvss_score"] == 9.8
    assert by_reference[reports[0].reference]["tags"] == ["auth", "web"]
    assert by_reference[reports[2].reference]["cvss_version"] == "4.0"


def test_the_lists_json_times_are_the_encoders_in_every_zone():
    """The list writes its uids and times once per value (kept): equal moments in two zones
    are equal keys, and must still be written each with its own offset."""
    import uuid as uuid_module
    from datetime import UTC, datetime
    from datetime import timezone as fixed_zone

    from django.core.serializers.json import DjangoJSONEncoder

    from meldpunt.api.api import _as_json

    moment = datetime(2026, 12, 6, 17, 38, 26, 123456, tzinfo=UTC)
    uid = uuid_module.uuid4()
    for zone in (UTC, fixed_zone(timedelta(hours=1)), UTC):
        local = moment.astimezone(zone)
        summary = {
            "uid": uid, "created_at": local, "response_due_at": local, "first_response_at": None
        }  # fmt: skip
        written = _as_json(summary)
        assert written["created_at"] == DjangoJSONEncoder().default(local)
        assert written["uid"] == str(uid) and written["first_response_at"] is None
    later = moment.astimezone(fixed_zone(timedelta(hours=1)))
    again = {"uid": uid, "created_at": later, "response_due_at": moment, "first_response_at": None}
    assert _as_json(again)["created_at"].endswith("+01:00")
