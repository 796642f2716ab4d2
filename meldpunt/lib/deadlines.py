"""Calendar maths: when a promise falls due, in calendar days or in business days of one country.

`MELDPUNT_DEADLINE_DAYS` chooses the mode. In business days a deadline is the *end* of
the Nth business day in `MELDPUNT_TIME_ZONE`, counted from the day after the start: a
report on Friday with 3 business days is due by the end of Wednesday. The finder is
shown only the date ("first response promised by 12 March") and expects an answer on
that day, not by the hour they happened to press send; an answer that evening keeps the
promise as they read it, so it must count as kept here too. A report that arrives at
the weekend or on a holiday counts from the next business day, so it gets as many full
working days as any other. In calendar days the deadline keeps the time of day, in
local wall-clock time, so that a clock change never moves it to another date.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging

from django.conf import settings
from django.utils import timezone

log = logging.getLogger(__name__)

CALENDAR = "calendar"
BUSINESS = "business"
MODES = (CALENDAR, BUSINESS)


def business_days() -> bool:
    return bool(settings.MELDPUNT_DEADLINE_DAYS == BUSINESS)


def due_after(start: dt.datetime, days: int) -> dt.datetime:
    """The moment a promise made at `start` to act within `days` days falls due."""
    local = timezone.localtime(start, timezone.get_default_timezone())
    if not business_days():
        # Aware arithmetic within one zone is wall-clock arithmetic: 10:00 stays 10:00.
        return local + dt.timedelta(days=days)
    return end_of_day(add_business_days(local.date(), days))


def end_of_day(day: dt.date) -> dt.datetime:
    """The last moment of `day` in MELDPUNT_TIME_ZONE."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=timezone.get_default_timezone())


def add_business_days(day: dt.date, days: int) -> dt.date:
    """The Nth business day after `day` (which itself does not count)."""
    counted = 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_business_day(day):
            counted += 1
    return day


def is_business_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in public_holidays(day.year)


def public_holidays(year: int) -> frozenset[dt.date]:
    """The configured country's public holidays in `year`; none if it is misconfigured."""
    country, subdivision = settings.MELDPUNT_HOLIDAY_COUNTRY, settings.MELDPUNT_HOLIDAY_SUBDIVISION
    return _holidays(country, subdivision, year)


@functools.lru_cache(maxsize=64)
def _holidays(country: str, subdivision: str, year: int) -> frozenset[dt.date]:
    import holidays  # imported on first use: only business-day installations need it

    try:
        found = holidays.country_holidays(
            country, subdiv=canonical_subdivision(country, subdivision), years=year
        )
    except NotImplementedError:
        # The system check reports this in one line and `meldpunt serve` refuses to start;
        # should a process run anyway, a finder's report must still be stored.
        log.warning("no public holidays for %s %s; counting weekends only", country, subdivision)
        return frozenset()
    return frozenset(found.keys())


def canonical_subdivision(country: str, subdivision: str) -> str | None:
    """The `holidays` package's spelling of a subdivision ("flemish" → "Flemish")."""
    if not subdivision:
        return None
    import holidays

    known = holidays.list_supported_countries(include_aliases=True).get(country, [])
    return next((s for s in known if s.lower() == subdivision.lower()), subdivision)


def configuration_problems() -> list[str]:
    """What is wrong with the deadline settings, one line each."""
    mode = settings.MELDPUNT_DEADLINE_DAYS
    if mode not in MODES:
        return [f"MELDPUNT_DEADLINE_DAYS={mode!r} must be one of {', '.join(MODES)}."]
    import holidays

    countries = holidays.list_supported_countries(include_aliases=True)
    country = settings.MELDPUNT_HOLIDAY_COUNTRY
    if country not in countries:
        return [
            f"MELDPUNT_HOLIDAY_COUNTRY={country!r} is not a country code the holidays "
            "package knows (ISO 3166-1 alpha-2, e.g. BE)."
        ]
    subdivision = settings.MELDPUNT_HOLIDAY_SUBDIVISION
    if subdivision and canonical_subdivision(country, subdivision) not in countries[country]:
        known = ", ".join(countries[country]) or "none"
        return [
            f"MELDPUNT_HOLIDAY_SUBDIVISION={subdivision!r} is not a subdivision of "
            f"{country} (known: {known})."
        ]
    return []
