"""Who read a report, and how long we keep what it holds (retention and legal hold)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Max
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from meldpunt.accounts.access import admin_required, staff_profile, sudo_required
from meldpunt.audit.actors import actor, actor_names
from meldpunt.audit.models import AuditEntry
from meldpunt.reports.models import Report
from meldpunt.reports.retention import set_legal_hold
from meldpunt.triage.access import get_report_for_staff

ACCESS_ACTIONS = ["report_viewed", "attachment_downloaded"]
SHOWN_ACCESSES = 50


@dataclass(frozen=True)
class Access:
    when: datetime  # the last time that day
    who: str
    action: str
    count: int


def accesses(report: Report) -> list[Access]:
    """Who read this report's content and files: one line per reader, kind and day, newest
    first. Grouped when read, so the audit log keeps every entry as it was written."""
    groups = list(
        AuditEntry.objects.filter(report_ref=report.reference, action__in=ACCESS_ACTIONS)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "actor", "action")
        .annotate(last=Max("created_at"), count=Count("id"))
        .order_by("-last")[:SHOWN_ACCESSES]
    )
    names = actor_names(g["actor"] for g in groups)
    return [Access(g["last"], names[g["actor"]], g["action"], g["count"]) for g in groups]


@dataclass(frozen=True)
class Retention:
    hold: bool
    attachments_due: datetime | None
    contact_due: datetime | None
    attachments_purged_at: datetime | None
    contact_purged_at: datetime | None


def retention(report: Report) -> Retention:
    start = report.retention_from
    return Retention(
        hold=report.legal_hold,
        attachments_due=(
            start + timedelta(days=settings.MELDPUNT_RETENTION_ATTACHMENT_DAYS) if start else None
        ),
        contact_due=(
            start + timedelta(days=settings.MELDPUNT_RETENTION_CONTACT_DAYS) if start else None
        ),
        attachments_purged_at=report.attachments_purged_at,
        contact_purged_at=report.contact_purged_at,
    )


@require_POST
@admin_required
@sudo_required
def legal_hold(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    report = get_report_for_staff(request, uid)
    hold = request.POST.get("hold") == "on"
    if hold != report.legal_hold:
        set_legal_hold(report, hold, actor(staff_profile(request).user))
        messages.success(
            request,
            _("Legal hold is on: nothing of this report will be purged.")
            if hold
            else _("Legal hold lifted: the retention schedule applies again."),
        )
    url = reverse("triage:report", args=[report.uid])
    return HttpResponseRedirect(f"{url}#retention", status=303)
