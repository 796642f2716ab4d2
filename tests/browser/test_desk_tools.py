"""Issue 16's walk, JavaScript off: a triager tags two reports, saves the tag's filter as a
view, opens it from the inbox menu and assigns both reports at once."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Browser, expect

from meldpunt.reports.models import Report, SavedView, Tag
from tests.browser.conftest import _open_page
from tests.browser.test_staff_xss import press, sign_in_with_totp
from tests.conftest import make_staff, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_triager_tags_two_reports_and_assigns_them_from_a_saved_view(
    browser: Browser, live_server: Any, shoot: Any
) -> None:
    Tag.objects.create(name="payments", colour="red", description="Checkout flow")
    first = submit(Client(), description="IDOR on /orders/42.").report
    second = submit(Client(), description="Price changed in the basket request.").report
    other = submit(Client(), description="Unrelated report.").report
    alice = make_staff("alice@example.org", "triager")
    make_staff("bob@example.org", "triager")
    base = live_server.url
    page, traffic = _open_page(browser, base)
    sign_in_with_totp(page, base, alice)

    for report in (first, second):
        page.goto(f"{base}/triage/reports/{report.uid}/")
        page.locator("#tags-form").get_by_label("payments").check()
        press(page, "Save the tags")
        expect(page.locator("#tags [data-tag='payments']")).to_be_visible()

    page.goto(f"{base}/triage/")
    page.locator("form.filters").get_by_label("Tag").select_option(label="payments")
    press(page, "Show")
    page.get_by_label("Save these filters as").fill("Payments")
    press(page, "Save the view")
    view = SavedView.objects.get(name="Payments")
    assert view.owner == alice

    page.goto(f"{base}/triage/")
    with page.expect_navigation():
        page.locator("#saved-views").get_by_role("link", name="Payments").click()
    expect(page.locator("#count")).to_contain_text("2 reports")
    expect(page.get_by_role("link", name=other.reference)).to_have_count(0)
    shoot(page, "desk-01-saved-view")
    for report in (first, second):
        page.get_by_label(f"Select {report.reference}").check()
    page.locator("#bulk").get_by_label("Assign to").select_option(label="bob@example.org")
    press(page, "Assign the selected reports")
    shoot(page, "desk-02-assigned")
    traffic.assert_clean()

    assigned = {
        r.reference: r.assignee.username if r.assignee else None for r in Report.objects.all()
    }
    assert assigned[first.reference] == assigned[second.reference] == "bob@example.org"
    assert assigned[other.reference] is None
    for report in (first, second):
        assert report.events.filter(kind="assessed").exists()  # each its own event
