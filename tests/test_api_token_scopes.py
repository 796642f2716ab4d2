"""API tokens carry scopes and may expire; every write through one names it in the audit log."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from meldpunt.api.models import ApiToken
from meldpunt.api.tokens import ScopeRefused, issue_token
from meldpunt.audit.models import AuditEntry
from meldpunt.reports.models import Report
from tests.conftest import make_staff


def api(token: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {token}"})


def close(client: Client, report: Report) -> Any:
    return client.post(
        f"/api/v1/reports/{report.uid}/state",
        {"to": "closed", "resolution": "spam"},
        content_type="application/json",
    )


def test_it_refuses_a_write_to_a_token_without_the_triage_scope(alice, rita):
    reader = api(issue_token(alice, "dashboard", scopes=["read"]))
    assert reader.get(f"/api/v1/reports/{rita.report.uid}").status_code == 200
    response = close(reader, rita.report)
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert "triage" in response.json()["detail"]
    assert Report.objects.get(pk=rita.report.pk).state == "received"


def test_it_refuses_a_read_to_a_token_without_the_read_scope(alice, rita):
    writer = api(issue_token(alice, "closer", scopes=["triage"]))
    response = writer.get("/api/v1/reports")
    assert (response.status_code, response.json()["code"]) == (403, "insufficient_scope")
    assert close(writer, rita.report).status_code == 200


def test_it_refuses_an_expired_token(alice, rita):
    token = issue_token(alice, "short", expires_at=timezone.now() + timedelta(hours=1))
    assert api(token).get("/api/v1/reports").status_code == 200
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api(token).get("/api/v1/reports")
    assert (response.status_code, response.json()["code"]) == (401, "unauthorized")


def test_it_refuses_a_revoked_token_with_401(alice, rita):
    token = issue_token(alice, "old")
    ApiToken.objects.update(revoked_at=timezone.now())
    assert close(api(token), rita.report).status_code == 401


def test_it_records_when_a_token_was_last_used(alice, db):
    token = issue_token(alice, "ci")
    assert ApiToken.objects.get().last_used_at is None
    api(token).get("/api/v1/reports")
    assert ApiToken.objects.get().last_used_at is not None


def test_it_writes_the_last_used_time_at_most_once_a_minute(alice, db):
    """A script calling many times a second costs no write per call; a minute later the
    time moves again, so the token page's minute stays right."""
    token = issue_token(alice, "ci")
    client = api(token)
    assert client.get("/api/v1/reports").status_code == 200
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/reports").status_code == 200
    assert not [q for q in queries if q["sql"].startswith("UPDATE")]
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(seconds=61))
    assert client.get("/api/v1/reports").status_code == 200
    moved = ApiToken.objects.get().last_used_at
    assert moved is not None and moved > timezone.now() - timedelta(seconds=5)


def test_it_names_the_token_in_the_audit_log_of_every_write(alice, rita):
    close(api(issue_token(alice, "tracker sync")), rita.report)
    entry = AuditEntry.objects.get(action="state_changed")
    assert entry.data["via"] == "api"
    assert entry.data["token"] == "tracker sync"
    assert entry.actor == f"staff:{alice.pk}"
    # A later write from the pages carries no token.
    from meldpunt.audit.log import append

    assert "token" not in append("login", f"staff:{alice.pk}").data


def test_it_gives_a_token_no_scope_the_role_could_not_use(alice, bob, db):
    with pytest.raises(ScopeRefused):
        issue_token(alice, "x", scopes=["admin"])  # alice is a triager
    with pytest.raises(ScopeRefused):
        issue_token(bob, "x", scopes=["triage"])  # bob only reads
    with pytest.raises(ScopeRefused):
        issue_token(alice, "x", scopes=["everything"])
    issue_token(make_staff("ada@example.org", "admin"), "ops", scopes=["read", "admin"])
    assert ApiToken.objects.get(name="ops").scopes == ["read", "admin"]


def test_its_migration_lets_existing_tokens_read_and_triage(alice, rita):
    token = issue_token(alice, "from before", scopes=["read"])
    import_module("meldpunt.api.migrations.0002_token_scopes").read_and_triage(apps, None)
    assert ApiToken.objects.get().scopes == ["read", "triage"]
    assert close(api(token), rita.report).status_code == 200


def test_its_command_gives_scopes_and_an_expiry(alice):
    import io

    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command("createtoken", alice.username, name="ci", scope=["read"], days=7, stdout=out)
    token = ApiToken.objects.get()
    assert token.scopes == ["read"] and token.expires_at is not None
    assert "mp_" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("createtoken", alice.username, name="x", scope=["admin"], stdout=out)


def test_an_admin_token_lists_and_revokes_tokens(alice, db):
    ada = make_staff("ada@example.org", "admin")
    admin = api(issue_token(ada, "ops", scopes=["read", "admin"]))
    leaked = issue_token(alice, "leaked")
    listed = admin.get("/api/v1/tokens").json()
    assert {t["name"] for t in listed} == {"ops", "leaked"}
    assert all("digest" not in t and "mp_" not in str(t) for t in listed)
    uid = next(t["uid"] for t in listed if t["name"] == "leaked")
    assert admin.delete(f"/api/v1/tokens/{uid}").status_code == 200
    assert api(leaked).get("/api/v1/reports").status_code == 401
    assert admin.delete(f"/api/v1/tokens/{uid}").status_code == 404  # already revoked
    # Without the admin scope: 403, whatever the role.
    plain = api(issue_token(ada, "plain", scopes=["read"]))
    answer = plain.get("/api/v1/tokens")
    assert (answer.status_code, answer.json()["code"]) == (403, "insufficient_scope")
