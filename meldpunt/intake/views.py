from __future__ import annotations

from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from meldpunt.intake.forms import ReportForm, new_submission_token, submission_seed
from meldpunt.lib.ratelimit import client_key
from meldpunt.policy.commitments import OUT_OF_SCOPE, current_version
from meldpunt.reports.services import Receipt, find_resubmission, submit_report


def _receipt_page(request: HttpRequest, receipt: Receipt) -> HttpResponse:
    # Shown once: never cached, never put in a URL.
    response = render(
        request, "intake/receipt.html", {"report": receipt.report, "code": receipt.code}
    )
    add_never_cache_headers(response)
    return response


@require_http_methods(["GET", "HEAD", "POST"])
def report(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        form = ReportForm(
            initial={
                "policy_version": current_version().number,
                "submission_token": new_submission_token(),
            }
        )
        return _form_page(request, form)
    # A retried POST of the same form (double click, reload) shows the first receipt.
    seed = submission_seed(request.POST.get("submission_token", ""))
    if seed and (earlier := find_resubmission(seed)):
        return _receipt_page(request, earlier)
    form = ReportForm(request.POST, request.FILES, client=client_key(request))
    if not form.is_valid():
        return _form_page(request, form, status=400)
    try:
        receipt = submit_report(form.new_report(request.LANGUAGE_CODE))
    except IntegrityError:
        # Two copies of one submission raced; the other one won.
        if seed and (earlier := find_resubmission(seed)):
            return _receipt_page(request, earlier)
        raise
    return _receipt_page(request, receipt)


def _form_page(request: HttpRequest, form: ReportForm, status: int = 200) -> HttpResponse:
    context = {"form": form, "out_of_scope": OUT_OF_SCOPE, "version": current_version()}
    response = render(request, "intake/report.html", context, status=status)
    add_never_cache_headers(response)
    return response
