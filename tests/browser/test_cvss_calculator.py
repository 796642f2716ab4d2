"""A triager uses the CVSS calculator and the CWE picker, with JavaScript off and on."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Browser, Page, expect

from meldpunt.reports.models import Report
from tests.browser.conftest import Traffic, _open_page
from tests.browser.test_staff_xss import press, sign_in_with_totp
from tests.conftest import make_staff, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

V40_BASE = {
    "Attack Vector (AV)": "Network", "Attack Complexity (AC)": "Low",
    "Attack Requirements (AT)": "None", "Privileges Required (PR)": "None",
    "User Interaction (UI)": "None",
    "Vulnerable System Confidentiality (VC)": "High",
    "Vulnerable System Integrity (VI)": "High",
    "Vulnerable System Availability (VA)": "High",
    "Subsequent System Confidentiality (SC)": "None",
    "Subsequent System Integrity (SI)": "None",
    "Subsequent System Availability (SA)": "None",
}  # fmt: skip


def calculator(page: Page, version: str) -> Any:
    return page.locator(f'fieldset[data-cvss-version="{version}"]')


def open_report(page: Page, base: str, report: Report) -> None:
    alice = make_staff("alice@example.org", "triager")
    sign_in_with_totp(page, base, alice)
    page.goto(f"{base}/triage/reports/{report.uid}/")


def test_it_scores_the_chosen_metrics_and_picks_a_cwe_without_javascript(
    browser: Browser, live_server: Any
) -> None:
    report = submit(Client()).report
    page, traffic = _open_page(browser, live_server.url)
    open_report(page, live_server.url, report)
    expect(calculator(page, "4.0").locator(".cvss-live")).to_be_hidden()
    for label, value in V40_BASE.items():
        calculator(page, "4.0").get_by_label(label, exact=True).select_option(label=value)
    page.get_by_label("Search the CWE list by number or words").fill("cross-site scripting")
    press(page, "Search")
    with page.expect_navigation():
        page.get_by_role("link", name="CWE-79", exact=True).click()
    expect(page.get_by_label("Weakness (CWE)", exact=True)).to_have_value("CWE-79")
    # The search page was a round trip: choose again, as on a fresh page, then save.
    for label, value in V40_BASE.items():
        calculator(page, "4.0").get_by_label(label, exact=True).select_option(label=value)
    press(page, "Save the assessment")
    expect(page.locator("#cvss")).to_contain_text(
        "9.3 CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    )
    expect(page.locator("#cwe")).to_contain_text("CWE-79: Improper Neutralization of Input")
    traffic.assert_clean()
    report.refresh_from_db()
    assert (report.cvss40_score, report.cwe) == (Decimal("9.3"), "CWE-79")


def test_it_updates_the_vector_live_and_fills_the_choices_from_a_paste(
    browser: Browser, live_server: Any
) -> None:
    report = submit(Client()).report
    context = browser.new_context(
        java_script_enabled=True, locale="en-GB", extra_http_headers={"Accept-Language": "en"}
    )
    page = context.new_page()
    traffic = Traffic(live_server.url)
    traffic.watch(page)  # a CSP refusal is a console error, and fails assert_clean
    try:
        open_report(page, live_server.url, report)
        assert any(url.endswith("/static/meldpunt/cvss.js") for url in traffic.requests)
        box = calculator(page, "3.1")
        vector = box.get_by_label("CVSS 3.1 vector")
        for label, value in [
            ("Attack Vector (AV)", "Network"), ("Attack Complexity (AC)", "Low"),
            ("Privileges Required (PR)", "None"), ("User Interaction (UI)", "Required"),
            ("Scope (S)", "Changed"), ("Confidentiality (C)", "Low"),
            ("Integrity (I)", "Low"),
        ]:  # fmt: skip
            box.get_by_label(label, exact=True).select_option(label=value)
        expect(box.locator("output")).to_contain_text("Still to choose: A")
        box.get_by_label("Availability (A)", exact=True).select_option(label="None")
        built = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"
        expect(vector).to_have_value(built)
        expect(box.locator("output")).to_have_text(f"{built} · score computed on save")

        pasted = "CVSS:4.0/AV:L/AC:H/AT:P/PR:L/UI:A/VC:L/VI:N/VA:N/SC:H/SI:L/SA:N/E:U"
        other = calculator(page, "4.0")
        other.get_by_label("CVSS 4.0 vector").fill(pasted)
        expect(other.get_by_label("User Interaction (UI)", exact=True)).to_have_value("A")
        expect(other.get_by_label("Subsequent System Confidentiality (SC)")).to_have_value("H")
        other.get_by_label("Attack Vector (AV)", exact=True).select_option(label="Network")
        kept = pasted.replace("AV:L", "AV:N")
        expect(other.get_by_label("CVSS 4.0 vector")).to_have_value(kept)

        cwe = page.get_by_label("Weakness (CWE)", exact=True)
        with page.expect_response(lambda r: "/triage/cwe/suggest.json" in r.url):
            cwe.fill("sql inj")
        expect(page.locator('#cwe-suggestions option[value="CWE-89"]')).to_have_count(1)
        # Typing asks for suggestions again; let that answer arrive before the page leaves,
        # or the navigation aborts it (a race of the test, not a failure of the page).
        with page.expect_response(lambda r: "/triage/cwe/suggest.json?q=CWE-89" in r.url):
            cwe.fill("CWE-89")
        press(page, "Save the assessment")
        traffic.assert_clean()
        report.refresh_from_db()
        assert (report.cvss31_vector, report.cvss31_score) == (built, Decimal("6.1"))
        assert report.cvss40_vector == kept and report.cwe == "CWE-89"
    finally:
        context.close()
