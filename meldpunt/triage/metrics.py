"""How well the policy's promises are kept, month by month, for any member of the team.

Counts are aggregated in the database per month (TruncMonth in MELDPUNT_TIME_ZONE, which
SQLite and PostgreSQL both do). Medians are not portable SQL (PostgreSQL has
percentile_cont, SQLite nothing), so the database returns one duration per report of the
last twelve months and Python takes the median: a few thousand numbers at most.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_safe

from meldpunt.accounts.gate import staff_required
from meldpunt.reports.labels import PROMISE_LABELS, delivery_label
from meldpunt.reports.models import Event, OutboundMail, Promise, Report, State, overdue
from meldpunt.reports.promises import PROMISES
from meldpunt.reports.reporting_clocks import STEPS, any_regime_on, regime_on

MONTHS = 12
NO_FIGURE = "—"


@dataclass
class Figures:
    """The figures of one month's reports (or of all months shown)."""

    month: dt.date | None
    received: int = 0
    kept: int = 0
    # Reports whose promise is decided: answered, or still unanswered after the deadline.
    measured: int = 0
    response_seconds: list[float] = field(default_factory=list)
    fix_seconds: list[float] = field(default_factory=list)

    @property
    def kept_share(self) -> float | None:
        return self.kept / self.measured if self.measured else None

    @property
    def response_median(self) -> float | None:
        return statistics.median(self.response_seconds) if self.response_seconds else None

    @property
    def fix_median(self) -> float | None:
        return statistics.median(self.fix_seconds) if self.fix_seconds else None

    @property
    def fixed(self) -> int:
        return len(self.fix_seconds)


def month_starts(now: dt.datetime, count: int = MONTHS) -> list[dt.date]:
    """The first days of the last `count` months, oldest first, this month included."""
    local = timezone.localtime(now, timezone.get_default_timezone()).date()
    index = local.year * 12 + local.month - 1
    return [dt.date(i // 12, i % 12 + 1, 1) for i in range(index - count + 1, index + 1)]


def monthly_figures(now: dt.datetime | None = None) -> tuple[list[Figures], Figures]:
    """Figures per month received (last twelve months) and for all of them together."""
    now = now or timezone.now()
    tz = timezone.get_default_timezone()
    months = {m: Figures(m) for m in month_starts(now)}
    since = dt.datetime.combine(min(months), dt.time.min, tzinfo=tz)
    # Reports dated after this month (a host's clock ahead of ours) fall outside the table.
    last = max(months)
    until = dt.datetime.combine(
        dt.date(last.year + last.month // 12, last.month % 12 + 1, 1), dt.time.min, tzinfo=tz
    )
    month = TruncMonth("created_at", tzinfo=tz)
    reports = Report.objects.filter(created_at__gte=since, created_at__lt=until)

    counts = (
        reports.annotate(month=month)
        .values("month")
        .annotate(received=Count("id"), **response_clock_counts(now))
    )
    for row in counts:
        figures = months[_month_key(row["month"])]
        figures.received, figures.kept, figures.measured = (
            row["received"],
            row["kept"],
            row["measured"],
        )

    took = ExpressionWrapper(F("first_response_at") - F("created_at"), DurationField())
    responses = (
        reports.filter(first_response_at__isnull=False)
        .annotate(month=month, took=took)
        .values_list("month", "took")
    )
    for row_month, duration in responses:
        months[_month_key(row_month)].response_seconds.append(duration.total_seconds())

    for row_month, received_at, fixed_at in _first_fixes(reports, tz):
        months[_month_key(row_month)].fix_seconds.append((fixed_at - received_at).total_seconds())

    shown = list(months.values())
    return shown, _total(shown)


def response_clock_counts(now: dt.datetime) -> dict[str, Count]:
    """The first-response clock's rule, as aggregates: `kept`, and `measured` (answered, or
    unanswered after the deadline). The metrics page and /metrics both count with it."""
    # A report still unanswered after its deadline is a broken promise too; leaving it
    # out would let ignoring a report improve the figure. Closed reports left the clock.
    return {
        "kept": Count("id", filter=Q(first_response_kept=True)),
        "measured": Count("id", filter=Q(first_response_at__isnull=False) | overdue(now)),
    }


def response_clock_compliance(now: dt.datetime | None = None) -> tuple[int, int]:
    """(kept, measured) of the reports received in the months the metrics page shows."""
    now = now or timezone.now()
    tz = timezone.get_default_timezone()
    since = dt.datetime.combine(min(month_starts(now)), dt.time.min, tzinfo=tz)
    found = Report.objects.filter(created_at__gte=since, created_at__lte=now).aggregate(
        **response_clock_counts(now)
    )
    return found["kept"], found["measured"]


def _first_fixes(
    reports: QuerySet[Report], tz: Any
) -> Iterable[tuple[Any, dt.datetime, dt.datetime]]:
    """(month received, received at, first marked fixed) for these reports, if fixed."""
    return (
        Event.objects.filter(kind="state_changed", data__to=State.FIXED.value, report__in=reports)
        .annotate(month=TruncMonth("report__created_at", tzinfo=tz))
        .values("report_id", "month", "report__created_at")
        .annotate(fixed_at=Min("created_at"))
        .values_list("month", "report__created_at", "fixed_at")
    )


def _month_key(value: dt.datetime | dt.date) -> dt.date:
    # TruncMonth gives an aware datetime at local midnight on the 1st (both databases).
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value, timezone.get_default_timezone()).date()
    return value.replace(day=1)


def _total(months: list[Figures]) -> Figures:
    total = Figures(None)
    for m in months:
        total.received += m.received
        total.kept += m.kept
        total.measured += m.measured
        total.response_seconds += m.response_seconds
        total.fix_seconds += m.fix_seconds
    return total


def promise_figures(now: dt.datetime | None = None) -> dict[tuple[dt.date, str], tuple[int, int]]:
    """(month settled, promise kind) -> (kept, settled) for the last twelve months.

    Only settled promises count (kept in time, or kept late = broken); a promise still
    pending past its date is in the ledger as broken but has no month yet.
    """
    now = now or timezone.now()
    tz = timezone.get_default_timezone()
    since = dt.datetime.combine(min(month_starts(now)), dt.time.min, tzinfo=tz)
    rows = (
        Promise.objects.filter(
            settled_at__gte=since, state__in=[Promise.State.KEPT, Promise.State.BROKEN]
        )
        .annotate(month=TruncMonth("settled_at", tzinfo=tz))
        .values("month", "kind")
        .annotate(
            kept=Count("id", filter=Q(state=Promise.State.KEPT)),
            settled=Count("id"),
        )
    )
    return {(_month_key(r["month"]), r["kind"]): (r["kept"], r["settled"]) for r in rows}


def share_text(kept: int, settled: int) -> str:
    if not settled:
        return NO_FIGURE
    return _("%(kept)s of %(measured)s (%(percent)s%%)") % {
        "kept": kept,
        "measured": settled,
        "percent": round(kept / settled * 100),
    }


def promise_table(now: dt.datetime | None = None) -> dict[str, Any]:
    """Share kept per promise per month, newest month first."""
    now = now or timezone.now()
    figures = promise_figures(now)
    kinds = [kind for kind in PROMISES if kind not in STEPS]  # the legal clocks: below
    return {
        "columns": [PROMISE_LABELS.get(kind, kind) for kind in kinds],
        "rows": [
            {
                "month": formats.date_format(month, "YEAR_MONTH_FORMAT"),
                "cells": [
                    {"kind": kind, "text": share_text(*figures.get((month, kind), (0, 0)))}
                    for kind in kinds
                ],
            }
            for month in reversed(month_starts(now))
        ],
    }


def legal_deadlines(now: dt.datetime | None = None) -> list[dict[str, Any]] | None:
    """Per step of the legal reporting clocks, the last twelve months: kept in time out of
    settled (sent), and how many are overdue and not sent yet. None when no regime is on."""
    if not any_regime_on():
        return None
    now = now or timezone.now()
    tz = timezone.get_default_timezone()
    since = dt.datetime.combine(min(month_starts(now)), dt.time.min, tzinfo=tz)
    steps = Promise.objects.filter(kind__in=list(STEPS))
    settled = dict(
        steps.filter(settled_at__gte=since)
        .values("kind")
        .annotate(n=Count("id"), kept=Count("id", filter=Q(state=Promise.State.KEPT)))
        .values_list("kind", "kept")
    )
    counts = dict(
        steps.filter(settled_at__gte=since)
        .values("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    overdue = dict(
        steps.filter(settled_at=None, due_at__lt=now)
        .exclude(state=Promise.State.NOT_APPLICABLE)
        .values("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    return [
        {
            "kind": step,
            "label": PROMISE_LABELS.get(step, step),
            "kept": share_text(settled.get(step, 0), counts.get(step, 0)),
            "overdue": overdue.get(step, 0),
        }
        for step in STEPS
        if regime_on(STEPS[step])
    ]


# --- Presentation -------------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return NO_FIGURE
    hours = seconds / 3600
    if hours < 48:
        text = ngettext("%(hours)s hour", "%(hours)s hours", _plural(hours))
        return text % {"hours": _decimal(hours)}
    return _("%(days)s days") % {"days": _decimal(hours / 24)}


def _plural(value: float) -> int:
    """The count ngettext should choose a form by: 1 only for a figure shown as 1.0."""
    return 1 if round(value, 1) == 1 else 2


def _decimal(value: float) -> str:
    # number_format cuts off digits instead of rounding (2.96 would show as 2.9).
    return formats.number_format(round(value, 1), 1)


def kept_text(f: Figures) -> str:
    if f.kept_share is None:
        return NO_FIGURE
    return _("%(kept)s of %(measured)s (%(percent)s%%)") % {
        "kept": f.kept,
        "measured": f.measured,
        "percent": round(f.kept_share * 100),
    }


def row(f: Figures) -> dict[str, Any]:
    return {
        "month": formats.date_format(f.month, "YEAR_MONTH_FORMAT") if f.month else "",
        "received": f.received,
        "response": duration_text(f.response_median),
        "kept": kept_text(f),
        "fixed": f.fixed,
        "fix": duration_text(f.fix_median),
    }


# Chart geometry, in the SVG's own units. Coordinates go to the template as strings:
# a float there would be localised ("12,5" in Dutch) and break the SVG.
WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 44, 52, 40, 44


def _n(value: float) -> str:
    return f"{value:.1f}"


def _nice_ceiling(value: int) -> int:
    """1, 2, 5, 10, 20, 50, …: the smallest at least `value`, for a readable axis."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def chart(months: list[Figures]) -> dict[str, Any]:
    """Bars of reports received per month, a line of the share of promises kept."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    slot = plot_w / len(months)
    top_count = _nice_ceiling(max([f.received for f in months] + [1]))
    count_ticks = sorted({0, top_count // 2, top_count} if top_count % 2 == 0 else {0, top_count})
    bars, points = [], []
    for i, f in enumerate(months):
        if f.month is None:
            raise ValueError("only monthly figures are charted")
        centre = LEFT + slot * (i + 0.5)
        height = plot_h * f.received / top_count
        bars.append(
            {
                "x": _n(centre - slot * 0.3),
                "y": _n(base - height),
                "width": _n(slot * 0.6),
                "height": _n(height),
                "centre": _n(centre),
                "label": formats.date_format(f.month, "M"),
                "year": f.month.year if i == 0 or f.month.month == 1 else None,
                "title": _("%(month)s: %(received)s received, first response on time: %(kept)s")
                % {
                    "month": formats.date_format(f.month, "YEAR_MONTH_FORMAT"),
                    "received": f.received,
                    "kept": kept_text(f),
                },
            }
        )
        share = f.kept_share
        points.append(None if share is None else {"x": _n(centre), "y": _n(base - plot_h * share)})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "base": base,
        "label_y": base + 18,
        "year_y": base + 34,
        "bars": bars,
        "points": [p for p in points if p],
        "lines": _segments(points),
        "count_ticks": [{"y": _n(base - plot_h * t / top_count), "label": t} for t in count_ticks],
        "share_ticks": [{"y": _n(base - plot_h * p / 100), "label": f"{p}%"} for p in (0, 50, 100)],
    }


def _segments(points: list[dict[str, str] | None]) -> list[str]:
    """Polyline point lists for runs of months that have a share: no line across gaps."""
    runs: list[list[dict[str, str]]] = [[]]
    for p in points:
        if p is None:
            runs.append([])
        else:
            runs[-1].append(p)
    return [" ".join(f"{p['x']},{p['y']}" for p in run) for run in runs if len(run) > 1]


def mail_states(now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Outbound mails queued per month (last twelve, newest first), counted by their state now."""
    now = now or timezone.now()
    tz = timezone.get_default_timezone()
    starts = month_starts(now)
    since = dt.datetime.combine(min(starts), dt.time.min, tzinfo=tz)
    months: dict[dt.date, dict[str, int]] = {
        m: dict.fromkeys(OutboundMail.Status, 0) for m in starts
    }
    counts = (
        OutboundMail.objects.filter(created_at__gte=since)
        .annotate(month=TruncMonth("created_at", tzinfo=tz))
        .values("month", "status")
        .annotate(count=Count("id"))
    )
    for found in counts:
        key = _month_key(found["month"])
        if key in months and found["status"] in months[key]:
            months[key][found["status"]] = found["count"]
    return [
        {
            "month": formats.date_format(m, "YEAR_MONTH_FORMAT"),
            "counts": [by_state[s] for s in OutboundMail.Status],
        }
        for m, by_state in reversed(months.items())
    ]


@require_safe
@staff_required
def metrics(request: HttpRequest) -> HttpResponse:
    months, total = monthly_figures()
    context = {
        "rows": [row(f) for f in reversed(months)],
        "total": row(total),
        "chart": chart(months),
        "promises": promise_table(),
        "legal_deadlines": legal_deadlines(),
        "mail_states": [(s.value, delivery_label(s)) for s in OutboundMail.Status],
        "mail_rows": mail_states(),
    }
    return render(request, "triage/metrics.html", context)
