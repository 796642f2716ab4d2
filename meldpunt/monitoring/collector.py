"""Figures from the database, computed when Prometheus scrapes.

Each is one COUNT … GROUP BY (or MIN/MAX) over an indexed column, so a scrape stays a few
milliseconds at a million reports: no row reaches Python.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.db import DatabaseError
from django.db.models import Count, Min, QuerySet
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from meldpunt.intake.models import InboundMail
from meldpunt.lib.kept import Kept
from meldpunt.monitoring import readiness
from meldpunt.ops.models import Heartbeat
from meldpunt.reports.models import OutboundMail, Promise, Report, open_states
from meldpunt.triage.metrics import response_clock_compliance


def _by(
    name: str, doc: str, label: str, rows: dict[str, int], known: list[str]
) -> GaugeMetricFamily:
    """One series per known value (0 when absent), so a state that empties reads 0."""
    family = GaugeMetricFamily(name, doc, labels=[label])
    for value in sorted(set(known) | set(rows)):
        family.add_metric([value], rows.get(value, 0))
    return family


def _counts(queryset: QuerySet[Any], field: str) -> dict[str, int]:
    # COUNT(*), not COUNT(id): PostgreSQL can then answer from the index on `field` alone.
    rows = queryset.order_by().values(field).annotate(n=Count("*")).values_list(field, "n")
    return dict(rows)


class DatabaseCollector(Collector):
    """Queue, outbox, intake, reports, promises, the response clock, heartbeats, readiness."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        disk = GaugeMetricFamily(
            "meldpunt_data_dir_free_bytes", "Free space on the data directory's file system."
        )
        disk.add_metric([], readiness.free_bytes())
        yield disk
        up = GaugeMetricFamily("meldpunt_database_up", "1 when the database answered.")
        try:
            families = list(self._from_database())
        except DatabaseError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _from_database(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        checks = readiness.run_checks(now)
        ready = GaugeMetricFamily(
            "meldpunt_ready", "1 when every /readyz check passes, by check.", labels=["check"]
        )
        for check in checks:
            ready.add_metric([check.name], int(check.ok))
        yield ready

        waiting = DBTaskResult.objects.filter(status=TaskResultStatus.READY).aggregate(
            n=Count("id"), oldest=Min("enqueued_at")
        )
        yield _gauge("meldpunt_task_queue_ready", "Background tasks waiting to run.", waiting["n"])
        yield _gauge(
            "meldpunt_task_queue_oldest_age_seconds",
            "Age of the oldest background task waiting to run (0 when none).",
            _seconds_since(waiting["oldest"], now),
        )

        yield _by(
            "meldpunt_outbound_mails",
            "Outbound mails by delivery state (all but sent).",
            "status",
            _counts(OutboundMail.objects.filter(status__in=WATCHED_MAIL), "status"),
            WATCHED_MAIL,
        )
        _, overdue = readiness.outbox_backlog(now)
        yield _gauge(
            "meldpunt_outbound_mail_oldest_queued_age_seconds",
            "How long the most overdue queued mail has waited for its first attempt.",
            overdue,
        )
        yield _by(
            "meldpunt_inbound_mails",
            "Mails taken in (IMAP and SMTP) by outcome.",
            "outcome",
            _counts(InboundMail.objects.all(), "outcome"),
            list(InboundMail.Outcome.values),
        )
        # Open reports and live promises only: closed reports and kept promises are years of
        # history, counting them took a second per scrape at a million reports.
        yield _by(
            "meldpunt_open_reports",
            "Open reports by state.",
            "state",
            _counts(Report.objects.filter(state__in=open_states()), "state"),
            list(open_states()),
        )
        yield _by(
            "meldpunt_promises",
            "Promises of the ledger pending, at risk or broken, by state.",
            "state",
            _counts(Promise.objects.filter(state__in=WATCHED_PROMISES), "state"),
            WATCHED_PROMISES,
        )
        yield from _response_clock()
        yield _heartbeats(now)


# Sent mail is history that grows with every report; the other states stay small.
WATCHED_MAIL = [s.value for s in OutboundMail.Status if s != OutboundMail.Status.SENT]
WATCHED_PROMISES = [
    s.value for s in (Promise.State.PENDING, Promise.State.AT_RISK, Promise.State.BROKEN)
]

# The twelve months' share moves slowly, and its query reads every report of the year
# (~170 ms at a million): one answer per process serves the scrapes of a few minutes.
CLOCK_CACHE_SECONDS = 300
_clock: Kept[tuple[int, int]] = Kept(CLOCK_CACHE_SECONDS, response_clock_compliance)


def _clock_counts() -> tuple[int, int]:
    return _clock.get()


def forget_clock() -> None:
    """Tests: count the response clock again on the next scrape."""
    _clock.forget()


def _response_clock() -> Iterator[GaugeMetricFamily]:
    kept, measured = _clock_counts()
    yield _gauge(
        "meldpunt_response_clock_kept",
        "Reports of the last twelve months answered within the first-response clock.",
        kept,
    )
    yield _gauge(
        "meldpunt_response_clock_measured",
        "Reports of the last twelve months answered, or unanswered past the deadline.",
        measured,
    )
    if measured:  # no share without a measured report: absent, not 0 or 1
        yield _gauge(
            "meldpunt_response_clock_compliance_ratio",
            "Share of measured reports answered within the first-response clock (as on the "
            "metrics page).",
            kept / measured,
        )


def _heartbeats(now: dt.datetime) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "meldpunt_heartbeat_age_seconds",
        "Seconds since a background process last showed it works, by process and host.",
        labels=["process", "host"],
    )
    for beat in Heartbeat.objects.order_by("name", "host"):
        family.add_metric([beat.name, beat.host], _seconds_since(beat.last_seen, now))
    return family


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc)
    family.add_metric([], value)
    return family


def _seconds_since(moment: dt.datetime | None, now: dt.datetime) -> float:
    if moment is None:
        return 0.0
    return max(0.0, (now - moment).total_seconds())
