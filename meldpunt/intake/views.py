from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.views.decorators.http import require_http_methods

from meldpunt.intake import proof_of_work
from meldpunt.intake.counters import count
from meldpunt.intake.forms import ReportForm, new_submission_token
from meldpunt.lib.pages import render_private
from meldpunt.policy.commitments import OUT_OF_SCOPE, current_version
from meldpunt.ratelimit import client_key
from meldpunt.reports.services import (
    Receipt,
    StorageFull,
    find_resubmission,
    may_show_again,
    submit_report,
)


@require_http_methods(["GET", "HEAD", "POST"])
def report(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        token = new_submission_token(_browser(request))
        form = ReportForm(
            initial={"policy_version": current_version().number, "submission_token": token}
        )
        return _form_page(request, form)
    form = ReportForm(
        request.POST, request.FILES, client=client_key(request), browser=_browser(request)
    )
    try:
        return _submit(request, form)
    except (OperationalError, InterfaceError):
        # The database is down: nothing was stored. Give the form back as it was typed.
        form.unavailable()
        count("unavailable")
        response = _form_page(request, form, status=503)
        response["Retry-After"] = "60"
        return response
    except StorageFull:
        form.storage_full()
        count("storage_full")
        return _form_page(request, form, status=507)


def _browser(request: HttpRequest) -> str:
    """The secret in this browser's CSRF cookie (set now if it has none): no session needed."""
    get_token(request)
    return str(request.META["CSRF_COOKIE"])


def _submit(request: HttpRequest, form: ReportForm) -> HttpResponse:
    if not form.is_valid():
        limited = form.has_error(NON_FIELD_ERRORS, code="rate_limited")
        count("rate_limited" if limited else "invalid")
        return _form_page(request, form, status=429 if limited else 400)
    try:
        receipt = submit_report(form.new_report(request.LANGUAGE_CODE))
    except IntegrityError:
        # This form was posted before (double click, reload): show that report's receipt.
        earlier = find_resubmission(form.cleaned_data["submission_token"])
        if earlier is None:
            raise
        if not may_show_again(earlier):
            form.already_sent()
            count("invalid")
            return _form_page(request, form, status=400)
        count("repeated")
        return _receipt_page(request, earlier, repeated=True)
    count("report")
    return _receipt_page(request, receipt)


def _receipt_page(request: HttpRequest, receipt: Receipt, repeated: bool = False) -> HttpResponse:
    # Shown once: never cached, never put in a URL.
    context = {"report": receipt.report, "code": receipt.code, "repeated": repeated}
    return render_private(request, "intake/receipt.html", context)


def _form_page(request: HttpRequest, form: ReportForm, status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "out_of_scope": OUT_OF_SCOPE,
        "version": current_version(),
        "pow_challenge": proof_of_work.new_challenge() if proof_of_work.enabled() else "",
    }
    return render_private(request, "intake/report.html", context, status)
