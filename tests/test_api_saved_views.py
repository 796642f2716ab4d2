"""Saved views through the API: create and delete by the desk's rules, on the audit log."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from meldpunt.accounts.staff import create_staff
from meldpunt.api.tokens import issue_token
from meldpunt.audit.models import AuditEntry
from meldpunt.reports.models import SavedView
from tests.conftest import PASSWORD, sign_in

JSON = "application/json"


def api(token: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {token}"})


def staff(email: str, role: str) -> User:
    user = create_staff(email, role, PASSWORD).user
    assert isinstance(user, User)
    return user


def test_the_api_creates_and_deletes_saved_views(alice, bob, rita):
    client = api(issue_token(alice, "views"))
    made = client.post(
        "/api/v1/saved-views",
        {"name": "Mine", "query": "state=triaged&severity=high&page=3", "shared": True},
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    view = made.json()
    assert view["query"] == "state=triaged&severity=high" and view["shared"] is True
    assert view["uid"] in {v["uid"] for v in client.get("/api/v1/saved-views").json()}
    assert AuditEntry.objects.filter(action="saved_view_created").count() == 1

    bad = client.post(
        "/api/v1/saved-views",
        {"name": "Bad", "query": "state=nonsense"},
        content_type="application/json",
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid"
    reader = api(issue_token(alice, "read", scopes=["read"]))
    refused = reader.post("/api/v1/saved-views", {"name": "R"}, content_type="application/json")
    assert refused.status_code == 403

    # Someone else's shared view: a triager may not delete it, an admin may.
    carl = staff("carl@example.org", "triager")
    other = api(issue_token(carl, "carl"))
    assert other.delete(f"/api/v1/saved-views/{view['uid']}").status_code == 403
    admin = staff("ada@example.org", "admin")
    missing = other.delete("/api/v1/saved-views/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert (
        api(issue_token(admin, "ada")).delete(f"/api/v1/saved-views/{view['uid']}").status_code
        == 204
    )
    assert client.get("/api/v1/saved-views").json() == []
    assert AuditEntry.objects.filter(action="saved_view_deleted").count() == 1


def test_the_api_checks_a_query_as_the_inbox_does(alice):
    client = api(issue_token(alice, "views"))
    for query in ("severity=extreme", "tag=nope", "assignee=nobody", "scope=sideways"):
        answer = client.post(
            "/api/v1/saved-views", {"name": "X", "query": query}, content_type=JSON
        )
        assert answer.status_code == 422, query
        assert answer.json()["code"] == "invalid"
    blank = client.post("/api/v1/saved-views", {"name": "  "}, content_type=JSON)
    assert blank.status_code == 422
    assert not SavedView.objects.exists()


def test_the_desk_writes_the_same_audit_entries(alice):
    desk = sign_in(Client(), alice)
    made = desk.post("/triage/views/", {"name": "Mine", "query": "state=triaged"})
    assert made.status_code == 303
    view = SavedView.objects.get()
    entry = AuditEntry.objects.get(action="saved_view_created")
    assert entry.data["view"] == str(view.uid)
    assert desk.post(f"/triage/views/{view.uid}/delete/").status_code == 303
    assert AuditEntry.objects.filter(action="saved_view_deleted").count() == 1
