"""With JavaScript on, the report form solves its proof-of-work by itself, under the CSP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from playwright.sync_api import Browser, expect

from meldpunt.reports.models import Report
from tests.browser.conftest import Traffic
from tests.browser.test_finder_journey import fill_report

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# No report at all without a solution: only the page's own script can get this one through.
@override_settings(
    MELDPUNT_PROOF_OF_WORK=True, MELDPUNT_POW_MAX_NUMBER=20_000, MELDPUNT_SUBMIT_NOPOW_LIMIT=0
)
def test_the_form_solves_its_challenge_and_is_accepted(
    browser: Browser, live_server: Any, tmp_path: Path
) -> None:
    context = browser.new_context(java_script_enabled=True, locale="en-GB")
    page = context.new_page()
    traffic = Traffic(live_server.url)
    traffic.watch(page)
    try:
        page.goto(live_server.url + "/report/")
        fill_report(page, tmp_path)
        with page.expect_navigation(timeout=60_000):
            page.get_by_role("button", name="Send report").click()
        expect(page.locator("#receipt-code")).to_be_visible()
        assert Report.objects.count() == 1
        traffic.assert_clean()  # no CSP violation, nothing from another origin
    finally:
        context.close()
