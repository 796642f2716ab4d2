"""Everything a finder sends reaches the team's pages as inert text, in a real browser.

JavaScript is on and the page's Content-Security-Policy is bypassed, so this proves the
escaping itself: if any payload were rendered as markup, its script would run here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyotp
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from playwright.sync_api import Page, expect

from meldpunt.accounts.models import StaffProfile
from meldpunt.reports.models import Report
from tests.browser.conftest import Traffic
from tests.conftest import PASSWORD, make_staff, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Shoot = Callable[[Page, str], Path]
SCRIPT = "<script>window.__pwned=1;alert(1)</script>"
IMG = '<img src=x onerror="window.__pwned=1;alert(2)">'
BOLD = '<b id="injected">bold</b>'
ATTR = '"><svg onload=window.__pwned=1>'
MARKDOWN = "[click me](javascript:window.__pwned=1) **strong** ![i](x)"


def payload(field: str) -> str:
    return f"{field}: {SCRIPT} {IMG} {BOLD} {ATTR} {MARKDOWN}\n{field} second line"


# Affected systems must be URLs or hosts: the payloads go in paths and queries (no spaces).
SYSTEMS = [
    'https://x.example.org/"><script>window.__pwned=1</script>',
    "https://y.example.org/?q=<img/src=x/onerror=window.__pwned=1><b/id=injected>b</b>",
]
EMAIL = '"<svg/onload=window.__pwned=1>"@example.org'
NAME = f"name: {SCRIPT} {IMG} {BOLD} {ATTR}"  # at most 200 characters
FILE_NAMES = ["<img src=x onerror=window.__pwned=1>.txt", "<b id=injected>x.html"]
FILE_TYPE = 'text/html"><b id=injected>t</b>'


def hostile_report() -> Report:
    files = [
        SimpleUploadedFile(name, b"<script>alert(3)</script>", FILE_TYPE) for name in FILE_NAMES
    ]
    sent = submit(
        Client(),
        files={"attachments": files},
        affected_systems="\n".join(SYSTEMS),
        description=payload("description"),
        steps=payload("steps"),
        impact=payload("impact"),
        references="https://r.example.org/<script>window.__pwned=1</script>\n"
        + "https://r.example.org/?<b id=injected>",
        name=NAME,
        email=EMAIL,
        credit="pseudonym",
        disclosure_date="2099-12-31",
    )
    finder = Client()
    assert finder.post("/status/", {"code": sent.code}).status_code == 303
    reply = {"text": payload("message"), "attachments": [SimpleUploadedFile(FILE_NAMES[1], b"x")]}
    assert finder.post("/status/reply/", reply).status_code == 303
    return sent.report


def sign_in_with_totp(page: Page, base: str, user: Any) -> None:
    page.goto(base + "/triage/login/?next=/triage/")
    page.get_by_label("E-mail address or user name").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    press(page, "Continue")
    code = pyotp.TOTP(StaffProfile.objects.get(user=user).totp["secret"]).now()
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(code)
    press(page, "Sign in")


def press(page: Page, button: str) -> None:
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=button, exact=True).click()
    response = navigation.value
    assert response is not None and response.status == 200, f"{button!r} led to {page.url}"


def assert_inert(page: Page, dialogs: list[str]) -> None:
    """No payload ran and none became markup."""
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    main = page.locator("main")
    assert main.locator("b#injected, #injected").count() == 0
    assert main.locator("script, img, svg, iframe").count() == 0
    assert page.locator("a[href^='javascript:' i]").count() == 0
    assert main.locator("strong", has_text="strong").count() == 0


def test_it_shows_a_hostile_report_to_the_team_as_plain_text(
    staff_page: tuple[Page, Traffic, list[str]], live_server: Any, shoot: Shoot
) -> None:
    page, traffic, dialogs = staff_page
    report = hostile_report()
    alice = make_staff("alice@example.org", "triager")
    sign_in_with_totp(page, live_server.url, alice)

    # The inbox: only clear columns, but it must stay inert all the same.
    expect(page.locator("h1")).to_have_text("Inbox")
    expect(page.locator("table.inbox tbody tr")).to_have_count(1)
    assert_inert(page, dialogs)
    shoot(page, "staff-01-inbox")
    traffic.assert_clean()

    # The report: every payload visible as the text the finder typed.
    with page.expect_navigation():
        page.get_by_role("link", name=report.reference).click()
    expect(page.locator("h1")).to_have_text(f"Report {report.reference}")
    for field in ("description", "steps", "impact"):
        expect(page.locator(f"#{field}")).to_contain_text(f"{field}: {SCRIPT} {IMG} {BOLD}")
        expect(page.locator(f"#{field}")).to_contain_text(MARKDOWN)
        expect(page.locator(f"#{field} br")).to_have_count(1)
    for system in SYSTEMS:
        expect(page.locator("#affected-systems")).to_contain_text(system)
    expect(page.locator("#references")).to_contain_text("<script>window.__pwned=1</script>")
    expect(page.locator("#finder-name")).to_have_text(NAME)
    expect(page.locator("#finder-email")).to_have_text(EMAIL)
    files = page.locator("#attachments")
    for name in FILE_NAMES:
        expect(files).to_contain_text(name)
    expect(files).to_contain_text(FILE_TYPE)
    message = page.locator("article.message.finder")
    expect(message.locator(".body")).to_contain_text(f"message: {SCRIPT} {IMG}")
    expect(message.locator(".files")).to_contain_text(FILE_NAMES[1])
    assert_inert(page, dialogs)
    shoot(page, "staff-02-detail")
    traffic.assert_clean()

    # A note written by the team is text too, and comes back through the real form.
    page.get_by_label("Internal note", exact=True).fill(payload("note"))
    press(page, "Add note")
    expect(page.locator(".notices")).to_contain_text("Your note has been added.")
    expect(page.locator("article.message.note .body")).to_contain_text(f"note: {SCRIPT}")
    assert_inert(page, dialogs)
    shoot(page, "staff-03-note")
    traffic.assert_clean()
