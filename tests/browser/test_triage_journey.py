"""A triager signs in with TOTP, assesses a report and sends the first response;
the finder then reads it on /status/. JavaScript is off, as in Tor Browser's safest mode."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Browser, expect

from meldpunt.reports.models import Message, Report
from tests.browser.conftest import _open_page
from tests.browser.test_staff_xss import press, sign_in_with_totp
from tests.conftest import make_staff, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ANSWER = "Thank you. We confirm the issue and expect to fix it by mid-December."


def test_it_takes_a_report_from_received_to_answered(browser: Browser, live_server: Any, shoot):
    sent = submit(Client(), description="Reflected XSS in search.")
    alice = make_staff("alice@example.org", "triager")
    base = live_server.url
    page, traffic = _open_page(browser, base)

    sign_in_with_totp(page, base, alice)
    expect(page.get_by_role("link", name=sent.report.reference)).to_be_visible()
    shoot(page, "triage-01-inbox")
    press_link = page.get_by_role("link", name=sent.report.reference)
    with page.expect_navigation():
        press_link.click()
    expect(page.get_by_text("Reflected XSS in search.")).to_be_visible()

    fix_date = (timezone.localdate() + timedelta(days=14)).isoformat()
    page.get_by_label("Validity").select_option("yes")
    page.get_by_label("Scope", exact=True).select_option("yes")  # not CVSS "Scope (S)"
    page.get_by_label("CVSS 3.1 vector").fill("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N")
    page.get_by_label("Weakness (CWE)").fill("CWE-79")
    page.get_by_label("Expected fix date").fill(fix_date)
    press(page, "Save the assessment")
    expect(page.locator("#cvss")).to_contain_text("6.1")
    shoot(page, "triage-02-assessed")

    press(page, "Write a message")
    page.get_by_label("Message to the finder").fill(ANSWER)
    shoot(page, "triage-03-compose")
    press(page, "Send as the first response")
    traffic.assert_clean()

    report = Report.objects.get(pk=sent.report.pk)
    assert report.state == "triaged"
    assert report.first_response_kept is True
    assert str(report.expected_fix_date) == fix_date
    assert Message.objects.get(report=report, is_first_response=True).body["text"] == ANSWER

    finder, finder_traffic = _open_page(browser, base)
    finder.goto(base + "/status/")
    finder.get_by_label("Receipt code").fill(sent.code)
    press(finder, "Open my report")
    expect(finder.locator("#status")).to_contain_text("Assessed")
    expect(finder.get_by_text(ANSWER)).to_be_visible()
    shoot(finder, "triage-04-finder-sees-answer")
    finder_traffic.assert_clean()
