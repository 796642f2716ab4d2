"""Debian's headless Chromium, driven by Playwright with JavaScript off (Tor Browser "safest")."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "browser"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium package to run browser tests"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    # Playwright's sync API keeps an event loop running in this thread, which makes Django
    # refuse ORM calls (the test's own checks, the transactional flush) as "async-unsafe".
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        # The distribution's browser: `playwright install` cannot download here.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Traffic:
    """What a page requested and complained about, to hold against a single origin."""

    origin: str
    requests: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("request", self._request)
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _failed(self, request: Request) -> None:
        # The browser fetches the icon on its own after a page loaded; the test's next
        # navigation can cancel that fetch (seen in CI): that is the browser, not the site.
        if request.failure == "net::ERR_ABORTED" and request.url.endswith("/favicon.svg"):
            return
        self.failures.append(f"{request.failure} {request.url}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.failures.append(f"{response.status} {response.url}")

    def _console(self, message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        if message.type != "error":
            return
        self.console_errors.append(f"{message.text} ({url})")

    def assert_clean(self) -> None:
        assert self.requests, "no requests were recorded"
        foreign = [url for url in self.requests if not url.startswith(self.origin + "/")]
        assert not foreign, f"requests to another origin: {foreign}"
        assert not self.failures, f"failed requests: {self.failures}"
        assert not self.console_errors, f"console errors: {self.console_errors}"
        self.requests.clear()


def _open_page(browser: Browser, origin: str, **options: Any) -> tuple[Page, Traffic]:
    context = browser.new_context(
        java_script_enabled=False,
        locale="en-GB",
        extra_http_headers={"Accept-Language": "en"},
        **options,
    )
    page = context.new_page()
    traffic = Traffic(origin)
    traffic.watch(page)
    return page, traffic


@pytest.fixture
def finder(browser: Browser, live_server: Any) -> Iterator[tuple[Page, Traffic]]:
    """A desktop-sized page with no JavaScript, and a log of its traffic."""
    page, traffic = _open_page(browser, live_server.url)
    yield page, traffic
    page.context.close()


@pytest.fixture
def phone(browser: Browser, live_server: Any) -> Iterator[tuple[Page, Traffic]]:
    page, traffic = _open_page(browser, live_server.url, **PHONE)
    yield page, traffic
    page.context.close()


@pytest.fixture
def shoot() -> Callable[[Page, str], Path]:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)

    def screenshot(page: Page, name: str) -> Path:
        path = ARTEFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return screenshot


@pytest.fixture
def staff_page(browser: Browser, live_server: Any) -> Iterator[tuple[Page, Traffic, list[str]]]:
    """A desktop page with JavaScript ON and the CSP bypassed, and a log of dialogs."""
    context = browser.new_context(
        java_script_enabled=True,
        bypass_csp=True,
        locale="en-GB",
        extra_http_headers={"Accept-Language": "en"},
        viewport={"width": 1280, "height": 900},
    )
    page = context.new_page()
    traffic = Traffic(live_server.url)
    traffic.watch(page)
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield page, traffic, dialogs
    context.close()
