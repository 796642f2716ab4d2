"""A finder reports, reads the receipt and replies, in Chromium with JavaScript disabled."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.utils import formats, timezone, translation
from playwright.sync_api import Page, expect

from meldpunt.reports.models import Message, Report
from tests.browser.conftest import Traffic

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Shoot = Callable[[Page, str], Path]
DESCRIPTION = "Reflected XSS in the q parameter of the search page."
REPLY = "The payload also works in the lang parameter.\nSecond line."


def press(page: Page, button: str) -> None:
    """Click a submit button and insist the page it leads to (after redirects) is a 200."""
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=button, exact=True).click()
    response = navigation.value
    assert response is not None and response.status == 200, (
        f"{button!r} led to {response and response.status} {page.url}: "
        + page.locator("body").inner_text()[:300]
    )


def fill_report(page: Page, tmp_path: Path) -> None:
    proof = tmp_path / "poc.txt"
    proof.write_text("<script>alert(1)</script>\n")
    page.get_by_label("Affected system(s)").fill("https://portal.example.org/search\n192.0.2.10")
    page.get_by_label("Kind of vulnerability").select_option("xss")
    page.get_by_label("Description").fill(DESCRIPTION)
    page.get_by_label("Steps to reproduce").fill("Open /search?q=<script>alert(1)</script>")
    page.get_by_label("Impact").fill("Session theft for any logged-in customer.")
    page.get_by_label("Attachments").set_input_files(proof)
    page.get_by_label("I have followed the rules of the disclosure policy").check()


def test_it_walks_the_finder_from_policy_to_reply(
    finder: tuple[Page, Traffic], live_server: Any, shoot: Shoot, tmp_path: Path
) -> None:
    page, traffic = finder
    base = live_server.url

    # 1. The policy page.
    page.goto(base + "/")
    expect(page.locator("h1")).to_have_text("Responsible disclosure policy")
    cta = page.locator("main").get_by_role("link", name="Report a vulnerability")
    expect(cta).to_have_attribute("href", "/report/")
    shoot(page, "01-policy")
    assert any(url.endswith(".css") for url in traffic.requests), "no stylesheet was loaded"
    traffic.assert_clean()

    # 2. The report form, filled in and sent.
    page.goto(base + "/report/")
    expect(page.locator("h1")).to_have_text("Report a vulnerability")
    fill_report(page, tmp_path)
    shoot(page, "02-report-filled")
    traffic.assert_clean()
    press(page, "Send report")

    # 3. The receipt, shown once.
    expect(page.locator("h1")).to_have_text("Thank you: we received your report")
    reference = page.locator("#reference").inner_text().strip()
    code = page.locator("#receipt-code").inner_text().strip()
    assert re.fullmatch(r"MP-\d{4}-\d{4,}", reference)
    assert re.fullmatch(r"([0-9A-Z]{4}-){4}[0-9A-Z]{4}", code)
    report = Report.objects.by_reference(reference)
    assert report is not None
    with translation.override("en"):
        due = formats.date_format(timezone.localtime(report.response_due_at), "DATE_FORMAT")
    expect(page.locator("#response-due")).to_have_text(due)
    shoot(page, "03-receipt")
    traffic.assert_clean()

    # 4. The status page, opened with the receipt code.
    page.goto(base + "/status/")
    page.get_by_label("Receipt code").fill(code)
    press(page, "Open my report")
    expect(page.locator("h1")).to_have_text(f"Report {reference}")
    expect(page.locator("#status")).to_contain_text("Received")
    expect(page.locator("main")).to_contain_text("poc.txt")
    shoot(page, "04-status")
    traffic.assert_clean()

    # 5. A reply with an attachment, back in the thread.
    log = tmp_path / "server.log"
    log.write_text("GET /search?q=%3Cscript%3E 200\n")
    page.get_by_label("Your message").fill(REPLY)
    page.get_by_label("Attachments").set_input_files(log)
    press(page, "Send")
    expect(page.locator(".notices")).to_contain_text("Your message has been sent")
    sent = page.locator("article.message.finder")
    expect(sent).to_have_count(1)
    expect(sent.locator(".body")).to_contain_text("The payload also works in the lang parameter.")
    expect(sent.locator(".files")).to_contain_text("server.log")
    shoot(page, "05-reply")
    traffic.assert_clean()

    # 6. What was stored, sealed and readable again.
    report.refresh_from_db()
    assert report.content["description"] == DESCRIPTION
    assert report.content["affected_systems"] == ["https://portal.example.org/search", "192.0.2.10"]
    assert report.category == "xss"
    assert [a.meta["name"] for a in report.attachments.filter(message=None)] == ["poc.txt"]
    message = Message.objects.get(report=report)
    assert message.author == "finder"
    # Browsers send textarea line breaks as CRLF.
    assert message.body["text"].splitlines() == REPLY.splitlines()
    assert REPLY.encode() not in bytes(message.body_blob)
    assert [a.meta["name"] for a in message.attachments.all()] == ["server.log"]


def test_it_fits_the_report_form_on_a_phone(
    phone: tuple[Page, Traffic], live_server: Any, shoot: Shoot
) -> None:
    page, traffic = phone
    page.goto(live_server.url + "/report/")
    expect(page.locator("h1")).to_have_text("Report a vulnerability")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the form scrolls sideways on a phone ({width}px wide)"
    shoot(page, "06-report-phone")
    traffic.assert_clean()
