"""The optional proof-of-work: solved challenges count as usual, unsolved ones only a few times."""

from __future__ import annotations

import base64
import html
import json
import re
from typing import Any

import pytest
from altcha.v1 import solve_challenge
from django.test import Client, override_settings

from meldpunt.reports.models import Report
from tests.conftest import TOKEN_RE, valid_report

pytestmark = pytest.mark.django_db
POW = {
    "MELDPUNT_PROOF_OF_WORK": True,
    "MELDPUNT_POW_MAX_NUMBER": 2000,
    "MELDPUNT_SUBMIT_NOPOW_LIMIT": 1,
}
CHALLENGE = re.compile(r'data-pow="([^"]+)"')


def page_challenge(page: str) -> dict[str, Any]:
    found = CHALLENGE.search(page)
    assert found, "no proof-of-work challenge on the form"
    challenge: dict[str, Any] = json.loads(html.unescape(found[1]))
    return challenge


def solution(challenge: dict[str, Any], number: int | None = None) -> str:
    if number is None:
        solved = solve_challenge(
            challenge["challenge"],
            challenge["salt"],
            challenge["algorithm"],
            challenge["maxnumber"],
        )
        assert solved is not None
        number = solved.number
    fields = {k: challenge[k] for k in ("algorithm", "challenge", "salt", "signature")}
    return base64.b64encode(json.dumps({**fields, "number": number}).encode()).decode()


def post(client: Client, solve: bool = True, payload: str | None = None, **fields: Any) -> Any:
    page = client.get("/report/").content.decode()
    token = TOKEN_RE.search(page)
    assert token
    data = valid_report(**fields)
    data["submission_token"] = token[1]
    data["policy_version"] = re.search(r'name="policy_version" value="(\d+)"', page)[1]  # type: ignore[index]
    if payload is not None:
        data["altcha"] = payload
    elif solve:
        data["altcha"] = solution(page_challenge(page))
    return client.post("/report/", data)


def test_it_is_off_by_default() -> None:
    page = Client().get("/report/").content.decode()
    assert "data-pow" not in page and "pow.js" not in page


@override_settings(**POW)
def test_it_puts_a_signed_challenge_and_its_script_on_the_form() -> None:
    page = Client().get("/report/").content.decode()
    challenge = page_challenge(page)
    assert {"algorithm", "challenge", "salt", "signature", "maxnumber"} <= set(challenge)
    assert "expires=" in challenge["salt"]
    assert "/static/meldpunt/pow.js" in page


@override_settings(**POW)
def test_solved_challenges_do_not_use_up_the_allowance_without_one() -> None:
    client = Client(REMOTE_ADDR="198.51.100.5")
    for _ in range(3):
        assert post(client).status_code == 200
    assert post(client, solve=False).status_code == 200  # the one report without it
    refused = post(client, solve=False, description="typed without JavaScript")
    assert refused.status_code == 429
    page = refused.content.decode()
    assert "without the browser check" in page and "typed without JavaScript" in page
    assert Report.objects.count() == 4


@override_settings(**POW)
def test_a_replayed_or_forged_solution_counts_as_none() -> None:
    client = Client(REMOTE_ADDR="198.51.100.6")
    page = client.get("/report/").content.decode()
    reused = solution(page_challenge(page))
    assert post(client, payload=reused).status_code == 200
    # The same solution again is no solution: it uses the one report allowed without.
    assert post(client, payload=reused).status_code == 200
    assert post(client, payload=reused).status_code == 429
    challenge = page_challenge(client.get("/report/").content.decode())
    forged = solution({**challenge, "signature": "0" * 64})
    other = Client(REMOTE_ADDR="198.51.100.7")
    assert post(other, payload=forged).status_code == 200
    assert post(other, payload=forged).status_code == 429
    assert post(other, payload="not base64 at all").status_code == 429
