"""Admins read the audit log here; nothing in the application can change it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from meldpunt.accounts.access import admin_required
from meldpunt.audit.actors import actor_names
from meldpunt.audit.models import AuditEntry
from meldpunt.lib.forms import Form
from meldpunt.lib.pages import render_private
from meldpunt.reports.labels import audit_action_label

PER_PAGE = 100


class AuditFilter(Form):
    action = forms.CharField(label=_("Action"), required=False, max_length=60)
    actor = forms.CharField(
        label=_("Actor"),
        required=False,
        max_length=60,
        help_text=_("For example staff:3, finder, system or anonymous."),
    )
    report = forms.CharField(label=_("Report reference"), required=False, max_length=20)
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


def _start_of(day: Any) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def filtered(entries: QuerySet[AuditEntry], f: dict[str, Any]) -> QuerySet[AuditEntry]:
    if f.get("action"):
        entries = entries.filter(action=f["action"].strip())
    if f.get("actor"):
        entries = entries.filter(actor=f["actor"].strip())
    if f.get("report"):
        entries = entries.filter(report_ref=f["report"].strip().upper())
    if f.get("since"):
        entries = entries.filter(created_at__gte=_start_of(f["since"]))
    if f.get("until"):
        entries = entries.filter(created_at__lt=_start_of(f["until"] + timedelta(days=1)))
    return entries


@dataclass(frozen=True)
class Line:
    """An entry as the team reads it: actor by name, action in words; the entry is unchanged."""

    seq: int
    created_at: datetime
    actor: str
    action: Any
    report_ref: str
    data: dict[str, Any]


def lines(entries: list[AuditEntry]) -> list[Line]:
    names = actor_names(e.actor for e in entries)
    return [
        Line(
            e.seq, e.created_at, names[e.actor], audit_action_label(e.action), e.report_ref, e.data
        )
        for e in entries
    ]


@require_safe
@admin_required
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilter(request.GET or None)
    valid = form.is_valid() if form.is_bound else True
    entries = AuditEntry.objects.order_by("-seq")
    if valid and form.is_bound:
        entries = filtered(entries, form.cleaned_data)
    page = Paginator(entries, PER_PAGE).get_page(request.GET.get("page"))
    # The template iterates the page: it gets the readable lines of the same entries.
    page.object_list = lines(list(page.object_list))  # type: ignore[assignment]
    context = {"form": form, "page": page}
    return render_private(request, "audit/log.html", context, status=200 if valid else 400)
