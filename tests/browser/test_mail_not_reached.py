"""Issue 14's walk: the first response goes out while the mail server is down.

Staff see the mail deferred on the thread and "finder not reached" on the report; once the
server is back, the worker's next pass sends it and both say so. A real SMTP server
(aiosmtpd) on a loopback port that is first closed, then listening; the worker's periodic
pass is called as the worker calls it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Browser, expect

from meldpunt.reports import assessment, outbox
from meldpunt.reports.models import OutboundMail, Report
from tests.browser.conftest import _open_page
from tests.browser.test_staff_xss import press, sign_in_with_totp
from tests.conftest import make_staff, submit
from tests.mailservers import free_port
from tests.test_outbox import Handler

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FINDER = "rita@example.net"
ANSWER = "Thank you. We confirm the issue and expect to fix it within two weeks."


def test_staff_see_a_deferred_first_response_and_the_finder_not_reached_until_it_is_sent(
    browser: Browser, live_server: Any, settings: Any, shoot: Any
) -> None:
    port = free_port()  # nothing listens here yet: the mail server is down
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    sent = submit(Client(), email=FINDER, description="Stored XSS in the profile page.")
    alice = make_staff("alice@example.org", "triager")
    fix = timezone.localdate() + timedelta(days=14)
    assessment.assess(sent.report, alice, valid=True, in_scope=True, expected_fix_date=fix)
    base = live_server.url
    page, traffic = _open_page(browser, base)
    report_url = f"{base}/triage/reports/{sent.report.uid}/"

    sign_in_with_totp(page, base, alice)
    page.goto(report_url)
    press(page, "Write a message")
    page.get_by_label("Message to the finder").fill(ANSWER)
    press(page, "Send as the first response")

    # The worker's pass: the server refuses the connection, so the mail waits for a retry.
    assert outbox.deliver_due() == 0
    mail = OutboundMail.objects.get(report=sent.report, kind="news")
    assert mail.status == OutboundMail.Status.DEFERRED
    page.goto(report_url)
    state = page.locator("[data-delivery-state]").first
    expect(state).to_have_attribute("data-delivery-state", "deferred")
    expect(state).to_contain_text("Deferred")
    expect(state).to_contain_text("ConnectionRefusedError")
    reached = page.locator("#finder-reached")
    expect(reached).to_have_attribute("data-finder-reached", "no")
    expect(reached).to_contain_text("not reached")
    kept = page.locator('[data-promise="first_response"]')
    expect(kept).to_contain_text("e-mail: Deferred")  # the ledger shows the mail's state now
    shoot(page, "mail-01-deferred-not-reached")
    page.goto(f"{base}/triage/?not_reached=on")
    expect(page.get_by_role("link", name=sent.report.reference)).to_be_visible()

    # The server comes up; the next pass after the back-off sends the same mail.
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert outbox.deliver_due(timezone.now() + timedelta(minutes=2)) == 1
    finally:
        controller.stop()
    [received] = handler.mails
    assert received.rcpt_tos == [FINDER]
    assert ANSWER.encode() not in received.raw  # a notice only: the finder gave no key

    page.goto(report_url)
    state = page.locator("[data-delivery-state]").first
    expect(state).to_have_attribute("data-delivery-state", "sent")
    expect(page.locator("#finder-reached")).to_have_attribute("data-finder-reached", "yes")
    shoot(page, "mail-02-sent-reached")
    page.goto(f"{base}/triage/?not_reached=on")
    expect(page.get_by_role("link", name=sent.report.reference)).to_have_count(0)
    traffic.assert_clean()
    assert Report.objects.get(pk=sent.report.pk).first_response_kept is True
