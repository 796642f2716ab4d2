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
    assert alice_api.get("/api/v1/reports", {"limit": 0}).status_code == 400


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
