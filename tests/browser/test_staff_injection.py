"""Hostile input through every channel stays inert on every staff page and in outgoing mail.

A report arrives by mail with script, SQL, header-injection, path-traversal and bidi
payloads in its sender name, subject, body and file names; a web finder with a hostile
name asks to be credited. An admin (who sees every page) then walks the desk with
JavaScript on and the CSP bypassed, so only escaping stands between payload and page.
"""

from __future__ import annotations

import base64
import email
import email.policy
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from meldpunt.intake.mail import process_message
from meldpunt.reports.models import OutboundMail, Report
from tests.advisory_cast import fixed, ready
from tests.browser.conftest import Traffic
from tests.browser.test_staff_xss import (
    ATTR,
    BOLD,
    IMG,
    SCRIPT,
    assert_inert,
    sign_in_with_totp,
)
from tests.conftest import make_staff, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Shoot = Callable[[Page, str], Path]
SQL = "' OR 1=1; DROP TABLE reports_report; --"
BIDI = "invoice\u202egpj.exe"  # shows as "invoiceexe.jpg" if the override survives
HOSTILE_NAME = f"Eve {SCRIPT} {BOLD}"
TRAVERSAL = "../../../../etc/passwd"


def hostile_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = f'"{HOSTILE_NAME}" <eve@example.net>'
    msg["To"] = "security@example.org"
    msg["Subject"] = "SUBJECT"
    msg["Message-ID"] = "<hostile@example.net>"
    msg.set_content(f"body: {SCRIPT} {IMG} {BOLD} {ATTR} {SQL}")
    for name in (TRAVERSAL, BIDI, f"{IMG}.txt"):
        msg.add_attachment(
            b"<script>alert(1)</script>", maintype="text", subtype="html", filename=name
        )
    # An encoded subject that decodes to a line break and a header of its own.
    evil = base64.b64encode(f"{IMG} {SQL}\r\nBcc: spy@evil.example".encode()).decode()
    return msg.as_bytes().replace(b"Subject: SUBJECT", f"Subject: =?utf-8?b?{evil}?=".encode())


def test_it_keeps_hostile_input_inert_across_the_desk(
    staff_page: tuple[Page, Traffic, list[str]], live_server: Any, shoot: Shoot, org_key: Any
) -> None:
    page, traffic, dialogs = staff_page
    result = process_message(hostile_mail())
    assert result.outcome == "report" and result.report is not None
    mailed: Report = result.report
    # A bounce with payloads, kept as mail not taken in.
    process_message(
        f"From: MAILER-DAEMON@example.net\r\nSubject: {SCRIPT}\r\nMessage-ID: <b@x>\r\n"
        f"Auto-Submitted: auto-replied\r\n\r\n{IMG}\r\n".encode()
    )
    admin = make_staff("ada@example.org", "admin")
    credited = fixed(admin, submit(Client(), name=HOSTILE_NAME[:200], credit="name"))
    advisory = ready(admin, credited)

    sign_in_with_totp(page, live_server.url, admin)
    base = live_server.url
    visits = [
        ("inbox", "/triage/"),
        ("search", f"/triage/?q={SQL}"),
        ("mail-report", f"/triage/reports/{mailed.uid}/"),
        ("mail-list", "/triage/mail/"),
        ("outbox", f"/triage/outbox/?state={SQL}"),
        ("audit", f"/triage/audit/?actor={SQL}"),
        ("advisories", "/triage/advisories/"),
        ("advisory", f"/triage/advisories/{advisory.uid}/"),
        ("disclosures", "/triage/audit/disclosures/"),
    ]
    for name, path in visits:
        response = page.goto(base + path)
        assert response is not None, path
        assert response.status in (200, 400), (path, response.status)
        assert_inert(page, dialogs)
        shoot(page, f"injection-{name}")

    # The mail report shows every payload as text; files carry no path and no bidi trick.
    page.goto(f"{base}/triage/reports/{mailed.uid}/")
    main = page.locator("main")
    expect(main).to_contain_text(f"body: {SCRIPT} {IMG} {BOLD}")
    expect(page.locator("#finder-name")).to_contain_text(f"Eve {SCRIPT}")
    files = page.locator("#attachments")
    expect(files).to_contain_text("passwd")
    expect(files).not_to_contain_text("../")
    expect(files).to_contain_text("invoicegpj.exe")
    assert "\u202e" not in files.inner_text()

    # The failed bounce, shown as text.
    page.goto(f"{base}/triage/mail/")
    with page.expect_navigation():
        page.locator("main table a").first.click()
    assert_inert(page, dialogs)
    expect(page.locator("main pre")).to_contain_text(SCRIPT)

    # The credit line in the advisory preview is the hostile name, as text.
    page.goto(f"{base}/triage/advisories/{advisory.uid}/")
    expect(page.locator("main")).to_contain_text("Eve <script>")
    assert_inert(page, dialogs)
    # Expected: the SQL payload is not a valid search, so the inbox answers 400 with a message.
    traffic.failures = [f for f in traffic.failures if not f.startswith("400 ") or "q=" not in f]
    # Going from page to page quickly cancels a page's icon or stylesheet still loading.
    traffic.failures = [
        f for f in traffic.failures if not (f.startswith("net::ERR_ABORTED") and "/static/" in f)
    ]
    traffic.console_errors = [e for e in traffic.console_errors if "q=" not in e]
    traffic.assert_clean()

    # The outbox lists the receipt mail with its state, and no address.
    page.goto(f"{base}/triage/outbox/")
    expect(page.locator("#outbox tr[data-delivery-state]")).to_have_count(1)
    expect(page.locator("main")).not_to_contain_text("eve@example.net")

    # The automatic answer went to the sender only, with no header the payload made up.
    sent = OutboundMail.objects.get(report=mailed)
    answer = email.message_from_bytes(
        base64.b64decode(sent.envelope["raw"]), policy=email.policy.default
    )
    assert sent.envelope["to"] == ["eve@example.net"]
    assert "Bcc" not in answer and "spy@evil.example" not in str(answer["To"])
    assert "\n" not in str(answer["Subject"]) and SCRIPT not in str(answer["Subject"])
