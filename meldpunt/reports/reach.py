"""Was the finder reached? One rule, for one report (`finder_reach`) and in SQL (`not_reached`).

A finder is not reached when the newest mail to them (cancelled ones aside) is deferred,
failed, bounced or in an unknown state; or when they left no address and have not opened
their status page since the team's newest message. The two forms must agree; a table
test holds them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.db.models.lookups import In

from meldpunt.reports.models import Message, OutboundMail, Report

# Why a finder was not reached: a mail state, or "unread" (no address, news not opened).
UNREAD = "unread"


@dataclass(frozen=True)
class Reach:
    reached: bool
    reason: str = ""  # an OutboundMail status in UNDELIVERED, or UNREAD
    since: datetime | None = None  # when the mail got its state, or the unread message's time


REACHED = Reach(True)


def _newest_mail(report_ref: OuterRef | int) -> Q:
    return Q(report=report_ref) & ~Q(status=OutboundMail.Status.CANCELLED)


def finder_reach(report: Report) -> Reach:
    """The rule for one report already loaded."""
    mail = (
        OutboundMail.objects.filter(_newest_mail(report.pk))
        .order_by("-created_at", "-pk")
        .only("status", "status_changed_at", "created_at")
        .first()
    )
    if mail is not None and mail.status in OutboundMail.UNDELIVERED:
        return Reach(False, mail.status, mail.status_changed_at or mail.created_at)
    if report.has_contact:
        return REACHED
    newest = (
        Message.objects.filter(report=report, author=Message.Author.STAFF)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if newest is not None and (report.finder_seen_at is None or report.finder_seen_at < newest):
        return Reach(False, UNREAD, newest)
    return REACHED


def not_reached() -> Q:
    """The same rule as a filter on reports."""
    # No mail at all is "" rather than NULL, so that excluding these reports works too.
    newest_status = Coalesce(
        Subquery(
            OutboundMail.objects.filter(_newest_mail(OuterRef("pk")))
            .order_by("-created_at", "-pk")
            .values("status")[:1]
        ),
        Value(""),
    )
    undelivered: In[Any] = In(newest_status, [str(s) for s in OutboundMail.UNDELIVERED])
    staff = Message.objects.filter(report=OuterRef("pk"), author=Message.Author.STAFF)
    never_seen = Q(finder_seen_at__isnull=True) & Q(Exists(staff))
    newer = Q(Exists(staff.filter(created_at__gt=OuterRef("finder_seen_at"))))
    return Q(undelivered) | (Q(has_contact=False) & (never_seen | newer))
