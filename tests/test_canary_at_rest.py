"""Every field a finder or the team can type is sealed: a canary in each is absent from a dump.

A new model field in clear fails this test until it is sealed or listed in CLEAR_BY_DESIGN
below and in docs/encryption.md, with the reason.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from meldpunt.intake.mail import process_message
from meldpunt.reports import lifecycle
from meldpunt.reports.models import Report, State
from tests.advisory_cast import V31
from tests.conftest import GnuPG, make_staff, sign_in, submit
from tests.test_encryption_at_rest import data_dir_bytes, database_bytes
from tests.test_mail_intake import plain_mail

# Typed by people but stored in clear on purpose (docs/encryption.md, "What stays in clear").
# The canaries below go into none of them; the list says why a reader of a dump sees them.
CLEAR_BY_DESIGN = {
    "reference, state, resolution, category, scope, channel, language, assignee": "inbox lists",
    "received, due, sent, expected fix, disclosure and retention dates": "deadlines, metrics",
    "CWE id, CVSS vectors and scores, severity, validity": "fixed syntax: no free text fits",
    "credit preference, contact or key on file, mail encrypted": "screens without opening data",
    "attachment sizes, event kinds, times and field names": "upload limits; the history",
    "published advisory: revision text, credits, CSAF": "public by intent once published",
    "message templates": "the team's boilerplate, about no report or finder",
    "staff user name, e-mail and role, API token names, audit actions": "sign-in and audit",
    "security.txt, policy versions, the organisation's public key": "published documents",
}


def canary(field: str) -> str:
    return f"CANARY{field.replace('_', '')}{secrets.token_hex(6)}"


@pytest.mark.django_db(transaction=True)
def test_it_keeps_every_typed_field_out_of_a_database_dump(gpg: GnuPG, org_key: Any) -> None:
    c = {
        name: canary(name)
        for name in (
            "host",
            "description",
            "steps",
            "impact",
            "reference",
            "name",
            "email",
            "reply",
            "credit_name",
            "note",
            "asset",
            "first_response",
            "message",
            "title",
            "summary",
            "product",
            "remediation",
            "advisory_reference",
            "review",
            "recipient",
            "shared",
            "legal_basis",
            "mail_sender",
            "mail_address",
            "mail_subject",
            "mail_body",
        )
    }
    fingerprint = gpg.make_key(f"{c['name']} <{c['email'].lower()}@example.net>")
    armored = gpg.export(fingerprint)
    # A line of the armour: the key's bytes themselves, whatever encoding a clear copy had.
    c["pgp_key"] = max(armored.splitlines(), key=len)

    # The finder, on the web form and then on /status/.
    finder = Client()
    sent = submit(
        finder,
        affected_systems=f"https://{c['host'].lower()}.example.org/",
        description=c["description"],
        steps=c["steps"],
        impact=c["impact"],
        references=f"https://example.net/{c['reference']}",
        name=c["name"],
        email=f"{c['email'].lower()}@example.net",
        pgp_key=armored,
        credit="name",
    )
    report = sent.report
    assert finder.post("/status/", {"code": sent.code}).status_code == 303
    assert finder.post("/status/reply/", {"text": c["reply"]}).status_code == 303
    credit = {"credit": "pseudonym", "name": c["credit_name"]}
    assert finder.post("/status/credit/", credit).status_code == 303

    # The team: a note, the assessment, the first response and a message.
    alice = make_staff("alice@example.org", "triager")
    staff = sign_in(Client(), alice)
    base = f"/triage/reports/{report.uid}"
    assert staff.post(f"{base}/notes/", {"text": c["note"]}).status_code == 303
    assessed = {
        "valid": "yes",
        "in_scope": "yes",
        "cvss31_vector": V31,
        "cwe": "CWE-79",
        "affected_asset": c["asset"],
        "expected_fix_date": (timezone.localdate() + timedelta(days=30)).isoformat(),
    }
    assert staff.post(f"{base}/assess/", assessed).status_code == 303
    first = {"text": c["first_response"], "after": "triage"}
    assert staff.post(f"{base}/first-response/", first).status_code == 303
    assert staff.post(f"{base}/message/", {"text": c["message"]}).status_code == 303

    # An advisory draft, reviewed by the finder before publication.
    fixed_report(report, alice)
    response = staff.post(f"/triage/advisories/new/{report.uid}/")
    assert response.status_code == 303
    advisory_url = re.sub(r"#.*", "", response["Location"])
    draft = {
        "title": c["title"],
        "summary": c["summary"],
        "products": f"{c['product']} | < 2.3.1 | 2.3.1",
        "remediation": c["remediation"],
        "cvss31_vector": V31,
        "cwe": "CWE-79",
        "references": f"https://example.org/{c['advisory_reference']}",
        "publish_date": (timezone.localdate() + timedelta(days=10)).isoformat(),
        "publish_time": "10:00",
        "publish_tz": "Europe/Brussels",
        "language": "en",
    }
    assert staff.post(f"{advisory_url}edit/", draft).status_code == 303
    advisory_uid = advisory_url.rstrip("/").rsplit("/", 1)[1]
    review = {"decision": "comment", "text": c["review"], "proposed_tz": "Europe/Brussels"}
    assert finder.post(f"/status/advisory/{advisory_uid}/", review).status_code == 303

    # The disclosure register (admins).
    admin = sign_in(Client(), make_staff("ada@example.org", "admin"))
    disclosure = {
        "reference": report.reference,
        "recipient": c["recipient"],
        "shared": c["shared"],
        "legal_basis": c["legal_basis"],
        "disclosed_on": timezone.localdate().isoformat(),
        "finder_may_know": "on",
    }
    assert admin.post("/triage/audit/disclosures/", disclosure).status_code == 303

    # Mail intake.
    mail = plain_mail(
        c["mail_body"],
        sender=f"{c['mail_sender']} <{c['mail_address'].lower()}@example.net>",
        subject=c["mail_subject"],
    )
    assert process_message(mail).outcome == "report"

    # Sanity: it all arrived, and opens with the key file.
    report = Report.objects.get(pk=report.pk)
    assert report.affected_asset == c["asset"]
    assert report.finder["name"] == c["credit_name"]
    assert report.notes.get().body["text"] == c["note"]

    stored = database_bytes() + data_dir_bytes()
    assert len(stored) > 10_000
    found = [
        field
        for field, value in c.items()
        if any(form.encode() in stored for form in {value, value.lower()})
    ]
    assert found == [], f"in clear in the database or data directory: {found}"
    assert fingerprint.encode() not in stored and fingerprint.lower().encode() not in stored
    assert sent.code.encode() not in stored


def fixed_report(report: Report, user: User) -> None:
    # No text is typed on the way to `fixed`: the moves themselves are clear workflow facts.
    lifecycle.transition(report, State.FIX_IN_PROGRESS, user)
    lifecycle.transition(report, State.FIXED, user)


def test_it_allows_in_clear_only_what_the_encryption_docs_list() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "encryption.md").read_text()
    table = docs.split("### What stays in clear, and why", 1)[1].split("\n\n")[2]
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == len(CLEAR_BY_DESIGN), "docs/encryption.md and CLEAR_BY_DESIGN differ"
