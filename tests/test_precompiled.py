"""Expressions compiled once, with the time as their only variable (meldpunt/lib/precompiled.py).

The inbox's flags on each row are compiled once per process on PostgreSQL; every answer
must equal the domain's own expression, compiled as usual, at every instant.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.test import Client
from django.utils import timezone

from meldpunt.reports.models import Promise, Report, State, queue_order
from meldpunt.reports.promises import risk_margin
from meldpunt.triage.inbox import _FLAGS, listing, ordered
from meldpunt.triage.inbox import _flag as flag
from tests.conftest import submit
from tests.test_finder_reach import mail_to, staff_message, with_contact

HOUR = timedelta(hours=1)
# SQLite's backend turns times into text while compiling: nothing can be kept there.
KEEPS = connection.vendor == "postgresql"


def answers(expressions: dict[str, Any]) -> dict[int, tuple[Any, ...]]:
    rows = Report.objects.annotate(**expressions).values_list("pk", *expressions)
    return {pk: tuple(values) for pk, *values in rows}


@pytest.fixture
def base(db: Any) -> datetime:
    """Five reports around one instant: response dates on both sides of it, one answered,
    one closed, a promise due within the risk margin, a finder whose mail failed."""
    base = timezone.now()
    reports = [submit(Client()).report for _ in range(5)]
    for report, hours in zip(reports, (-2, 2, 30, 50, -5), strict=True):
        Report.objects.filter(pk=report.pk).update(response_due_at=base + hours * HOUR)
    Report.objects.filter(pk=reports[3].pk).update(first_response_at=base - HOUR)
    Report.objects.filter(pk=reports[4].pk).update(state=State.CLOSED)
    Promise.objects.filter(report=reports[1]).delete()
    Promise.objects.create(
        report=reports[1],
        kind="test",
        state=Promise.State.PENDING,
        due_at=base + 10 * HOUR,
        evaluated_at=base,
    )
    mail_to(with_contact(reports[2]), "failed")
    staff_message(reports[0])
    return base


def test_the_inbox_flags_answer_as_the_domain_s_rules_at_every_instant(base: datetime) -> None:
    seen = set()
    for now in (base - 30 * HOUR, base, base + 3 * HOUR, base + 40 * HOUR, base + 90 * HOUR):
        rows = listing(now).values_list("pk", *_FLAGS)
        kept = {pk: tuple(flags) for pk, *flags in rows}
        plain = answers({name: flag.make(now) for name, flag in _FLAGS.items()})
        assert kept == plain, now
        seen.add(tuple(sorted(kept.items())))
    # The instants above change the answers: this compares more than one answer.
    assert len(seen) >= 3
    flags = {name: flag.compiled(connection.alias) for name, flag in _FLAGS.items()}
    if KEEPS:
        assert None not in flags.values()
        assert flags["overdue"] and [offset for _, offset in flags["overdue"].offsets] == [
            timedelta(0)
        ]
        late = flags["promises_late"]
        assert late and [offset for _, offset in late.offsets] == [risk_margin()]
        assert isinstance(_FLAGS["overdue"].at(base), RawSQL)
    else:  # the rule without a time is kept on SQLite too
        assert flags["overdue"] is None and flags["promises_late"] is None
        assert flags["not_reached"] is not None


def test_a_time_plus_an_offset_is_moved_to_each_instant(base: datetime) -> None:
    soon = flag(lambda now: Q(response_due_at__lt=now + 5 * HOUR))
    for now in (base - 10 * HOUR, base - 4 * HOUR, base + HOUR, base + 26 * HOUR):
        assert answers({"soon": soon.at(now)}) == answers({"soon": soon.make(now)}), now
    compiled = soon.compiled(connection.alias)
    if KEEPS:
        assert compiled and [offset for _, offset in compiled.offsets] == [5 * HOUR]


def test_a_fixed_time_is_a_constant(base: datetime) -> None:
    fixed = base - HOUR
    before = flag(lambda now: Q(response_due_at__lt=fixed))
    compiled = before.compiled(connection.alias)
    if KEEPS:
        assert compiled and compiled.offsets == ()
    assert answers({"f": before.at(base + 99 * HOUR)}) == answers({"f": before.make(base)})


@pytest.mark.parametrize(
    "condition",
    [
        # The day the time falls on: a truncation, not an offset.
        lambda now: Q(response_due_at__lt=now.replace(hour=0, minute=0, second=0, microsecond=0)),
        # A clamp to a date of this era.
        lambda now: Q(response_due_at__lt=max(now, datetime(2030, 1, 1, tzinfo=now.tzinfo))),
        # SQL that itself depends on the time.
        lambda now: Q(response_due_at__lt=now) if now.year >= 2040 else Q(pk__lt=0),
        # A parameter that is no time but is made from it.
        lambda now: Q(pk__gt=now.year),
    ],
    ids=["truncated", "clamped", "other SQL", "made from it"],
)
def test_a_time_used_otherwise_is_compiled_on_every_query(
    base: datetime, condition: Callable[[datetime], Q]
) -> None:
    other = flag(condition)
    assert other.compiled(connection.alias) is None
    for now in (base - 30 * HOUR, base + 3 * HOUR, base + 40 * HOUR):
        assert not isinstance(other.at(now), RawSQL)
        assert answers({"o": other.at(now)}) == answers({"o": other.make(now)})


def test_the_inbox_orders_as_the_domain_s_queue_order(base: datetime) -> None:
    Report.objects.filter(pk=Report.objects.order_by("pk")[1].pk).update(low_value_rule="x")
    Report.objects.filter(pk=Report.objects.order_by("pk")[3].pk).update(
        expected_fix_date=base.date()
    )
    order = list(ordered(Report.objects.all(), "").values_list("pk", flat=True))
    assert order == list(Report.objects.order_by(*queue_order()).values_list("pk", flat=True))
    assert order != sorted(order)  # the order is more than the reports' age


def test_rows_by_ids_are_the_orms_rows_and_are_compiled_once_per_count(base, monkeypatch):
    from meldpunt.lib.precompiled import ByIds

    ids = list(Report.objects.order_by("pk").values_list("pk", flat=True))
    blobs = ByIds(Report, "pk", "content_blob")
    dates = ByIds(Report, "pk", "created_at")  # SQLite converts times: read through the ORM
    compiled: list[int] = []
    original = ByIds._compile

    def counted(self: ByIds, count: int, using: str) -> str | None:
        compiled.append(count)
        return original(self, count, using)

    monkeypatch.setattr(ByIds, "_compile", counted)
    for wanted in ([ids[0]], ids[:3], [ids[2], ids[0], ids[1]], [ids[1], ids[1]], [], [10**9]):
        for by_ids, fields in ((blobs, ("pk", "content_blob")), (dates, ("pk", "created_at"))):
            expected = Report.objects.filter(pk__in=wanted).values_list(*fields)
            assert sorted(by_ids.rows(wanted)) == sorted(expected), wanted
    # Once per number of distinct ids for each query (1, 3; [] asks nothing).
    assert sorted(compiled) == [1, 1, 3, 3]
    # Kept as SQL, but for times on SQLite, which its backend converts.
    assert (None in dates._kept.values()) == (connection.vendor == "sqlite")
    assert None not in blobs._kept.values()
