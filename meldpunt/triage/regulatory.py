"""The legal reporting clocks on the report page: the flags, each step's due time, a draft
to copy, and the record of what was sent (meldpunt.reports.regulatory does the work).

Only shown when the organisation is subject to the CRA or NIS2 (settings); only report
changers may flag or record. Each change is an event: history, audit log and ledger.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from meldpunt.accounts.access import staff_profile
from meldpunt.accounts.gate import staff_required
from meldpunt.lib.forms import Form
from meldpunt.lib.pages import render_private
from meldpunt.reports import regulatory
from meldpunt.reports import reporting_clocks as rc
from meldpunt.reports.labels import PROMISE_LABELS, PROMISE_STATE_LABELS, SUBMISSION_LABELS
from meldpunt.reports.models import Promise, Report
from meldpunt.triage.access import get_report_for_triager

FORMAT = "%Y-%m-%dT%H:%M"


def moment_field(label: Any, help_text: Any = "") -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        help_text=help_text,
        required=False,
        input_formats=[FORMAT],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=FORMAT),
    )


def _local(moment: datetime | None) -> datetime | None:
    return timezone.localtime(moment) if moment else None


class FlagsForm(Form):
    exploited = forms.BooleanField(label=_("Actively exploited (CRA)"), required=False)
    exploited_aware_at = moment_field(
        _("Aware of the exploitation since"), _("Empty: now. Enter an earlier moment if known.")
    )
    nis2_incident = forms.BooleanField(label=_("Significant incident (NIS2)"), required=False)
    nis2_aware_at = moment_field(_("Aware of the incident since"), _("Empty: now."))
    fix_available_at = moment_field(
        _("Corrective measure available since"),
        _("Empty: when the report was marked fixed."),
    )
    member_states = forms.CharField(
        label=_("Member states affected"), required=False, max_length=200
    )

    def __init__(self, *args: Any, report: Report, **kwargs: Any) -> None:
        self.report = report
        if not args and "data" not in kwargs:
            kwargs.setdefault("initial", self.initial_from(report))
        kwargs.setdefault("auto_id", "regulatory-%s")
        super().__init__(*args, **kwargs)
        if not rc.regime_on(rc.CRA):
            for name in ("exploited", "exploited_aware_at", "fix_available_at"):
                del self.fields[name]
        if not rc.regime_on(rc.NIS2):
            for name in ("nis2_incident", "nis2_aware_at"):
                del self.fields[name]

    @staticmethod
    def initial_from(report: Report) -> dict[str, Any]:
        f = regulatory.current_flags(report)
        aware = f.exploited_aware_at
        if not f.exploited and finder_says_exploited(report):
            aware = report.created_at  # offered: the moment the finder told us
        return {
            "exploited": f.exploited,
            "exploited_aware_at": _local(aware),
            "nis2_incident": f.nis2_incident,
            "nis2_aware_at": _local(f.nis2_aware_at),
            "fix_available_at": _local(f.fix_available_at),
            "member_states": f.member_states,
        }

    def save(self, user: Any) -> bool:
        values = {k: v for k, v in self.cleaned_data.items() if k in self.fields}
        try:
            regulatory.set_flags(self.report, user, **values)
        except regulatory.RegulatoryError as refused:
            self.add_error(refused.field if refused.field in self.fields else None, str(refused))
            return False
        return True


class SentForm(Form):
    step = forms.ChoiceField(choices=[(s, s) for s in rc.STEPS], widget=forms.HiddenInput)
    sent_at = moment_field(_("Sent at"))
    submitted_via = forms.ChoiceField(
        label=_("Submitted via"), choices=list(SUBMISSION_LABELS.items())
    )
    reference = forms.CharField(label=_("Authority's reference"), required=False, max_length=200)

    def __init__(self, *args: Any, report: Report, **kwargs: Any) -> None:
        self.report = report
        super().__init__(*args, **kwargs)
        self.fields["sent_at"].required = True

    def save(self, user: Any) -> bool:
        data = self.cleaned_data
        try:
            regulatory.record_sent(
                self.report,
                user,
                data["step"],
                sent_at=data["sent_at"],
                channel=data["submitted_via"],
                reference=data["reference"],
            )
        except regulatory.RegulatoryError as refused:
            self.add_error(None, str(refused))
            return False
        return True


def finder_says_exploited(report: Report) -> bool:
    return str(report.content.get("exploited", "")) == "yes"


@dataclass(frozen=True)
class StepRow:
    clock: regulatory.Clock
    label: Any
    state: Any
    submitted_via: Any
    draft: str
    form: SentForm | None
    sent_at: datetime | None


def panel(report: Report, ledger: list[Promise], can_change: bool) -> dict[str, Any] | None:
    """The section of the report page, or None when no regime is configured."""
    if not rc.any_regime_on():
        return None
    rows = []
    for c in regulatory.clocks(report, ledger):
        form = None
        if can_change and c.sent is None:
            now = timezone.localtime().replace(second=0, microsecond=0)
            form = SentForm(
                report=report,
                initial={"step": c.step, "sent_at": now},
                auto_id=f"sent-{c.step}-%s",
            )
        rows.append(
            StepRow(
                c,
                PROMISE_LABELS.get(c.step, c.step),
                PROMISE_STATE_LABELS.get(c.promise.state, c.promise.state),
                SUBMISSION_LABELS.get(c.sent["submitted_via"], "") if c.sent else "",
                regulatory.draft(report, c.step) if c.sent is None else "",
                form,
                datetime.fromisoformat(c.sent["sent_at"]) if c.sent else None,
            )
        )
    flags = regulatory.current_flags(report)
    return {
        "steps": rows,
        "flags": flags,
        "finder_says_exploited": finder_says_exploited(report),
        "confirm_prompt": rc.regime_on(rc.CRA)
        and finder_says_exploited(report)
        and not flags.exploited,
        "form": FlagsForm(report=report) if can_change else None,
    }


def _back(report: Report) -> HttpResponse:
    url = reverse("triage:report", args=[report.uid])
    return HttpResponseRedirect(f"{url}#regulatory", status=303)


def _act(
    request: HttpRequest, uid: uuid.UUID, form_class: Any, title: Any, done: Any
) -> HttpResponse:
    report = get_report_for_triager(request, uid)
    if not rc.any_regime_on():
        return _back(report)
    form = form_class(request.POST, report=report)
    if form.is_valid() and form.save(staff_profile(request).user):
        messages.success(request, done)
        return _back(report)
    context = {"report": report, "form": form, "title": title}
    return render_private(request, "triage/workflow/action.html", context, status=400)


@require_POST
@staff_required
def set_flags(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    return _act(
        request, uid, FlagsForm, _("Legal reporting"), _("The legal reporting flags are saved.")
    )


@require_POST
@staff_required
def record_sent(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    return _act(
        request,
        uid,
        SentForm,
        _("Record a report to an authority"),
        _("The report to the authority is recorded."),
    )
