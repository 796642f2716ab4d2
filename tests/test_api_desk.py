"""The desk's actions through the API: assessment, notes, advisories, and If-Match versions."""

from __future__ import annotations

from typing import Any

from django.test import Client

from meldpunt.advisories.models import Advisory
from meldpunt.api.tokens import issue_token
from meldpunt.audit.models import AuditEntry
from meldpunt.reports.models import Report
from tests.advisory_cast import V31, fixed, ready

JSON = "application/json"


def api(token: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {token}"})


def patch(client: Client, url: str, body: dict[str, Any], **headers: str) -> Any:
    return client.patch(url, body, content_type=JSON, headers=headers)


def test_it_assesses_a_report_through_the_domain_rules(alice, rita):
    client = api(issue_token(alice, "assess"))
    url = f"/api/v1/reports/{rita.report.uid}"
    body = {"valid": True, "in_scope": True, "cvss31_vector": V31, "cwe": "cwe-79"}
    answer = patch(client, f"{url}/assessment", {**body, "assignee": alice.username})
    assert answer.status_code == 200, answer.content
    assert (answer.json()["severity"], answer.json()["cvss_score"]) == ("medium", 6.1)
    assert answer.json()["assignee"] == alice.username
    detail = client.get(url).json()
    assert (detail["cwe"], detail["cvss31_vector"], detail["valid"]) == ("CWE-79", V31, True)
    assert detail["events"][-1]["kind"] == "assessed"
    entry = AuditEntry.objects.filter(action="assessed").get()
    assert (entry.data["token"], entry.data["via"]) == ("assess", "api")


def test_it_refuses_an_assessment_the_domain_refuses(alice, rita):
    client = api(issue_token(alice, "assess"))
    url = f"/api/v1/reports/{rita.report.uid}/assessment"
    bad = patch(client, url, {"cwe": "seventy-nine"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid")
    assert bad.json()["detail"][0]["loc"] == ["body", "change", "cwe"]
    nobody = patch(client, url, {"assignee": "nobody@example.org"})
    assert nobody.status_code == 422
    assert Report.objects.get(pk=rita.report.pk).cwe == ""


def test_a_null_vector_or_cwe_clears_it(alice, rita):
    # Found by the stateful fuzz test: the schema allows null, and storing it was a 500.
    client = api(issue_token(alice, "assess"))
    url = f"/api/v1/reports/{rita.report.uid}/assessment"
    assert patch(client, url, {"cvss31_vector": V31, "cwe": "CWE-79"}).status_code == 200
    body = {"cvss31_vector": None, "cvss40_vector": None, "cwe": None}
    answer = patch(client, url, body)
    assert answer.status_code == 200, answer.content
    report = Report.objects.get(pk=rita.report.pk)
    assert (report.cvss31_vector, report.cvss40_vector, report.cwe) == ("", "", "")
    assert report.severity == ""


def test_it_adds_and_lists_internal_notes(alice, bob, rita, rita_client):
    client = api(issue_token(alice, "notes"))
    url = f"/api/v1/reports/{rita.report.uid}/notes"
    added = client.post(url, {"text": "Reproduced on staging."}, content_type=JSON)
    assert added.status_code == 201
    assert added.json()["author"] == alice.username
    listed = api(issue_token(bob, "read")).get(url).json()
    assert [n["text"] for n in listed] == ["Reproduced on staging."]
    assert "Reproduced on staging." not in rita_client.get("/status/").content.decode()
    refused = api(issue_token(bob, "read2")).post(url, {"text": "x"}, content_type=JSON)
    assert refused.status_code == 403


def test_it_answers_412_to_an_update_of_a_version_since_changed(alice, rita):
    client = api(issue_token(alice, "script a"))
    url = f"/api/v1/reports/{rita.report.uid}"
    read = client.get(url)
    etag = read["ETag"]
    assert etag.startswith('"') and len(etag) == 34
    first = patch(client, f"{url}/assessment", {"cwe": "CWE-79"}, **{"If-Match": etag})
    assert first.status_code == 200
    assert first["ETag"] != etag and first["ETag"] == client.get(url)["ETag"]
    # A second script still holding the old version is refused, and nothing changes.
    late = patch(client, f"{url}/assessment", {"cwe": "CWE-89"}, **{"If-Match": etag})
    assert (late.status_code, late.json()["code"]) == (412, "precondition_failed")
    state = client.post(
        f"{url}/state",
        {"to": "closed", "resolution": "spam"},
        content_type=JSON,
        headers={"If-Match": etag},
    )
    assert state.status_code == 412
    report = Report.objects.get(pk=rita.report.pk)
    assert (report.cwe, report.state) == ("CWE-79", "received")
    # Without If-Match the change is made (documented: the header is optional).
    assert patch(client, f"{url}/assessment", {"cwe": "CWE-89"}).status_code == 200


def test_it_drafts_updates_and_publishes_an_advisory_with_the_publish_scope(alice, rita):
    report = fixed(alice, rita)
    triager = api(issue_token(alice, "drafts"))
    started = triager.post(f"/api/v1/reports/{report.uid}/advisories")
    assert started.status_code == 201, started.content
    url = f"/api/v1/advisories/{started.json()['uid']}"
    etag = triager.get(url)["ETag"]
    changed = patch(triager, url, {"title": "XSS in search"}, **{"If-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["draft"]["title"] == "XSS in search"
    stale = patch(triager, url, {"title": "Other"}, **{"If-Match": etag})
    assert stale.status_code == 412
    body = {"skip_review": True}
    refused = triager.post(f"{url}/publish", body, content_type=JSON)
    assert (refused.status_code, refused.json()["code"]) == (403, "insufficient_scope")
    assert Advisory.objects.get().status == "draft"


def test_it_publishes_with_the_publish_scope_by_the_domain_rules(alice, rita):
    advisory = ready(alice, fixed(alice, rita))
    publisher = api(issue_token(alice, "release", scopes=["read", "publish"]))
    url = f"/api/v1/advisories/{advisory.uid}/publish"
    unready = publisher.post(url, {}, content_type=JSON)
    assert (unready.status_code, unready.json()["code"]) == (400, "workflow_refused")
    assert "review" in unready.json()["detail"]  # the domain's rule, as on the pages
    done = publisher.post(
        url, {"skip_review": True, "early_reason": "exploited"}, content_type=JSON
    )
    assert done.status_code == 200, done.content
    assert done.json()["status"] == "published"
    entry = AuditEntry.objects.filter(action="advisory_published").get()
    assert entry.data["token"] == "release"


def test_it_refuses_a_viewer_a_publication_whatever_the_token(bob, alice, rita):
    from meldpunt.api.models import ApiToken

    advisory = ready(alice, fixed(alice, rita))
    token = issue_token(bob, "viewer")
    ApiToken.objects.filter(user=bob).update(scopes=["read", "publish"])
    answer = api(token).post(
        f"/api/v1/advisories/{advisory.uid}/publish",
        {"skip_review": True, "early_reason": "exploited"},
        content_type=JSON,
    )
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")


def test_it_lists_and_downloads_the_finders_files(alice, bob, rita):
    from meldpunt.lib.uploads import IncomingFile
    from meldpunt.reports.services import add_message

    payload = IncomingFile("poc\u202egpj.html", "text/html", b"<script>alert(1)</script>")
    add_message(rita.report, "finder", "proof", [payload])
    reader = api(issue_token(bob, "read"))
    detail = reader.get(f"/api/v1/reports/{rita.report.uid}").json()
    (listed,) = detail["attachments"]
    assert listed["name"] == "pocgpj.html"  # no bidi override that disguises the type
    assert listed["size"] == 25 and listed["message_uid"]
    url = f"/api/v1/reports/{rita.report.uid}/attachments/{listed['uid']}"
    download = reader.get(url)
    assert download.status_code == 200
    assert download.getvalue() == b"<script>alert(1)</script>"
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"].startswith('attachment; filename="pocgpj.html"')
    assert download["Content-Security-Policy"] == "default-src 'none'; sandbox"
    event = Report.objects.get(pk=rita.report.pk).events.last()
    assert event is not None and event.kind == "attachment_downloaded"
    missing = reader.get(f"/api/v1/reports/{rita.report.uid}/attachments/{rita.report.uid}")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


def test_it_suggests_marks_and_unmarks_a_duplicate_with_the_message(alice, rita, rita_client):
    from tests.conftest import submit

    later = submit(Client())  # the same host and words as rita's
    client = api(issue_token(alice, "dupes"))
    url = f"/api/v1/reports/{rita.report.uid}"
    suggested = client.get(f"{url}/duplicate-suggestions").json()
    assert suggested[0]["reference"] == later.report.reference
    assert suggested[0]["similarity"] == 100
    marked = client.post(
        f"{url}/state",
        {
            "to": "closed",
            "resolution": "duplicate",
            "duplicate_of": later.report.reference,
            "message": "Someone told us first.",
        },
        content_type=JSON,
    )
    assert marked.status_code == 200, marked.content
    assert "Someone told us first." in rita_client.get("/status/").content.decode()
    reopened = client.post(f"{url}/state", {"to": "received"}, content_type=JSON)
    assert reopened.status_code == 200
    report = Report.objects.get(pk=rita.report.pk)
    assert (report.state, report.duplicate_of_id) == ("received", None)
    kinds = [e.kind for e in later.report.events.all()]
    assert kinds[-2:] == ["duplicate_linked", "duplicate_unlinked"]
