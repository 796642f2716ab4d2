"""The report form's out-of-scope note: a warning only for an excluded category (JavaScript
on, under the site's own strict CSP), and calm guidance for everyone without JavaScript."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Traffic

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scripted(browser: Browser, live_server: Any) -> Iterator[tuple[Page, Traffic]]:
    """A desktop page with JavaScript on and the CSP enforced (no bypass)."""
    context = browser.new_context(
        java_script_enabled=True,
        locale="en-GB",
        extra_http_headers={"Accept-Language": "en"},
        viewport={"width": 1280, "height": 900},
    )
    page = context.new_page()
    traffic = Traffic(live_server.url)
    traffic.watch(page)
    yield page, traffic
    context.close()


def test_it_shows_the_note_only_for_an_out_of_scope_category(
    scripted: tuple[Page, Traffic], live_server: Any
) -> None:
    page, traffic = scripted
    page.goto(live_server.url + "/report/")
    note = page.locator("#out-of-scope-note")
    category = page.get_by_label("Kind of vulnerability")
    expect(note).to_be_hidden()
    category.select_option("xss")
    expect(note).to_be_hidden()
    category.select_option("social_engineering")
    expect(note).to_be_visible()
    expect(note).to_have_class("warning")
    expect(page.get_by_label("I understand this category is out of scope")).to_be_visible()
    category.select_option("injection")
    expect(note).to_be_hidden()
    traffic.assert_clean()  # no CSP violation, no script error


def test_it_reads_as_guidance_without_javascript(
    finder: tuple[Page, Traffic], live_server: Any, shoot: Callable[[Page, str], Path]
) -> None:
    page, traffic = finder
    page.goto(live_server.url + "/report/")
    note = page.locator("#out-of-scope-note")
    expect(note).to_be_visible()
    expect(note).to_have_class("guidance")
    expect(note).to_contain_text("Good to know")
    colours = page.evaluate(
        """() => [document.querySelector('#out-of-scope-note'), document.querySelector('.warning')]
            .map(e => e && getComputedStyle(e).borderLeftColor)"""
    )
    warning_line = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--warn-line').trim()"
    )
    assert colours[1] is None, "no warning box on the form before anything was sent"
    assert warning_line not in colours[0]
    note.scroll_into_view_if_needed()
    shoot(page, "report-form-out-of-scope-guidance")
    traffic.assert_clean()
