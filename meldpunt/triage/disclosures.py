"""The register of disclosures of finders' personal data to third parties (admins record them)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from meldpunt.accounts.access import admin_required, sudo_required
from meldpunt.audit.actors import staff
from meldpunt.audit.log import append
from meldpunt.audit.models import Disclosure
from meldpunt.lib.forms import Form, TextField
from meldpunt.lib.pages import render_private
from meldpunt.reports.models import Report


class DisclosureForm(Form):
    reference = forms.CharField(label=gettext_lazy("Report reference"), max_length=20)
    recipient = forms.CharField(
        label=gettext_lazy("Disclosed to"),
        max_length=300,
        help_text=gettext_lazy(
            "The organisation or authority, e.g. the police or the national CSIRT."
        ),
    )
    shared = TextField(
        label=gettext_lazy("What was disclosed"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    legal_basis = forms.CharField(
        label=gettext_lazy("Legal basis"),
        max_length=500,
        help_text=gettext_lazy("The law or order that required it, or the finder's consent."),
    )
    disclosed_on = forms.DateField(
        label=gettext_lazy("Date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    finder_may_know = forms.BooleanField(
        label=gettext_lazy(
            "The finder may be told (untick only where the law forbids telling them)"
        ),
        required=False,
        initial=True,
    )

    def clean_reference(self) -> Report:
        report = Report.objects.by_reference(self.cleaned_data["reference"])
        if report is None:
            raise forms.ValidationError(_("There is no report with this reference."))
        return report

    def clean_disclosed_on(self) -> Any:
        day = self.cleaned_data["disclosed_on"]
        if day > timezone.localdate():
            raise forms.ValidationError(_("Record a disclosure once it has happened."))
        return day


def record(form: DisclosureForm, request: HttpRequest) -> Disclosure:
    d = form.cleaned_data
    with transaction.atomic():
        disclosure = Disclosure(
            report=d["reference"],
            disclosed_on=d["disclosed_on"],
            finder_may_know=d["finder_may_know"],
            recorded_at=timezone.now(),
            recorded_by=request.user if request.user.is_authenticated else None,
        )
        disclosure.details = {
            "recipient": d["recipient"],
            "data": d["shared"],
            "legal_basis": d["legal_basis"],
        }
        disclosure.save()
        # Straight into the audit log, not a report event: a disclosure the finder may not
        # be told about must not show in the history they can export.
        append(
            "personal_data_disclosed",
            staff(request.user),
            d["reference"].reference,
            disclosure=str(disclosure.uid),
            finder_may_know=d["finder_may_know"],
        )
    return disclosure


@require_http_methods(["GET", "HEAD", "POST"])
@admin_required
@sudo_required
def register(request: HttpRequest) -> HttpResponse:
    form = DisclosureForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        record(form, request)
        messages.success(request, _("The disclosure has been recorded."))
        return HttpResponseRedirect(reverse("audit:disclosures"), status=303)
    context = {
        "form": form,
        "disclosures": Disclosure.objects.select_related("report", "recorded_by")[:500],
    }
    return render_private(
        request, "audit/disclosures.html", context, status=400 if form.is_bound else 200
    )
