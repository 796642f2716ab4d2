"""A form's submission token is worth nothing outside the browser that fetched the form."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

from meldpunt.reports.models import Report
from tests.conftest import RECEIPT_RE, TOKEN_RE, valid_report

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
REFERENCE_RE = re.compile(r'id="reference">(MP-\d{4}-\d{4,})<')


def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def open_form(client: Client) -> dict[str, str]:
    """The hidden inputs of a freshly fetched form (and its CSRF cookie in the client)."""
    page = client.get("/report/").content.decode()
    csrf, token = CSRF_RE.search(page), TOKEN_RE.search(page)
    assert csrf and token
    version = re.search(r'name="policy_version" value="(\d+)"', page)
    assert version
    return {
        "csrfmiddlewaretoken": csrf[1],
        "submission_token": token[1],
        "policy_version": version[1],
    }


def post(client: Client, hidden: dict[str, str], **fields: Any) -> Any:
    return client.post("/report/", {**valid_report(**fields), **hidden})


def test_it_shows_no_receipt_to_another_browser_replaying_a_sent_form(db):
    rita = browser()
    form = open_form(rita)
    sent = post(rita, form)
    assert sent.status_code == 200
    code, reference = (
        RECEIPT_RE.search(sent.content.decode()),
        REFERENCE_RE.search(sent.content.decode()),
    )
    assert code and reference
    mallory = browser()
    own = open_form(mallory)  # her own session and CSRF cookie; rita's submission token
    replay = post(mallory, {**own, "submission_token": form["submission_token"]})
    page = replay.content.decode()
    assert replay.status_code == 400
    assert code[1] not in page
    assert 'id="receipt-code"' not in page
    assert reference[1] not in page
    assert Report.objects.count() == 1


def test_it_refuses_a_copied_token_posted_before_the_finder_sends_it(db):
    rita, mallory = browser(), browser()
    form = open_form(rita)
    own = open_form(mallory)
    stolen = post(mallory, {**own, "submission_token": form["submission_token"]})
    assert stolen.status_code == 400
    assert "expired" in stolen.content.decode()
    assert Report.objects.count() == 0
    sent = post(rita, form)
    assert sent.status_code == 200
    assert RECEIPT_RE.search(sent.content.decode())
    assert 'id="repeated"' not in sent.content.decode()


def test_it_shows_the_receipt_again_to_the_same_browser_posting_twice(db):
    rita = browser()
    form = open_form(rita)
    first, second = post(rita, form), post(rita, form)
    codes = [RECEIPT_RE.findall(r.content.decode()) for r in (first, second)]
    assert len(codes[0]) == 1
    assert codes[0] == codes[1]
    assert 'id="repeated"' in second.content.decode()
    assert Report.objects.count() == 1


def test_it_hands_the_other_browser_a_token_of_its_own(db):
    rita, mallory = browser(), browser()
    form = open_form(rita)
    rita_code = RECEIPT_RE.search(post(rita, form).content.decode())
    own = open_form(mallory)
    refused = post(mallory, {**own, "submission_token": form["submission_token"]})
    fresh = TOKEN_RE.search(refused.content.decode())
    assert fresh and fresh[1] != form["submission_token"]
    # What the other browser sends with its new token is its own, new report.
    sent = post(mallory, {**own, "submission_token": fresh[1]}, description="Another finding.")
    assert sent.status_code == 200
    code = RECEIPT_RE.search(sent.content.decode())
    assert rita_code and code and code[1] != rita_code[1]
    assert Report.objects.count() == 2
