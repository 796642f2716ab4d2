"""The public advisories table: every column in view on a laptop, and titles that wrap
instead of being cut on a phone (JavaScript off, as for every public page)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.advisories import XSS_40, content, publish
from tests.browser.conftest import Traffic

Shoot = Callable[[Page, str], Path]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_TITLE = (
    "Stored cross-site scripting in the customer portal's invoice upload lets an attacker "
    "run script in the browser of every clerk who opens the invoice list"
)


@pytest.fixture
def listed(db: Any) -> None:
    publish(
        "MPSA-2026-0001",
        content(title=LONG_TITLE, cvss40_vector=XSS_40),
        at=datetime(2026, 1, 10, 8, 0, tzinfo=UTC),
        revisions=2,
    )
    publish("MPSA-2026-0002", content(title="Open redirect"), at=datetime(2026, 2, 1, tzinfo=UTC))


def in_view(page: Page, selector: str) -> bool:
    """The element lies within the viewport's width and is not scrolled out of its box."""
    return bool(
        page.evaluate(
            """(selector) => [...document.querySelectorAll(selector)].every(e => {
                const r = e.getBoundingClientRect();
                return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth;
            })""",
            selector,
        )
    )


def assert_all_columns_in_view(page: Page) -> None:
    for label in ("Advisory", "Title", "Published", "Severity"):
        expect(page.get_by_text(label, exact=True).first).to_be_attached()
    for column in ("th[scope=row]", "td:nth-child(2)", "td:nth-child(3)", "td.severity"):
        assert in_view(page, f"#advisories tbody {column}"), f"{column} is out of view"
    scroll = page.evaluate(
        "(() => { const s = document.querySelector('.table-scroll');"
        " return [s.scrollWidth, s.clientWidth]; })()"
    )
    assert scroll[0] <= scroll[1], f"the table scrolls sideways: {scroll}"
    overlaps = page.evaluate(
        """() => [...document.querySelectorAll('#advisories tbody tr')].filter(row => {
            const cells = [...row.children].map(c => c.getBoundingClientRect());
            return cells.some((a, i) => cells.some((b, j) => i < j && a.left < b.right
                && b.left < a.right && a.top < b.bottom && b.top < a.bottom));
        }).length"""
    )
    assert overlaps == 0, "cells of a row lie on top of one another"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page scrolls sideways ({width}px)"  # type: ignore[index]


def assert_title_wraps(page: Page) -> None:
    title = page.locator("#advisories tbody td", has_text="Stored cross-site scripting")
    expect(title).to_be_visible()
    box = title.bounding_box()
    assert box is not None
    line = float(title.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)"))
    assert box["height"] > 1.5 * line, "the long title stays on one line"
    assert title.evaluate("e => getComputedStyle(e).whiteSpace") != "nowrap"
    assert title.evaluate("e => e.scrollWidth <= e.clientWidth"), "the title is cut"


def test_it_shows_every_column_at_1280_by_900(
    browser: Any, live_server: Any, listed: None, shoot: Shoot
) -> None:
    context = browser.new_context(
        java_script_enabled=False,
        locale="en-GB",
        extra_http_headers={"Accept-Language": "en"},
        viewport={"width": 1280, "height": 900},
    )
    page = context.new_page()
    traffic = Traffic(live_server.url)
    traffic.watch(page)
    page.goto(live_server.url + "/advisories/")
    assert_all_columns_in_view(page)
    assert_title_wraps(page)
    shoot(page, "advisories-1280")
    traffic.assert_clean()
    context.close()


def test_it_wraps_titles_on_a_phone(
    phone: tuple[Page, Traffic], live_server: Any, listed: None, shoot: Shoot
) -> None:
    page, traffic = phone
    page.goto(live_server.url + "/advisories/")
    assert_all_columns_in_view(page)
    assert_title_wraps(page)
    expect(page.locator("#advisories tbody td.severity").first).to_contain_text("CVSS")
    shoot(page, "advisories-phone")
    traffic.assert_clean()
