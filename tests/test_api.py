"""The staff API: tokens, the same permission rules as the pages, and its OpenAPI document."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

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


def test_it_has_no_docs_page_that_would_load_a_cdn(db):
    assert Client().get("/api/v1/docs").status_code == 404


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
    assert response.json() == {"detail": "Internal server error"}
    assert "api GET api/v1/reports/<uid> failed: DecryptionError" in caplog.text


def test_it_answers_json_to_an_unknown_path_and_a_wrong_method(alice_api, rita):
    unknown = alice_api.get("/api/v1/nothing/here")
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Not Found"})
    wrong = alice_api.delete(f"/api/v1/reports/{rita.report.uid}")
    assert (wrong.status_code, wrong.json()) == (405, {"detail": "Method not allowed"})
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
