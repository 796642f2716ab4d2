"""Deadlines in calendar days or in business days of the configured country."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from meldpunt import checks
from meldpunt.lib import crypto
from meldpunt.lib.deadlines import due_after
from meldpunt.policy import commitments
from meldpunt.reports.clock import (
    fix_due_at,
    fix_overdue,
    next_update_due,
    progress_update_due,
)
from meldpunt.reports.models import Message, State
from tests.conftest import submit
from tests.test_commands import operator_env, run

BRUSSELS = ZoneInfo("Europe/Brussels")
business = override_settings(MELDPUNT_DEADLINE_DAYS="business")


def local(y: int, m: int, d: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=BRUSSELS)


def end_of(y: int, m: int, d: int, tz: ZoneInfo = BRUSSELS) -> datetime:
    return datetime.combine(date(y, m, d), time.max, tzinfo=tz)


def test_it_counts_calendar_days_by_default():
    friday = local(2026, 3, 13, 16)
    assert due_after(friday, 3) == local(2026, 3, 16, 16)
    assert due_after(local(2025, 12, 24), 3) == local(2025, 12, 27)


@business
def test_it_counts_business_days_to_the_end_of_the_last_one():
    # Friday + 3 business days: Monday, Tuesday, Wednesday.
    assert due_after(local(2026, 3, 13, 16), 3) == end_of(2026, 3, 18)
    # A report at the weekend gets the same three full working days.
    assert due_after(local(2026, 3, 14, 9), 3) == end_of(2026, 3, 18)
    assert due_after(local(2026, 3, 16, 23, 59), 3) == end_of(2026, 3, 19)


@business
def test_it_skips_christmas_and_new_year():
    # 25 December and 1 January are Belgian public holidays; 26 December is not.
    assert due_after(local(2025, 12, 23), 3) == end_of(2025, 12, 29)
    assert due_after(local(2025, 12, 24), 5) == end_of(2026, 1, 2)


@business
def test_it_skips_easter_monday():
    # Thursday 2 April 2026: Good Friday counts in Belgium, Easter Monday (6 April) does not.
    assert due_after(local(2026, 4, 2), 3) == end_of(2026, 4, 8)


@business
def test_it_uses_the_configured_country_and_subdivision():
    friday = local(2026, 4, 24)  # Monday 27 April is King's Day in the Netherlands
    assert due_after(friday, 1) == end_of(2026, 4, 27)
    with override_settings(MELDPUNT_HOLIDAY_COUNTRY="NL"):
        assert due_after(friday, 1) == end_of(2026, 4, 28)
    monday = local(2026, 1, 5)  # Epiphany, Tuesday 6 January, is a holiday in Bavaria only
    with override_settings(MELDPUNT_HOLIDAY_COUNTRY="DE"):
        assert due_after(monday, 1) == end_of(2026, 1, 6)
        with override_settings(MELDPUNT_HOLIDAY_SUBDIVISION="by"):
            assert due_after(monday, 1) == end_of(2026, 1, 7)


@business
def test_it_counts_from_the_local_date_and_ends_the_day_in_the_configured_zone():
    # Sunday 22:30 UTC is already Monday in Brussels: Tuesday, Wednesday, Thursday.
    instant = datetime(2026, 6, 14, 22, 30, tzinfo=UTC)
    due = due_after(instant, 3)
    assert due == end_of(2026, 6, 18)
    assert due.astimezone(UTC) == datetime(2026, 6, 18, 21, 59, 59, 999999, tzinfo=UTC)
    new_york = ZoneInfo("America/New_York")
    with override_settings(TIME_ZONE="America/New_York"):
        # Still Sunday in New York: Monday, Tuesday, Wednesday, to midnight there.
        assert due_after(instant, 3) == end_of(2026, 6, 17, new_york)


def test_it_keeps_the_local_time_across_a_clock_change():
    # Summer time starts on Sunday 29 March 2026: three days are 71 hours that weekend,
    # and the deadline stays on Monday instead of sliding past midnight into Tuesday.
    late_friday = local(2026, 3, 27, 23, 30)
    due = due_after(late_friday, 3)
    assert timezone.localtime(due, BRUSSELS) == local(2026, 3, 30, 23, 30)
    # (Python subtracts wall-clock times within one zone; compare real instants.)
    assert due.astimezone(UTC) - late_friday.astimezone(UTC) == timedelta(hours=71)


@business
def test_it_counts_weekends_only_when_the_country_is_unknown():
    with override_settings(MELDPUNT_HOLIDAY_COUNTRY="XX"):
        # No crash while the system check reports the mistake: 25 December counts.
        assert due_after(local(2025, 12, 23), 3) == end_of(2025, 12, 26)


def test_it_gives_submitted_reports_a_deadline_in_the_configured_mode(db):
    calendar = submit(Client()).report
    received = timezone.localtime(calendar.created_at, BRUSSELS)
    assert timezone.localtime(calendar.response_due_at, BRUSSELS) == received + timedelta(days=3)
    with business:
        report = submit(Client()).report
        assert report.response_due_at == due_after(report.created_at, 3)
    due = timezone.localtime(report.response_due_at, BRUSSELS)
    assert due.time() == time.max
    assert due.weekday() < 5
    assert due.date() - timezone.localtime(report.created_at, BRUSSELS).date() >= timedelta(3)


def test_it_owes_progress_updates_after_the_last_team_message(db):
    report = submit(Client()).report
    assert next_update_due(report) is None  # the first-response deadline applies instead
    responded = local(2026, 3, 2)
    report.first_response_at, report.state = responded, State.TRIAGED
    assert next_update_due(report) == local(2026, 3, 16)
    message = Message(report=report, created_at=local(2026, 3, 10), author=Message.Author.STAFF)
    message.body = {"text": "Still working on it."}
    message.save()
    assert next_update_due(report) == local(2026, 3, 24)
    with business:
        assert progress_update_due(local(2026, 3, 10)) == end_of(2026, 3, 30)
        assert next_update_due(report) == end_of(2026, 3, 30)
    report.state = State.CLOSED
    assert next_update_due(report) is None


def test_it_ends_the_expected_fix_date_at_midnight(db):
    report = submit(Client()).report
    assert fix_due_at(report) is None
    report.expected_fix_date, report.state = date(2026, 5, 4), State.FIX_IN_PROGRESS
    assert fix_due_at(report) == end_of(2026, 5, 4)
    assert not fix_overdue(report, now=local(2026, 5, 4, 23, 59))
    assert fix_overdue(report, now=local(2026, 5, 5, 0, 1))
    report.state = State.FIXED
    assert not fix_overdue(report, now=local(2026, 5, 5, 0, 1))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"MELDPUNT_DEADLINE_DAYS": "weekdays"}, "MELDPUNT_DEADLINE_DAYS='weekdays' must be one"),
        ({"MELDPUNT_HOLIDAY_COUNTRY": "XX"}, "MELDPUNT_HOLIDAY_COUNTRY='XX' is not a country"),
        ({"MELDPUNT_HOLIDAY_SUBDIVISION": "Atlantis"}, "'Atlantis' is not a subdivision of BE"),
    ],
)
def test_it_reports_a_bad_deadline_setting_in_one_line(overrides, message):
    with override_settings(**overrides):
        errors = checks.deadline_settings()
    assert [e.id for e in errors] == ["meldpunt.E010"]
    assert message in errors[0].msg
    assert "\n" not in errors[0].msg


def test_it_accepts_the_default_and_a_known_subdivision():
    assert checks.deadline_settings() == []
    with override_settings(
        MELDPUNT_DEADLINE_DAYS="business",
        MELDPUNT_HOLIDAY_COUNTRY="DE",
        MELDPUNT_HOLIDAY_SUBDIVISION="BY",
    ):
        assert checks.deadline_settings() == []


@pytest.mark.own_instance
def test_it_explains_an_unknown_holiday_country_to_the_operator(tmp_path: Path):
    env = operator_env(tmp_path / "data")
    crypto.create_key_file(tmp_path / "data" / "keys" / "master-keys.json")
    assert run(["check"], env).returncode == 0
    result = run(["check"], {**env, "MELDPUNT_HOLIDAY_COUNTRY": "xx"})
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if "MELDPUNT_HOLIDAY_COUNTRY" in ln]
    assert len(lines) == 1, result.stderr
    assert "'XX' is not a country code" in lines[0]
    assert "Traceback" not in result.stderr


def test_it_promises_business_days_on_the_policy_page(db, monkeypatch):
    # Until commitments() records the mode, stand in for it: the page reads the recorded doc.
    recorded = commitments.commitments
    monkeypatch.setattr(
        commitments, "commitments", lambda: {**recorded(), "deadline_days": "business"}
    )
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get("/").content.decode()
    assert "within 3 business days" in page
    assert "at least every 14 business days" in page
