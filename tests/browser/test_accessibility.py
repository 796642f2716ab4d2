"""The finder's and the staff's main pages have no axe-core violations, in nl, en and fr."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Browser, BrowserContext

from tests.site_tour import LANGUAGES, open_desk, tool

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FINDER_PAGES = {"policy", "report-form", "status-login", "advisories", "advisory"}
STAFF_PAGES = {
    "inbox",
    "report",
    "report-exploited",
    "advisory-draft",
    "advisory-published",
    "metrics",
    "audit-log",
    "staff-accounts",
    "staff-member",
}


def context_for(browser: Browser, origin: str, client: Client) -> BrowserContext:
    """A browser with JavaScript (axe needs it) holding the session of a test client."""
    # The CSP forbids the inline script that carries axe into the page.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    cookies: list[Any] = [
        {"name": name, "value": morsel.value, "url": origin}
        for name, morsel in client.cookies.items()
    ]
    context.add_cookies(cookies)
    return context


def test_it_has_no_accessibility_violations(
    browser: Browser, live_server: Any, settings: Any
) -> None:
    settings.MELDPUNT_CRA_MANUFACTURER = True  # the legal reporting clocks are toured too
    settings.MELDPUNT_NIS2_ENTITY = True
    axe = tool("axe-core/axe.min.js")
    desk = open_desk()
    origin = live_server.url
    tours = [
        (desk.visitor, [(n, p) for n, p in desk.public if n in FINDER_PAGES]),
        (desk.finder, desk.finder_pages),
        (desk.staff, [(n, p) for n, p in desk.staff_pages if n in STAFF_PAGES]),
    ]
    found: list[str] = []
    visited = 0
    for client, pages in tours:
        context = context_for(browser, origin, client)
        page = context.new_page()
        for language in LANGUAGES:
            context.add_cookies([{"name": "django_language", "value": language, "url": origin}])
            for name, path in pages:
                response = page.goto(origin + path)
                assert response is not None and response.ok, f"{language} {path}"
                assert page.get_attribute("html", "lang") == language, f"{language} {path}"
                page.add_script_tag(path=axe)
                result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
                visited += 1
                found += [
                    f"{language}-{name} {path}: {v['id']} ({v['impact']}) "
                    f"{[node['target'] for node in v['nodes']]}"
                    for v in result["violations"]
                ]
        context.close()
    assert visited == 3 * 16
    assert not found, f"{len(found)} axe violations:\n" + "\n".join(found)
