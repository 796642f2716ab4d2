"""A triager marks a report actively exploited (the finder said so), sees the 24 h CRA clock,
records the early warning as sent, and the promise ledger shows it kept. JavaScript off."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Browser, expect

from meldpunt.reports import regulatory
from meldpunt.reports.models import Promise
from tests.browser.conftest import _open_page
from tests.browser.test_staff_xss import press, sign_in_with_totp
from tests.conftest import make_staff, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_triager_runs_the_cra_early_warning(
    browser: Browser, live_server: Any, shoot: Any, settings: Any
) -> None:
    settings.MELDPUNT_CRA_MANUFACTURER = True
    # The finder did not know it was exploited; the team learns it and marks the report.
    sent = submit(Client(), exploited="no", description="Exploited in the wild.")
    report = sent.report
    alice = make_staff("alice@example.org", "triager")
    base = live_server.url
    page, traffic = _open_page(browser, base)
    sign_in_with_totp(page, base, alice)
    page.goto(f"{base}/triage/reports/{report.uid}/")

    # No clock runs until someone marks it.
    expect(page.locator("#regulatory-steps")).to_have_count(0)
    page.get_by_label("Actively exploited (CRA)").check()
    press(page, "Save the legal reporting flags")

    # The 24 h clock, from the moment of marking (no earlier moment was given).
    early = page.locator('li[data-step="cra_early_warning"]')
    expect(early).to_be_visible()
    due = early.locator("time.due").get_attribute("datetime")
    assert due is not None
    promise = Promise.objects.get(report=report, kind="cra_early_warning")
    aware = regulatory.current_flags(report).exploited_aware_at
    assert aware is not None and promise.due_at == aware + timedelta(hours=24)
    assert datetime.fromisoformat(due) == promise.due_at.replace(microsecond=0)  # HTML: seconds
    expect(early).to_contain_text("left")
    expect(page.locator('li[data-step="cra_notification"]')).to_be_visible()
    shoot(page, "clocks-01-early-warning-due")

    # The draft to copy names the product; then the submission is recorded.
    early.locator("summary").click()
    expect(early.locator("textarea.draft")).to_contain_text("https://portal.example.org/login")
    early.get_by_label("Submitted via").select_option(label="ENISA single reporting platform")
    early.get_by_label("Authority's reference").fill("SRP-2026-0042")
    with page.expect_navigation():
        early.get_by_role("button", name="Record as sent").click()

    kept = page.locator('#promises tr[data-promise="cra_early_warning"]')
    expect(kept).to_have_attribute("data-promise-state", "kept")
    expect(kept).to_contain_text("SRP-2026-0042")
    expect(page.locator('li[data-step="cra_early_warning"]')).to_contain_text("SRP-2026-0042")
    shoot(page, "clocks-02-early-warning-kept")
    traffic.assert_clean()
    assert Promise.objects.get(report=report, kind="cra_early_warning").state == "kept"
