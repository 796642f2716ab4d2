"""Every URL, every kind of visitor: each gets exactly what it should.

The URLs come from the resolver, so a new view without a rule here fails the suite.
Roles: anonymous, a finder holding another report's receipt, viewer, triager, admin
(staff with a fresh second factor). "Allowed" means the view did its work (any answer
but 401/403/404/405 or a bounce to a sign-in page); "refused" means one of those.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from meldpunt.accounts.models import StaffProfile
from meldpunt.advisories import publishing
from meldpunt.api.models import ApiToken
from meldpunt.api.tokens import issue_token
from meldpunt.intake.mail import process_message
from meldpunt.intake.models import InboundMail
from meldpunt.lib.uploads import IncomingFile
from meldpunt.ops import heartbeat
from meldpunt.reports.models import Attachment, OutboundMail, SavedView, Tag
from meldpunt.reports.services import add_message
from meldpunt.scope.models import Asset
from meldpunt.webhooks.models import Endpoint
from tests.advisory_cast import fixed, ready
from tests.conftest import make_staff, sign_in, submit

ROLES = ("anonymous", "finder", "viewer", "triager", "admin")
STAFF = frozenset({"viewer", "triager", "admin"})
CHANGERS = frozenset({"triager", "admin"})
ADMIN = frozenset({"admin"})
EVERYONE = frozenset(ROLES)
OWN_SESSION = frozenset({"finder"})  # portal views act on the finder's own report


@dataclass(frozen=True)
class Rule:
    method: str
    allowed: frozenset[str]
    # Public pages answer everyone alike (a bad identifier is 404 for all).
    same_for_all: bool = False


PUBLIC = Rule("GET", EVERYONE, same_for_all=True)

RULES: dict[str, Rule] = {
    "policy": PUBLIC,
    "report": PUBLIC,
    "pgp_key": PUBLIC,
    "wkd_key": PUBLIC,
    "wkd_policy": PUBLIC,
    "security_txt": PUBLIC,
    "set_language": Rule("POST", EVERYONE, same_for_all=True),
    "advisories_public:list": PUBLIC,
    "advisories_public:feed": PUBLIC,
    "advisories_public:detail": PUBLIC,
    "advisories_public:hall_of_fame": PUBLIC,
    "advisories_public:csaf_root": PUBLIC,
    "advisories_public:provider_metadata": PUBLIC,
    "advisories_public:csaf_white": PUBLIC,
    "advisories_public:index_txt": PUBLIC,
    "advisories_public:changes_csv": PUBLIC,
    "advisories_public:csaf_year": PUBLIC,
    "advisories_public:csaf_file": PUBLIC,
    "advisories_public:translation": PUBLIC,
    "advisories_public:osv": PUBLIC,
    "advisories_public:translations_root": PUBLIC,
    "advisories_public:translations_language": PUBLIC,
    "advisories_public:translation_white": PUBLIC,
    "advisories_public:translation_index_txt": PUBLIC,
    "advisories_public:translation_changes_csv": PUBLIC,
    "advisories_public:translation_year": PUBLIC,
    "advisories_public:translation_file": PUBLIC,
    # The finder portal: the session names one report; nobody else reaches it.
    "portal:status": PUBLIC,  # the receipt-code form for everyone else
    "portal:reply": Rule("POST", OWN_SESSION),
    # The file is another report's: refused to every session, the finder of another report
    # too (its own finder downloads it, tests/test_team_attachments.py).
    "portal:attachment": Rule("GET", frozenset()),
    "portal:credit": Rule("POST", OWN_SESSION),
    "portal:export": Rule("POST", OWN_SESSION),
    "portal:erase": Rule("POST", OWN_SESSION),
    "portal:logout": Rule("POST", EVERYONE, same_for_all=True),
    # The advisory under review belongs to another finder's report.
    "advisory_portal:review": Rule("GET", frozenset()),
    # Sign-in steps: reachable by all; each guards its own step.
    "accounts:login": PUBLIC,
    "accounts:verify": Rule("GET", EVERYONE, same_for_all=True),
    "accounts:enrol": Rule("GET", EVERYONE, same_for_all=True),
    "accounts:again": Rule("GET", STAFF),
    "accounts:logout": Rule("POST", EVERYONE, same_for_all=True),
    # Single sign-on is not configured here: not found for everyone (tests/test_sso.py).
    "accounts:sso_login": Rule("GET", frozenset(), same_for_all=True),
    "accounts:sso_callback": Rule("GET", frozenset(), same_for_all=True),
    # Passkeys: the sign-in steps answer the account half-way through signing in (or a
    # signed-in member asked again); an empty answer is a 400, not a refusal.
    "accounts:passkey_options": Rule("POST", STAFF),
    "accounts:passkey_sign_in": Rule("POST", STAFF),
    "accounts:passkeys": Rule("GET", STAFF),
    "accounts:passkey_register_options": Rule("POST", STAFF),
    "accounts:passkey_register": Rule("POST", STAFF),
    # Only one's own passkey; this one is nobody's.
    "accounts:passkey_remove": Rule("POST", frozenset()),
    # The triage desk.
    "triage:inbox": Rule("GET", STAFF),
    "triage:report": Rule("GET", STAFF),
    "triage:attachment": Rule("GET", STAFF),
    "triage:compose": Rule("GET", CHANGERS),  # writing to the finder is a change
    "triage:metrics": Rule("GET", STAFF),
    "triage:mail_list": Rule("GET", STAFF),
    "triage:mail_detail": Rule("GET", STAFF),
    "triage:outbox": Rule("GET", STAFF),
    "triage:outbox_resend": Rule("POST", CHANGERS),
    "triage:outbox_cancel": Rule("POST", CHANGERS),
    "triage:webhooks": Rule("GET", ADMIN),
    "triage:webhook_add": Rule("POST", ADMIN),
    "triage:webhook": Rule("GET", ADMIN),
    "triage:webhook_test": Rule("POST", ADMIN),
    "triage:webhook_enable": Rule("POST", ADMIN),
    "triage:webhook_remove": Rule("POST", ADMIN),
    "triage:staff": Rule("GET", ADMIN),
    "triage:staff_member": Rule("GET", ADMIN),
    "triage:staff_deactivate": Rule("POST", ADMIN),
    "triage:staff_activate": Rule("POST", ADMIN),
    "triage:staff_end_sessions": Rule("POST", ADMIN),
    "triage:my_sessions": Rule("GET", STAFF),
    # Someone else's or an unknown session: staff get "nothing was ended", never its owner's.
    "triage:my_session_end": Rule("POST", STAFF),
    "triage:add_note": Rule("POST", CHANGERS),
    "triage:transition": Rule("POST", CHANGERS),
    "triage:assess": Rule("POST", CHANGERS),
    "triage:first_response": Rule("POST", CHANGERS),
    "triage:send_message": Rule("POST", CHANGERS),
    "triage:ask_information": Rule("POST", CHANGERS),
    "triage:mark_duplicate": Rule("POST", CHANGERS),
    "triage:legal_hold": Rule("POST", ADMIN),
    "triage:cwe_search": Rule("GET", STAFF),
    "triage:cwe_suggest": Rule("GET", STAFF),
    "triage:templates": Rule("GET", ADMIN),
    "triage:tags": Rule("GET", ADMIN),
    "triage:tag_edit": Rule("GET", ADMIN),
    "triage:tag_delete": Rule("POST", ADMIN),
    "triage:report_tags": Rule("POST", CHANGERS),
    "triage:regulatory_flags": Rule("POST", CHANGERS),
    "triage:regulatory_sent": Rule("POST", CHANGERS),
    # The scope inventory: every staff member reads it, admins change it.
    "triage:scope": Rule("GET", STAFF),
    "triage:scope_asset": Rule("GET", ADMIN),
    "triage:scope_asset_delete": Rule("POST", ADMIN),
    "triage:scope_recheck": Rule("POST", ADMIN),
    "triage:bulk": Rule("POST", CHANGERS),
    "triage:views": Rule("GET", STAFF),
    # The admin's shared views: only their owner or an admin changes them.
    "triage:view_edit": Rule("GET", ADMIN),
    "triage:view_delete": Rule("POST", ADMIN),
    "triage:edit_template": Rule("GET", ADMIN),
    "triage:low_value_answer": Rule("POST", CHANGERS),
    "triage:not_low_value": Rule("POST", CHANGERS),
    "triage:low_value_rules": Rule("GET", ADMIN),
    "triage:low_value_rule_new": Rule("GET", ADMIN),
    "triage:low_value_rule": Rule("GET", ADMIN),
    "audit:log": Rule("GET", ADMIN),
    "audit:disclosures": Rule("GET", ADMIN),
    "advisories:list": Rule("GET", STAFF),
    "advisories:detail": Rule("GET", STAFF),
    "advisories:cve_json": Rule("GET", STAFF),
    "advisories:start": Rule("POST", CHANGERS),
    "advisories:edit": Rule("POST", CHANGERS),
    "advisories:add_report": Rule("POST", CHANGERS),
    "advisories:translate": Rule("POST", CHANGERS),
    "advisories:schedule": Rule("POST", CHANGERS),
    "advisories:unschedule": Rule("POST", CHANGERS),
    "advisories:schedule_early": Rule("GET", CHANGERS),
    "advisories:publish": Rule("GET", CHANGERS),
    # The JSON API takes bearer tokens only: no session, whoever's, opens it
    # (tests/test_api.py covers the tokens and roles).
    "api:api-root": Rule("GET", frozenset(), same_for_all=True),
    "api:openapi-json": PUBLIC,
    "api:list_reports": Rule("GET", frozenset()),
    "api:read_report": Rule("GET", frozenset()),
    "api:change_state": Rule("POST", frozenset()),
    "api:post_message": Rule("POST", frozenset()),
    "api:post_message_with_attachments": Rule("POST", frozenset()),
    "api:list_outbox": Rule("GET", frozenset()),
    "api:list_tags": Rule("GET", frozenset()),
    "api:list_saved_views": Rule("GET", frozenset()),
    "api:create_saved_view": Rule("POST", frozenset()),
    "api:delete_saved_view": Rule("POST", frozenset()),  # DELETE only: refused to all alike
    "api:put_tags": Rule("POST", frozenset()),  # PUT only: refused to every session alike
    "api:assess_report": Rule("POST", frozenset()),
    "api:set_regulatory_flags": Rule("POST", frozenset()),
    "api:record_regulatory_sent": Rule("POST", frozenset()),
    "api:list_notes": Rule("GET", frozenset()),
    "api:download_attachment": Rule("GET", frozenset()),
    "api:list_tokens": Rule("GET", frozenset()),
    "api:list_scope": Rule("GET", frozenset()),
    "api:add_scope_asset": Rule("POST", frozenset()),
    "api:remove_scope_asset": Rule("POST", frozenset()),  # DELETE only: refused to all alike
    "api:duplicate_suggestions": Rule("GET", frozenset()),
    "api:revoke_token": Rule("GET", frozenset()),
    "api:post_note": Rule("POST", frozenset()),
    "api:update_advisory": Rule("POST", frozenset()),
    "api:start_advisory": Rule("POST", frozenset()),
    "api:read_advisory": Rule("GET", frozenset()),
    "api:advisory_cve_record": Rule("GET", frozenset()),
    "api:advisory_osv": Rule("GET", frozenset()),
    "api:schedule_advisory": Rule("POST", frozenset()),
    "api:publish_advisory": Rule("POST", frozenset()),
    # API tokens: each staff member their own; the world's token is the admin's.
    "tokens:list": Rule("GET", STAFF),
    "tokens:create": Rule("POST", STAFF),
    "tokens:revoke": Rule("POST", ADMIN),
    # For load balancers: the same status for everyone; the details go to staff or the
    # health token (tests/test_health.py).
    "healthz": PUBLIC,
    "readyz": PUBLIC,
    # Off unless MELDPUNT_METRICS, and then for a token or an address, never a session
    # (tests/test_metrics.py).
    "metrics": Rule("GET", frozenset()),
    # The API's documentation page is a desk page: a session that gave its second factor.
    "api_docs": Rule("GET", STAFF),
    # Any other path under /api/v1/: a JSON 404 for everyone alike.
    "api:not_found": Rule("GET", frozenset(), same_for_all=True),
}


def routes(patterns: list[Any], prefix: str = "", ns: str = "") -> Iterator[tuple[str, str]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from routes(
                p.url_patterns,
                prefix + str(p.pattern),
                ns + (f"{p.namespace}:" if p.namespace else ""),
            )
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), ns + (p.name or f"<unnamed {p.pattern}>")


def site_routes() -> dict[str, str]:
    # Django's own admin has its own staff gate (tests/test_staff_admin.py).
    return {
        name: route
        for route, name in routes(get_resolver().url_patterns)
        if not name.startswith("admin:") and not route.startswith("admin/")
    }


def test_every_url_has_a_rule() -> None:
    names = set(site_routes())
    assert sorted(names - set(RULES)) == [], "a view without an authorization rule"
    assert sorted(set(RULES) - names) == [], "a rule for a view that is gone"


@pytest.fixture
def world(db: Any, org_key: Any) -> dict[str, Any]:
    triager = make_staff("alice@example.org", "triager")
    other = submit(Client())  # someone else's report
    add_message(other.report, "finder", "proof", [IncomingFile("p.txt", "text/plain", b"x")])
    report = fixed(triager, other)
    advisory = ready(triager, report)
    # Published with a CVE id, so that its CVE record can be downloaded.
    publishing.update_draft(advisory, {"cve": "CVE-2026-9999"}, triager)
    publishing.publish(advisory, summary="", user=triager, skip_review=True)
    process_message(
        b"From: x@example.net\r\nMessage-ID: <m@x>\r\nAuto-Submitted: auto-replied\r\n\r\nhi"
    )
    values = {
        "uid": str(report.uid),
        "att_uid": str(Attachment.objects.get(report=report).uid),
        "attachment_uid": str(Attachment.objects.get(report=report).uid),
        "report_uid": str(report.uid),
        "local_hash": "x" * 32,
        "identifier": "MPSA-2026-9999",
        "year": "2026",
        "name": "mpsa-2026-9999.json",
        "kind": "fixed",
        "language": "en",
        "slug": "autocomplete",  # a shipped low-value rule
    }
    mail = InboundMail.objects.first()
    assert mail is not None
    outbound = OutboundMail(
        report=report,
        created_at=timezone.now(),
        kind="news",
        message_id="<matrix@example.org>",
        next_attempt_at=timezone.now(),
        status=OutboundMail.Status.FAILED,
    )
    outbound.envelope = {"to": ["rita@example.net"], "raw": "cmF3"}
    outbound.save()
    clients_admin = make_staff("ada@example.org", "admin")
    own = submit(Client())  # the finder's own report
    finder = Client()
    assert finder.post("/status/", {"code": own.code}).status_code == 303
    clients = {
        "anonymous": Client(),
        "finder": finder,
        "viewer": sign_in(Client(), make_staff("bob@example.org", "viewer")),
        "triager": sign_in(Client(), triager),
        "admin": sign_in(Client(), clients_admin),
    }
    issue_token(User.objects.get(username="ada@example.org"), "ada's")
    heartbeat.beat(heartbeat.WORKER, force=True)  # /readyz: ready, so 200 for all
    values["uid_token"] = str(ApiToken.objects.get().uid)
    return {
        "values": values,
        "clients": clients,
        "advisory": advisory,
        "mail": mail,
        "outbound": outbound,
        # Two tags: the admin's delete must not take away the one the edit page shows.
        "tags": {n: Tag.objects.create(name=n) for n in ("triage:tag_edit", "triage:tag_delete")},
        "views": {
            n: SavedView.objects.create(name=n, owner=clients_admin, shared=True)
            for n in ("triage:view_edit", "triage:view_delete")
        },
    }


def scope_asset() -> Asset:
    return Asset.objects.create(
        kind="domain", value=f"{uuid.uuid4().hex}.example", status="in_scope"
    )


def webhook_endpoint() -> Endpoint:
    endpoint = Endpoint(name="Chat", url="https://chat.example.org/", created_at=timezone.now())
    endpoint.secret = {"secret": "whsec_" + "A" * 44}
    endpoint.save()
    return endpoint


def url_for(route: str, name: str, world: dict[str, Any]) -> str:
    values = dict(world["values"])
    if name.startswith(("advisories:", "advisory_portal:")):
        values["uid"] = str(world["advisory"].uid)
    if name == "advisories:translate":
        values["language"] = "fr"  # not the advisory's own language (en)
    if name == "triage:mail_detail":
        values["uid"] = str(world["mail"].uid)
    if name in world["tags"]:
        values["uid"] = str(world["tags"][name].uid)
    if name.startswith("triage:scope_asset"):
        values["uid"] = str(scope_asset().uid)  # its own: the admin may remove it
    if name in world["views"]:
        values["uid"] = str(world["views"][name].uid)
    values["token_uid"] = values["uid_token"]
    if name == "tokens:revoke":
        values["uid"] = values["uid_token"]
    if name.startswith("triage:outbox_"):
        values["uid"] = str(world["outbound"].uid)
    if name.startswith("triage:staff_"):
        # Its own account: the admin may deactivate it or end its sessions.
        member = make_staff(f"{uuid.uuid4().hex}@example.org", "viewer")
        values["uid"] = str(StaffProfile.objects.get(user=member).uid)
    if name.startswith("triage:webhook") and "<uuid:uid>" in route:
        values["uid"] = str(webhook_endpoint().uid)  # its own: the admin may remove it
    path = route
    for key, value in values.items():
        for converter in ("uuid", "str", "slug", ""):
            token = f"<{converter}:{key}>" if converter else f"<{key}>"
            path = path.replace(token, value)
    assert "<" not in path, f"no value for {path}"
    return "/" + path


def refused(response: Any) -> bool:
    if response.status_code in (401, 403, 404, 405):
        return True
    location = response.get("Location", "")
    return response.status_code == 302 and "/login/" in location


def test_each_role_gets_exactly_what_it_should(world: dict[str, Any]) -> None:
    wrong: list[str] = []
    # Signing out ends the shared sessions, so those routes come last.
    for name, route in sorted(site_routes().items(), key=lambda i: ("logout" in i[0], i[0])):
        rule = RULES[name]
        path = url_for(route, name, world)
        statuses = {}
        for role in ROLES:
            client = world["clients"][role]
            response = client.get(path) if rule.method == "GET" else client.post(path, {})
            statuses[role] = response.status_code
            assert response.status_code < 500, f"{name} as {role}: {response.status_code}"
            if rule.same_for_all:
                continue
            if (role in rule.allowed) == refused(response):
                wrong.append(f"{name} {rule.method} as {role}: {response.status_code}")
        if rule.same_for_all and len(set(statuses.values())) != 1:
            wrong.append(f"{name}: differs by role {statuses}")
    assert not wrong, "\n".join(wrong)
