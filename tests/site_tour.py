"""A desk in use, and every page a finder or staff member reaches on it, for outside checkers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

from meldpunt.accounts.models import Passkey
from meldpunt.advisories import publishing
from meldpunt.policy import keys
from meldpunt.reports import regulatory
from meldpunt.reports.assessment import assess
from meldpunt.reports.models import SavedView, Tag
from meldpunt.reports.reporting_clocks import CRA_EARLY_WARNING
from meldpunt.scope.models import Asset
from tests.advisory_cast import fixed, ready
from tests.conftest import make_staff, sign_in, submit, valid_report
from tests.test_mail_failed_view import failed_mail


def webhook_with_log(admin: Any) -> Any:
    """An endpoint with one logged attempt (refused: loopback is private by default)."""
    from meldpunt.webhooks import delivery, endpoints

    hook, _secret = endpoints.create(
        admin,
        name="Chat",
        url="http://127.0.0.1:9/hook",
        kinds=["report.received"],
        format="slack",
        trusted=False,
    )
    endpoints.send_test(hook, admin)
    delivery.deliver_due()
    return hook


LANGUAGES = ["nl", "en", "fr"]
TOOLS = Path(__file__).resolve().parents[1] / ".cache" / "test-tools" / "node_modules"
MOMENT = datetime(2030, 6, 3, 8, 0, tzinfo=UTC)


def tool(relative: str) -> Path:
    """A cached checker from bin/test-tools; fails (never skips) when it is missing."""
    path = TOOLS / relative
    if not path.exists():
        pytest.fail(f"{path} is missing: run bin/test-tools (bin/setup --dev does)", pytrace=False)
    return path


@dataclass
class Desk:
    """Signed-in clients and the pages each one reaches, as (file slug, path) pairs."""

    visitor: Client
    finder: Client
    staff: Client
    thanks: dict[str, str]  # language → the page after a submission
    public: list[tuple[str, str]]
    finder_pages: list[tuple[str, str]]
    staff_pages: list[tuple[str, str]]
    refused_reports: list[str] = field(default_factory=list)  # a bulk action refuses these


def in_language(client: Client, language: str) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def open_desk() -> Desk:
    """Reports, messages, notes, a draft under review, a published advisory and a failed mail."""
    keys.create_key()
    alice = make_staff("alice@example.org", "triager")
    ada = make_staff("ada@example.org", "admin")
    sent = {lang: submit(in_language(Client(), lang), email="r@example.net") for lang in LANGUAGES}
    thanks = {language: s.response.content.decode() for language, s in sent.items()}
    rita = sent["nl"]
    finder = Client()
    assert finder.post("/status/", {"code": rita.code}).status_code == 303
    reviewed = ready(alice, fixed(alice, rita), publish_at=MOMENT)
    french = {"title": "XSS dans le portail", "summary": "Le paramètre q.", "remediation": "2.3.1"}
    publishing.update_translation(reviewed, "fr", french, alice)
    finder.post("/status/reply/", {"text": "Thank you, 2.3.0 is affected too."})
    review = {"decision": "other_date", "text": "Later, please.", "proposed_date": "2030-06-10"}
    review |= {"proposed_time": "09:00", "proposed_tz": "Europe/Brussels"}
    assert finder.post(f"/status/advisory/{reviewed.uid}/", review).status_code == 303

    staff = sign_in(Client(), ada)
    # Ada's passkeys: one in use, one blocked after its counter went backwards.
    used = {"sign_count": 3, "last_used_at": MOMENT}
    Passkey.objects.create(user=ada, name="Laptop", credential_id=b"1", public_key=b"k", **used)
    blocked = {"credential_id": b"2", "public_key": b"k", "regressed_at": MOMENT}
    Passkey.objects.create(user=ada, name="Security key", **blocked)
    report = rita.report
    assert staff.post(f"/triage/reports/{report.uid}/notes/", {"text": "Seen."}).status_code == 303
    tag = Tag.objects.create(name="auth", colour="red", description="Log-in flows")
    report.tags.add(tag)
    # An SSVC decision: shown on the report page and in the inbox's column.
    ssvc = {"ssvc_exploitation": "active", "ssvc_automatable": "yes"}
    assess(report, ada, **ssvc, ssvc_technical_impact="total", ssvc_mission_impact="high")
    asset = Asset.objects.create(
        kind="domain",
        value="portal.example.org",
        status="third_party",
        note="Run by <them>",
        contact="security@portal.example.net",
    )
    view = SavedView.objects.create(name="Auth", owner=ada, shared=True, query="tag=auth")
    published = ready(alice, fixed(alice))
    publishing.update_translation(published, "fr", french, alice)
    # With a CVE id, a package and an SSVC decision: the page links the OSV document and the
    # staff page the CVE record.
    packages = [{"ecosystem": "PyPI", "name": "portal", "introduced": "", "fixed": "2.3.1"}]
    publishing.update_draft(
        published,
        {"cve": "CVE-2026-4242", "packages": packages, "ssvc": "Track (CISA Coordinator 2.0.3; …)"},
        alice,
    )
    publishing.publish(published, summary="", user=alice, skip_review=True)
    mail = failed_mail(None)
    hook = webhook_with_log(ada)
    # A template report, labelled "likely low value" on intake (meldpunt.begbounty).
    beg = submit(Client(), description="No DMARC record on your domain. Bounty?").report
    # Actively exploited (the finder said so) with the early warning sent: the legal
    # reporting clocks (the tours turn MELDPUNT_CRA_MANUFACTURER and _NIS2_ENTITY on).
    exploited = submit(Client(), exploited="yes").report
    with override_settings(MELDPUNT_CRA_MANUFACTURER=True, MELDPUNT_NIS2_ENTITY=True):
        regulatory.set_flags(exploited, alice, exploited=True, nis2_incident=True)
        regulatory.record_sent(
            exploited,
            alice,
            CRA_EARLY_WARNING,
            sent_at=timezone.now(),
            channel="enisa_srp",
            reference="SRP-<1>",
        )
    flagged = submit(Client(), exploited="yes").report  # not confirmed yet: the prompt

    public = [
        ("policy", "/"),
        ("report-form", "/report/"),
        ("status-login", "/status/"),
        ("advisories", "/advisories/"),
        ("advisory", f"/advisories/{published.identifier}/"),
        ("advisory-translation", f"/advisories/{published.identifier}/fr/"),
        ("hall-of-fame", "/hall-of-fame/"),
        ("staff-login", "/triage/login/"),
    ]
    finder_pages = [
        ("status", "/status/"),
        ("advisory-review", f"/status/advisory/{reviewed.uid}/"),
    ]
    staff_pages = [
        ("inbox", "/triage/"),
        ("report", f"/triage/reports/{report.uid}/"),
        ("compose", f"/triage/reports/{report.uid}/compose/"),
        ("cwe-search", f"/triage/cwe/?q=injection&report={report.uid}"),
        ("advisory-list", "/triage/advisories/"),
        ("advisory-draft", f"/triage/advisories/{reviewed.uid}/"),
        ("advisory-published", f"/triage/advisories/{published.uid}/"),
        ("metrics", "/triage/metrics/"),
        ("audit-log", "/triage/audit/"),
        ("disclosures", "/triage/audit/disclosures/"),
        ("outbox", "/triage/outbox/"),
        ("outbox-deferred", "/triage/outbox/?state=deferred"),
        ("mail-list", "/triage/mail/"),
        ("mail", f"/triage/mail/{mail.uid}/"),
        ("webhooks", "/triage/webhooks/"),
        ("webhook", f"/triage/webhooks/{hook.uid}/"),
        ("staff-accounts", "/triage/staff/"),
        ("staff-member", f"/triage/staff/{ada.staff.uid}/"),
        ("my-sessions", "/triage/sessions/"),
        ("templates", "/triage/templates/"),
        ("api-tokens", "/triage/tokens/"),
        ("passkeys", "/triage/passkeys/"),
        ("api-docs", "/api/v1/docs"),
        ("template", "/triage/templates/fixed/en/"),
        ("tags", "/triage/tags/"),
        ("tag", f"/triage/tags/{tag.uid}/"),
        ("inbox-by-tag", "/triage/?tag=auth"),
        ("scope", "/triage/scope/"),
        ("scope-asset", f"/triage/scope/{asset.uid}/"),
        ("inbox-by-scope", "/triage/?scope_check=unchecked"),
        ("views", "/triage/views/"),
        ("inbox-low-value", "/triage/?low_value=yes"),
        ("report-low-value", f"/triage/reports/{beg.uid}/"),
        ("report-exploited", f"/triage/reports/{exploited.uid}/"),
        ("report-exploited-unconfirmed", f"/triage/reports/{flagged.uid}/"),
        ("low-value-answer", f"/triage/reports/{beg.uid}/low-value/answer/"),
        ("low-value-rules", "/triage/low-value-rules/"),
        ("low-value-rule", "/triage/low-value-rules/email-authentication/"),
        ("low-value-rule-new", "/triage/low-value-rules/new/"),
        ("view", f"/triage/views/{view.uid}/"),
        ("admin", "/admin/"),
        ("admin-reports", "/admin/reports/report/"),
        ("admin-report", f"/admin/reports/report/{report.pk}/change/"),
    ]
    desk = Desk(Client(), finder, staff, thanks, public, finder_pages, staff_pages)
    desk.refused_reports = [str(report.uid)]
    return desk


def bulk_refused(client: Client, reports: list[str]) -> str:
    """The page a bulk action shows when a report refuses it (a fixed report: needs_info)."""
    data = {"reports": reports, "action": "move", "move": "needs_info:"}
    response = client.post("/triage/bulk/", data)
    assert response.status_code == 409
    return str(response.content.decode())


def form_with_errors(client: Client) -> str:
    """The report form as a finder sees it after a mistake."""
    data = valid_report(description="")
    return str(client.post("/report/", data).content.decode())


def sso_pages(language: str) -> dict[str, str]:
    """Sign-in with single sign-on offered, password sign-in for break-glass only, and the
    page shown when the identity provider is down (a loopback port where nobody listens)."""
    from tests.mailservers import free_port

    sso = {
        "MELDPUNT_OIDC_ISSUER": f"http://127.0.0.1:{free_port()}",
        "MELDPUNT_OIDC_CLIENT_ID": "meldpunt",
        "MELDPUNT_OIDC_NAME": "Example IdP",
        "MELDPUNT_LOCAL_LOGIN": False,
        "MELDPUNT_BREAK_GLASS_ADMIN": "root@example.org",
    }
    client = in_language(Client(), language)
    with override_settings(**sso):
        login = client.get("/triage/login/")
        down = client.get("/triage/login/sso/")
    assert (login.status_code, down.status_code) == (200, 503)
    return {"sso-login": login.content.decode(), "sso-unavailable": down.content.decode()}
