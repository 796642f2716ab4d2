"""The CWE picker: search the shipped catalogue by number or words.

Without JavaScript the search is a page listing matches, each a link back to the report
that fills the assessment form's CWE; with it, the form asks `cwe_suggest` for JSON.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from meldpunt.accounts.access import can_change
from meldpunt.accounts.gate import staff_required
from meldpunt.lib.forms import Form
from meldpunt.lib.pages import render_private
from meldpunt.reports import cwe
from meldpunt.triage.access import get_report_for_triager

LIMIT = 25


class CweSearchForm(Form):
    q = forms.CharField(label=_("Search the CWE list by number or words"), max_length=100)
    report = forms.UUIDField(required=False, widget=forms.HiddenInput)


@require_safe
@staff_required
def cwe_search(request: HttpRequest) -> HttpResponse:
    form = CweSearchForm(request.GET if "q" in request.GET else None)
    found = cwe.search(form.cleaned_data["q"], LIMIT) if form.is_valid() else []
    report = form.cleaned_data.get("report") if form.is_bound and form.is_valid() else None
    back = None
    if report and can_change(request):
        back = reverse("triage:report", args=[get_report_for_triager(request, report).uid])
    results = [
        (w, f"{back}?{urlencode({'cwe': w.id})}#workflow-cwe" if back else "") for w in found
    ]
    context = {"form": form, "results": results, "version": cwe.version(), "back": back}
    return render_private(request, "triage/cwe_search.html", context)


@require_safe
@staff_required
def cwe_suggest(request: HttpRequest) -> JsonResponse:
    form = CweSearchForm(request.GET)
    found = cwe.search(form.cleaned_data["q"], LIMIT) if form.is_valid() else []
    return JsonResponse(
        {"version": cwe.version(), "results": [{"id": w.id, "name": w.name} for w in found]}
    )
