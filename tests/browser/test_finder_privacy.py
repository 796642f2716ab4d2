"""A finder downloads their data and erases their contact details, in Chromium without JS."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from meldpunt.reports.models import Event, Report
from tests.browser.conftest import Traffic
from tests.browser.test_finder_journey import press
from tests.conftest import submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Shoot = Callable[[Page, str], Path]


def test_it_lets_the_finder_export_and_then_erase_their_data(
    finder: tuple[Page, Traffic], live_server: Any, shoot: Shoot
) -> None:
    page, traffic = finder
    sent = submit(Client(), name="Rita Rivers", email="rita@example.net", description="MY-REPORT")
    page.goto(live_server.url + "/status/")
    page.get_by_label("Receipt code").fill(sent.code)
    press(page, "Open my report")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download my data (JSON)").click()
    download = download_info.value
    assert download.suggested_filename == f"{sent.report.reference}.json"
    doc = json.loads(Path(download.path()).read_text())
    assert doc["report"]["description"] == "MY-REPORT"
    assert doc["about_you"]["email"] == "rita@example.net"

    # Without the confirmation nothing happens, and the page says why.
    with page.expect_navigation():
        page.get_by_role("button", name="Erase my contact data").click()
    assert Report.objects.get(pk=sent.report.pk).finder["email"] == "rita@example.net"
    page.get_by_label("Yes, erase my name").check()
    press(page, "Erase my contact data")
    expect(page.locator("#erased")).to_be_visible()
    shoot(page, "30-finder-erased")
    report = Report.objects.get(pk=sent.report.pk)
    assert report.finder["email"] == "" and report.finder["name"] == ""
    assert Event.objects.filter(report=report, kind="finder_data_erased").exists()
    assert "rita@example.net" not in page.content()
    # Expected: a download ends the navigation (ERR_ABORTED), the unconfirmed erasure is a 400.
    expected = ("net::ERR_ABORTED " + live_server.url + "/status/export/", "400 ")
    traffic.failures = [f for f in traffic.failures if not f.startswith(expected)]
    traffic.console_errors = [e for e in traffic.console_errors if "400 (Bad Request)" not in e]
    traffic.assert_clean()
