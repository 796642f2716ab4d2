"""/api/v1/docs in Chromium with JavaScript on and our policy enforced: Swagger UI renders
the operations with no policy violation and no request beyond this server."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Browser, ConsoleMessage, expect

from tests.conftest import make_staff, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before the page's own scripts (Playwright injects it; the page's policy does not apply).
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""
LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


def test_the_docs_page_renders_the_operations_within_the_policy(
    browser: Browser, live_server: Any, shoot: Any
) -> None:
    alice = make_staff("alice@example.org", "triager")
    cookie = settings.SESSION_COOKIE_NAME
    session = sign_in(Client(), alice).cookies[cookie].value
    context = browser.new_context(
        java_script_enabled=True,  # bypass_csp stays off: the real policy applies
        locale="en-GB",
        viewport={"width": 1280, "height": 900},
    )
    context.add_cookies([{"name": cookie, "value": session, "url": live_server.url}])
    page = context.new_page()
    page.add_init_script(WATCH_VIOLATIONS)
    requests: list[str] = []
    console: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    def on_console(message: ConsoleMessage) -> None:
        if message.type in {"error", "warning"}:
            console.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: console.append(str(error)))
    try:
        response = page.goto(f"{live_server.url}/api/v1/docs")
        assert response is not None and response.status == 200
        expect(page.get_by_text("List reports", exact=True)).to_be_visible(timeout=20_000)
        expect(page.locator(".opblock")).not_to_have_count(0)
        # Open one operation: its parameters and schemas render too.
        page.get_by_text("List reports", exact=True).click()
        expect(page.locator(".opblock.is-open .parameters")).to_be_visible()
        shoot(page, "api-docs")
        violations = page.evaluate("window.__violations")
    finally:
        context.close()
    assert violations == []
    assert [m for m in console if "Content Security Policy" in m] == []
    assert console == []
    foreign = [url for url in requests if not _loopback(url)]
    assert foreign == []
    assert any(url.endswith("/api/v1/openapi.json") for url in requests)


def _loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and (parts.hostname or "") in LOOPBACK
