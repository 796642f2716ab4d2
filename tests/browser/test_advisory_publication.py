"""The finder approves a draft on /status/; the worker publishes it; the public sees it credited."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser  # type: ignore[import-untyped]  # ships no type hints
import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from meldpunt.advisories import publishing
from meldpunt.advisories.models import Advisory, FinderReview
from meldpunt.reports.models import State
from tests.advisory_cast import fixed, ready
from tests.browser.conftest import Traffic
from tests.browser.test_finder_journey import press
from tests.conftest import make_staff, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Shoot = Callable[[Page, str], Path]
CREDIT = "r1ta the finder"


def test_it_publishes_the_approved_advisory_with_the_finders_credit(
    finder: tuple[Page, Traffic], live_server: Any, shoot: Shoot, org_key: Any
) -> None:
    page, traffic = finder
    base = live_server.url
    alice = make_staff("alice@example.org", "triager")
    rita = submit(Client())
    report = fixed(alice, rita)
    advisory = ready(alice, report, publish_at=timezone.now() + timedelta(hours=1))

    # 1. The finder opens /status/ and chooses how to be credited.
    page.goto(base + "/status/")
    page.get_by_label("Receipt code").fill(rita.code)
    press(page, "Open my report")
    page.get_by_label("By my pseudonym").check()
    page.get_by_label("Name or pseudonym").fill(CREDIT)
    press(page, "Save credit preference")
    traffic.assert_clean()

    # 2. The draft, with its date in its zone and the credit line as it would print.
    section = page.locator("#advisories")
    expect(section).to_contain_text("(Europe/Brussels)")
    with page.expect_navigation():
        section.get_by_role("link", name=f"Review advisory {advisory.identifier}").click()
    expect(page.locator("h1")).to_have_text(f"Review advisory {advisory.identifier}")
    expect(page.locator("#preview-title")).to_have_text("Reflected XSS in the customer portal")
    expect(page.locator("#publish-at")).to_contain_text("(Europe/Brussels)")
    expect(page.locator("#own-credit")).to_contain_text(CREDIT)
    expect(page.locator("#preview-credits")).to_have_text(CREDIT)
    shoot(page, "advisory-01-review")
    traffic.assert_clean()

    # 3. The finder approves.
    page.get_by_label("I approve this draft and date").check()
    press(page, "Send my answer")
    expect(page.locator(".notices")).to_contain_text("your answer has been sent to the team")
    approval = FinderReview.objects.get()
    assert (approval.decision, approval.draft_version) == ("approve", advisory.draft_version)
    traffic.assert_clean()

    # 4. The team schedules it; the worker publishes it once the agreed time has come.
    publishing.schedule(advisory, alice)
    agreed = advisory.publish_at
    assert agreed is not None
    assert publishing.publish_due(agreed - timedelta(minutes=1)) == 0
    assert publishing.publish_due(agreed + timedelta(seconds=1)) == 1
    advisory.refresh_from_db()
    report.refresh_from_db()
    assert advisory.status == Advisory.Status.PUBLISHED and report.state == State.PUBLISHED

    # 5. The public list, the page, the CSAF document and the feed, all with the credit.
    page.goto(base + "/advisories/")
    with page.expect_navigation():
        page.locator("main").get_by_role("link", name=advisory.identifier).first.click()
    expect(page.locator("#advisory-credits")).to_have_text(CREDIT)
    shoot(page, "advisory-02-published")
    csaf_href = page.locator("#advisory-csaf a[type='application/json']").get_attribute("href")
    assert csaf_href
    traffic.assert_clean()
    response = page.request.get(base + csaf_href if csaf_href.startswith("/") else csaf_href)
    assert response.status == 200
    document = json.loads(response.body())
    assert document["document"]["acknowledgments"] == [{"names": [CREDIT]}]
    assert document["document"]["tracking"]["id"] == advisory.identifier
    feed = page.request.get(base + "/advisories/feed.atom")
    assert feed.status == 200
    parsed = feedparser.parse(feed.body())
    assert not parsed.bozo, parsed.bozo_exception
    assert [e.title for e in parsed.entries] == [
        f"{advisory.identifier}: Reflected XSS in the customer portal"
    ]
