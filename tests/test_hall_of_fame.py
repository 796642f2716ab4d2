"""/hall-of-fame/: the finders who asked to be named, per year, and nobody who did not."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django.test import Client

from meldpunt.reports.models import Credit, Event, Report, Resolution, State
from meldpunt.reports.services import set_credit
from tests.advisories import publish
from tests.conftest import submit

URL = "/hall-of-fame/"


def halls(language: str = "en") -> dict[int, list[str]]:
    response = Client(HTTP_ACCEPT_LANGUAGE=language).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    sections = re.findall(
        r'<section class="hall-year" id="year-(\d{4})">(.*?)</section>', html, re.S
    )
    return {int(year): re.findall(r"<li>(.*?)</li>", body) for year, body in sections}


def finder(name: str, credit: str, state: str, at: datetime, resolution: str = "") -> Report:
    """A web report by a finder called `name`, moved to `state` at `at`."""
    report = submit(Client(), name=name, credit=credit).report
    Report.objects.filter(pk=report.pk).update(state=state, resolution=resolution)
    Event.objects.create(
        report=report,
        created_at=at,
        kind="state_changed",
        actor="alice@example.org",
        data={"from": "fix_in_progress", "to": state, "resolution": resolution},
    )
    report.refresh_from_db()
    return report


def at(year: int, month: int = 6) -> datetime:
    return datetime(year, month, 15, 12, 0, tzinfo=UTC)


def test_it_lists_credited_finders_per_year_deduplicated_and_sorted(db):
    rita = finder("Rita Reporter", Credit.NAME, State.PUBLISHED, at(2026))
    publish("MPSA-2025-0001", credits=["Jane Doe", "n0sy"], at=at(2025, 3), reports=[rita])
    publish("MPSA-2026-0001", credits=["jane roe", "Jane Doe"], at=at(2026, 2))
    # Revised in 2027: it stays in the year of its first publication.
    publish(
        "MPSA-2026-0002",
        credits=["Jane Doe"],
        at=datetime(2026, 12, 30, 12, tzinfo=UTC),
        revisions=3,
    )
    finder("Zoë Zed", Credit.NAME, State.FIXED, at(2026))
    finder("h4x", Credit.PSEUDONYM, State.CLOSED, at(2025), Resolution.RESOLVED)
    assert halls() == {
        2026: ["Jane Doe", "jane roe", "Zoë Zed"],
        # Rita's report was fixed in 2026, but she is named where her advisory was published.
        2025: ["h4x", "Jane Doe", "n0sy"],
    }


def test_it_names_nobody_who_chose_no_credit_or_whose_report_was_not_resolved(db):
    finder("Hidden Person", Credit.NONE, State.FIXED, at(2026))
    finder("Invalid Ian", Credit.NAME, State.CLOSED, at(2026), Resolution.INVALID)
    finder("Dup Dora", Credit.NAME, State.CLOSED, at(2026), Resolution.DUPLICATE)
    finder("Busy Bea", Credit.NAME, State.FIX_IN_PROGRESS, at(2026))
    finder("Visible Vic", Credit.NAME, State.FIXED, at(2026))
    html = Client().get(URL).content.decode()
    assert halls() == {2026: ["Visible Vic"]}
    for name in ("Hidden Person", "Invalid Ian", "Dup Dora", "Busy Bea"):
        assert name not in html


def test_it_drops_a_finder_at_once_when_they_withdraw_their_credit(db):
    wanda = finder("Wanda", Credit.NAME, State.FIXED, at(2026))
    walt = finder("Walt  Whit", Credit.NAME, State.PUBLISHED, at(2026))
    publish("MPSA-2026-0001", credits=["Walt Whit", "Jane Doe"], at=at(2026), reports=[walt])
    assert halls() == {2026: ["Jane Doe", "Walt Whit", "Wanda"]}
    set_credit(wanda, Credit.NONE, "finder")
    # The advisory still prints Walt until its next revision; the hall of fame does not.
    set_credit(walt, Credit.NONE, "finder")
    assert halls() == {2026: ["Jane Doe"]}
    assert "Wanda" not in Client().get(URL).content.decode()


def test_it_escapes_names(db):
    finder("<script>alert(1)</script>", Credit.PSEUDONYM, State.FIXED, at(2026))
    html = Client().get(URL).content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_it_renders_in_every_language_and_when_empty(db: Any):
    for language in ("nl", "fr", "en"):
        response = Client(HTTP_ACCEPT_LANGUAGE=language).get(URL)
        assert response.status_code == 200
        html = response.content.decode()
        assert f'<html lang="{language}">' in html
        assert 'id="hall-empty"' in html


def test_it_answers_only_get_and_head(db):
    client = Client()
    assert client.post(URL).status_code == 405
    assert client.head(URL).status_code == 200
