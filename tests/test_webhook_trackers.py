"""Issue-tracker endpoints: the real request to a local GitHub, GitLab or Jira stand-in.

Each request the worker's delivery path makes is captured by a local HTTP server and its body
validated against the vendor's published schema (tests/fixtures/tracker-schemas, README there).
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.test import Client
from django.utils import timezone

from meldpunt.reports import assessment, lifecycle, messages
from meldpunt.reports.models import Report, Resolution, State
from meldpunt.webhooks import delivery, endpoints
from meldpunt.webhooks.models import Attempt, Delivery, Endpoint, TrackerIssue
from tests.conftest import make_staff, sign_in, submit
from tests.webhook_receiver import Receiver, receiver

SCHEMAS = Path(__file__).parent / "fixtures" / "tracker-schemas"
TOKEN = "tok_Sup3rS3cret-0123456789abcdef"
TITLE = "Reflected XSS in the q parameter."
# What the finder wrote or who they are: never in an issue.
LEAKS = ["Reflected XSS", "search?q=", "Session theft", "portal.example.org", "Rita", "rita@"]

# Each tracker: its API path, the answer to a created issue and what Meldpunt shows for it.
TRACKERS: dict[str, dict[str, Any]] = {
    "github": {
        "path": "/repos/acme/web/issues",
        "answer": {"number": 1347, "html_url": "https://github.com/acme/web/issues/1347"},
        "shown": ("#1347", "https://github.com/acme/web/issues/1347"),
    },
    "gitlab": {
        "path": "/api/v4/projects/42/issues",
        "answer": {"iid": 12, "web_url": "https://gitlab.example.org/acme/web/-/issues/12"},
        "shown": ("#12", "https://gitlab.example.org/acme/web/-/issues/12"),
    },
    "jira": {
        "path": "/rest/api/3/issue",
        "answer": {"id": "10000", "key": "SEC-24", "self": "https://x/rest/api/3/issue/10000"},
        "shown": ("SEC-24", None),  # the browse link is on the endpoint's own host
    },
}


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` as JSON Schema: null is one more allowed type."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_to_jsonschema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def schema(vendor: str) -> dict[str, Any]:
    loaded = json.loads((SCHEMAS / f"{vendor}.json").read_text())
    return _openapi_to_jsonschema(loaded)  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _loopback_allowed(settings: Any) -> None:
    # The stand-ins run on 127.0.0.1; test_webhook_ssrf.py proves it is refused by default.
    settings.MELDPUNT_WEBHOOK_ALLOW_PRIVATE = True


def reply_for(vendor: str) -> Any:
    def reply(status: int, count: int) -> bytes:
        if status == 401:
            return json.dumps({"message": "Bad credentials"}).encode()
        if status >= 300:
            return b"down"
        return json.dumps(TRACKERS[vendor]["answer"]).encode()

    return reply


def add(vendor: str, hook: Receiver, *, trusted: bool = False, **extra: str) -> Endpoint:
    ada = make_staff(f"ada{Endpoint.objects.count()}@example.org", "admin")
    config = {"token": TOKEN}
    if vendor == "jira":
        config |= {"project_key": "SEC", "issue_type": "Task", "email": "desk@example.org"}
    config |= extra
    url = f"http://127.0.0.1:{hook.port}{TRACKERS[vendor]['path']}"
    endpoint, _secret = endpoints.create(
        ada, name=f"{vendor} desk", url=url, kinds=[], format=vendor, trusted=trusted,
        tracker=config,
    )  # fmt: skip
    return endpoint


def triage(report: Report, who: Any) -> None:
    """A report is assessed, then triaged by its first response (the life cycle's rules)."""
    fix = timezone.localdate() + timedelta(days=30)
    assessment.assess(report, who, valid=True, in_scope=True, expected_fix_date=fix)
    messages.send_first_response(report, who, "Confirmed, thank you.")
    assert report.state == State.TRIAGED


def retriage(report: Report, who: Any) -> None:
    """Closed, re-opened and triaged again: the second triage of the same report."""
    lifecycle.transition(report, State.CLOSED, who, resolution=Resolution.INVALID)
    lifecycle.transition(report, State.RECEIVED, who)
    lifecycle.transition(report, State.TRIAGED, who)


def submitted(**fields: Any) -> Report:
    fields = {"name": "Rita Finder", "email": "rita@example.net", **fields}
    return submit(Client(), **fields).report


@pytest.mark.parametrize("vendor", sorted(TRACKERS))
def test_triage_creates_one_issue_with_the_vendors_request(db: Any, vendor: str) -> None:
    alice = make_staff("alice@example.org", "triager")
    with receiver(answers=[(201, {})], reply=reply_for(vendor)) as hook:
        endpoint = add(vendor, hook)
        report = submitted()
        assert not Delivery.objects.exists()  # received: nothing for a tracker
        triage(report, alice)
        assert delivery.deliver_due() == 1
    [got] = hook.requests
    assert got.method == "POST"
    assert got.path == TRACKERS[vendor]["path"]
    body = json.loads(got.body)
    jsonschema.validate(body, schema(vendor))
    text = got.body.decode()
    assert report.reference in text and f"/triage/reports/{report.uid}/" in text
    for leak in LEAKS:
        assert leak not in text, leak
    if vendor == "github":
        assert got.headers["Authorization"] == f"Bearer {TOKEN}"
        assert got.headers["Accept"] == "application/vnd.github+json"
        assert got.headers["X-GitHub-Api-Version"] == "2022-11-28"
        assert body["title"] == report.reference
    elif vendor == "gitlab":
        assert got.headers["PRIVATE-TOKEN"] == TOKEN and "Authorization" not in got.headers
        assert body["title"] == report.reference and body["confidential"] is True
    else:
        basic = base64.b64encode(f"desk@example.org:{TOKEN}".encode()).decode()
        assert got.headers["Authorization"] == f"Basic {basic}"
        fields = body["fields"]
        assert fields["project"] == {"key": "SEC"} and fields["issuetype"] == {"name": "Task"}
        assert fields["summary"] == report.reference
        # v3: Atlassian Document Format (the vendored schema leaves `fields` open).
        doc = fields["description"]
        assert doc["type"] == "doc" and doc["version"] == 1
        assert all(p["type"] == "paragraph" for p in doc["content"])
        link = doc["content"][-1]["content"][0]
        assert link["marks"] == [{"type": "link", "attrs": {"href": link["text"]}}]
    assert "webhook-signature" not in got.headers  # a tracker checks its own token
    issue = TrackerIssue.objects.get()
    number, url = TRACKERS[vendor]["shown"]
    assert issue.number == number and issue.report == report and issue.endpoint == endpoint
    expected = url or f"http://127.0.0.1:{hook.port}/browse/SEC-24"
    assert issue.url == expected


@pytest.mark.parametrize("vendor", sorted(TRACKERS))
def test_a_trusted_tracker_gets_the_title_and_nothing_more(db: Any, vendor: str) -> None:
    alice = make_staff("alice@example.org", "triager")
    with receiver(answers=[(201, {})], reply=reply_for(vendor)) as hook:
        add(vendor, hook, trusted=True)
        report = submitted()
        triage(report, alice)
        assert delivery.deliver_due() == 1
    [got] = hook.requests
    body = json.loads(got.body)
    jsonschema.validate(body, schema(vendor))
    title = body["fields"]["summary"] if vendor == "jira" else body["title"]
    assert title == f"{report.reference}: {TITLE}"
    rest = json.dumps({k: v for k, v in body.items() if k != "title"})
    rest = rest.replace(json.dumps(TITLE)[1:-1], "", 1) if vendor == "jira" else rest
    for leak in ["search?q=", "Session theft", "portal.example.org", "Rita", "rita@"]:
        assert leak not in got.body.decode(), leak
    assert "Reflected XSS" not in rest


def test_jira_v2_gets_a_plain_text_description(db: Any) -> None:
    alice = make_staff("alice@example.org", "triager")
    with receiver(answers=[(201, {})], reply=reply_for("jira")) as hook:
        endpoint = add("jira", hook)
        Endpoint.objects.filter(pk=endpoint.pk).update(url=endpoint.url.replace("/3/", "/2/"))
        triage(submitted(), alice)
        assert delivery.deliver_due() == 1
    assert hook.requests[0].path == "/rest/api/2/issue"
    fields = json.loads(hook.requests[0].body)["fields"]
    assert isinstance(fields["description"], str) and "/triage/reports/" in fields["description"]


def test_jira_data_center_without_an_email_uses_a_bearer_token(db: Any) -> None:
    alice = make_staff("alice@example.org", "triager")
    with receiver(answers=[(201, {})], reply=reply_for("jira")) as hook:
        add("jira", hook, email="")
        triage(submitted(), alice)
        assert delivery.deliver_due() == 1
    assert hook.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("vendor", sorted(TRACKERS))
def test_a_500_is_retried_and_triaging_again_makes_no_second_issue(
    db: Any, vendor: str, settings: Any
) -> None:
    alice = make_staff("alice@example.org", "triager")
    with receiver(answers=[(500, {}), (201, {})], reply=reply_for(vendor)) as hook:
        add(vendor, hook)
        report = submitted()
        triage(report, alice)
        row = Delivery.objects.get()
        assert delivery.deliver_now(str(row.uid)) is False
        row.refresh_from_db()
        assert row.status == Delivery.Status.PENDING and row.attempts == 1
        # Re-triaged while the retry waits: still the one delivery.
        retriage(report, alice)
        assert Delivery.objects.count() == 1
        assert delivery.deliver_now(str(row.uid), now=row.next_attempt_at) is True
        # And once the issue exists: triaging again asks for nothing.
        retriage(report, alice)
        assert Delivery.objects.count() == 1
        assert delivery.deliver_due() == 0
    assert len(hook.requests) == 2  # the failed try and its retry; one issue
    assert hook.requests[0].body == hook.requests[1].body
    issue = TrackerIssue.objects.get()
    assert issue.number == TRACKERS[vendor]["shown"][0]


def test_a_failed_delivery_may_be_asked_for_again_by_triaging_again(db: Any, settings: Any) -> None:
    settings.MELDPUNT_WEBHOOK_MAX_ATTEMPTS = 1
    alice = make_staff("alice@example.org", "triager")
    with receiver(answers=[(500, {}), (201, {})], reply=reply_for("github")) as hook:
        add("github", hook)
        report = submitted()
        triage(report, alice)
        assert delivery.deliver_due() == 0
        assert Delivery.objects.get().status == Delivery.Status.FAILED
        retriage(report, alice)
        assert delivery.deliver_due() == 1
    assert Delivery.objects.count() == 2
    assert TrackerIssue.objects.get().number == "#1347"


@pytest.mark.parametrize("vendor", sorted(TRACKERS))
def test_a_401_is_logged_without_the_token(
    db: Any, vendor: str, caplog: pytest.LogCaptureFixture
) -> None:
    alice = make_staff("alice@example.org", "triager")
    caplog.set_level(logging.DEBUG)
    with receiver(answers=[(401, {})], reply=lambda s, n: f"bad token {TOKEN}".encode()) as hook:
        endpoint = add(vendor, hook)
        triage(submitted(), alice)
        assert delivery.deliver_due() == 0
    [attempt] = Attempt.objects.filter(endpoint=endpoint)
    assert attempt.response_code == 401 and not attempt.ok and attempt.error == "HTTP 401"
    assert TOKEN not in attempt.excerpt and "[token]" in attempt.excerpt
    assert "HTTP 401" in caplog.text and TOKEN not in caplog.text
    assert not TrackerIssue.objects.exclude(created_at=None).exists()
    ada = sign_in(Client(), make_staff("boss@example.org", "admin"))
    page = ada.get(f"/triage/webhooks/{endpoint.uid}/").content.decode()
    assert 'data-attempt="1" data-ok="false"' in page and TOKEN not in page


def test_a_tracker_endpoint_is_not_offered_a_test_event(db: Any) -> None:
    with receiver() as hook:
        endpoint = add("github", hook)
    with pytest.raises(endpoints.EndpointError):
        endpoints.send_test(endpoint, None)
    ada = sign_in(Client(), make_staff("boss@example.org", "admin"))
    assert ada.post(f"/triage/webhooks/{endpoint.uid}/test/").status_code == 303
    assert not Delivery.objects.exists()
    assert "webhook_test" not in ada.get(f"/triage/webhooks/{endpoint.uid}/").content.decode()


def form(vendor: str, url: str, **extra: str) -> dict[str, Any]:
    data = {"name": "Tracker", "url": url, "format": vendor, "token": TOKEN, **extra}
    return data


def test_an_admin_adds_a_tracker_endpoint_and_the_token_is_never_shown(
    db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ada = sign_in(Client(), make_staff("ada@example.org", "admin"))
    url = "https://sec.atlassian.net/rest/api/3/issue"
    extra = {"project_key": "SEC", "issue_type": "Bug", "email": "desk@example.org"}
    answer = ada.post("/triage/webhooks/add/", form("jira", url, **extra))
    assert answer.status_code == 200
    html = answer.content.decode()
    assert 'id="tracker-added"' in html and TOKEN not in html and 'id="secret"' not in html
    endpoint = Endpoint.objects.get()
    assert endpoint.format == "jira" and endpoint.events == ["report.triaged"]
    assert endpoint.tracker == {"token": TOKEN, **extra}
    assert TOKEN.encode() not in endpoint.tracker_blob  # sealed, not in clear
    for page in ("/triage/webhooks/", f"/triage/webhooks/{endpoint.uid}/"):
        shown = ada.get(page)
        assert shown.status_code == 200 and TOKEN not in shown.content.decode()
    assert TOKEN not in caplog.text


JIRA = "https://sec.atlassian.net/rest/api/3/issue"


@pytest.mark.parametrize(
    ("vendor", "url", "extra", "field"),
    [
        ("github", "https://api.github.com/repos/acme/web", {}, "url"),
        ("github", "https://api.github.com/repos/acme/web/issues", {"token": ""}, "token"),
        ("gitlab", "https://gitlab.example.org/acme/web/issues", {}, "url"),
        ("jira", JIRA, {"issue_type": "Bug"}, "project_key"),
        ("jira", JIRA, {"project_key": "SEC"}, "issue_type"),
        ("jira", "https://sec.atlassian.net/rest/api/3/search", {}, "url"),
    ],
)  # fmt: skip
def test_it_refuses_tracker_settings_that_cannot_work(
    db: Any, vendor: str, url: str, extra: dict[str, str], field: str
) -> None:
    ada = sign_in(Client(), make_staff("ada@example.org", "admin"))
    answer = ada.post("/triage/webhooks/add/", form(vendor, url, **extra))
    assert answer.status_code == 400
    assert answer.context["form"].errors.get(field), answer.context["form"].errors
    assert not Endpoint.objects.exists()


def test_a_token_goes_over_https_only(db: Any, settings: Any) -> None:
    settings.MELDPUNT_WEBHOOK_ALLOW_PRIVATE = False
    ada = sign_in(Client(), make_staff("ada@example.org", "admin"))
    answer = ada.post(
        "/triage/webhooks/add/", form("gitlab", "http://gl.example.org/api/v4/projects/4/issues")
    )
    assert answer.status_code == 400 and not Endpoint.objects.exists()


def test_the_report_page_links_the_issue_for_staff(db: Any) -> None:
    alice = make_staff("alice@example.org", "triager")
    with receiver(answers=[(201, {})], reply=reply_for("github")) as hook:
        endpoint = add("github", hook)
        report = submitted()
        triage(report, alice)
        assert delivery.deliver_due() == 1
    page = sign_in(Client(), alice).get(f"/triage/reports/{report.uid}/").content.decode()
    assert f'data-endpoint="{endpoint.uid}"' in page
    assert 'href="https://github.com/acme/web/issues/1347"' in page and ">#1347</a>" in page


def test_an_ssrf_guarded_tracker_url_is_refused(db: Any, settings: Any) -> None:
    alice = make_staff("alice@example.org", "triager")
    with receiver(answers=[(201, {})], reply=reply_for("github")) as hook:
        endpoint = add("github", hook)
        settings.MELDPUNT_WEBHOOK_ALLOW_PRIVATE = False
        triage(submitted(), alice)
        assert delivery.deliver_due() == 0
    assert not hook.requests
    assert Attempt.objects.get(endpoint=endpoint).error.startswith("refused")
