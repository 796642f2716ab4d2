"""The finder's receipt portal. The receipt code is only ever POSTed, never put in a URL."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from meldpunt.advisories.publishing import (
    credited_in,
    early_publications,
    reviews_by,
    unpublished_for,
    withdraw_credits,
)
from meldpunt.audit.log import append as audit
from meldpunt.audit.models import Disclosure
from meldpunt.lib.pages import render_private
from meldpunt.lib.uploads import file_response
from meldpunt.policy.commitments import category_label
from meldpunt.portal.forms import CreditForm, ErasureForm, ReceiptForm, ReplyForm
from meldpunt.ratelimit import client_key
from meldpunt.reports import lifecycle
from meldpunt.reports.models import Credit, Report, Resolution
from meldpunt.reports.promises import promises_for_finder
from meldpunt.reports.services import (
    StorageFull,
    add_message,
    download_attachment,
    record_event,
    set_credit,
)

STORAGE_FULL = gettext_lazy(
    "We cannot store attachments right now (our storage is full), and nothing was "
    "stored. Send your message without them, or try again later."
)
SESSION_KEY = "portal_report"
SESSION_STARTED = "portal_started"
# However active the finder is, a portal session ends after this.
ABSOLUTE_MAX_SECONDS = 4 * 3600


def get_report_for_finder(request: HttpRequest) -> Report | None:
    uid = request.session.get(SESSION_KEY)
    started = request.session.get(SESSION_STARTED, 0)
    if not uid or timezone.now().timestamp() - started > ABSOLUTE_MAX_SECONDS:
        return None
    return Report.objects.filter(uid=uid).first()


def _finder_or_404(request: HttpRequest) -> Report:
    report = get_report_for_finder(request)
    if report is None:
        raise Http404
    return report


@require_http_methods(["GET", "HEAD", "POST"])
def status(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _login(request)
    report = get_report_for_finder(request)
    if report is None:
        return render_private(request, "portal/login.html", {"form": ReceiptForm()})
    audit("report_viewed", "finder", report.reference, via="status")
    Report.objects.filter(pk=report.pk).update(finder_seen_at=timezone.now())
    return status_page(request, report)


def _login(request: HttpRequest) -> HttpResponse:
    form = ReceiptForm(request.POST, client=client_key(request))
    if not form.is_valid() or form.report is None:
        status = 429 if form.rate_limited else 400
        return render_private(request, "portal/login.html", {"form": form}, status=status)
    request.session.cycle_key()  # no session fixation
    request.session[SESSION_KEY] = str(form.report.uid)
    request.session[SESSION_STARTED] = timezone.now().timestamp()
    request.session.set_expiry(settings.MELDPUNT_STATUS_SESSION_MINUTES * 60)
    return HttpResponseRedirect(reverse("portal:status"), status=303)


def _credit_form(report: Report, data: QueryDict | None = None) -> CreditForm:
    initial = {"credit": report.credit, "name": report.finder.get("name", "")}
    return CreditForm(data, initial=initial)


def status_page(
    request: HttpRequest,
    report: Report,
    reply: ReplyForm | None = None,
    credit: CreditForm | None = None,
    erasure: ErasureForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "report": report,
        "thread": report.messages.prefetch_related("attachments"),
        "attachments": report.attachments.filter(message=None),
        "reply_form": reply or ReplyForm(),
        "credit_form": credit or _credit_form(report),
        "erasure_form": erasure
        or ErasureForm(credited=[a.identifier for a in credited_in(report)]),
        "erased": bool(report.finder.get("erased_at")),
        "disclosures": Disclosure.objects.filter(report=report, finder_may_know=True),
        "advisories": unpublished_for(report),
        # What the finder sent and answered, to re-read here (escaped: it can be a payload).
        "content": report.content,
        "category": category_label(report.category),
        "my_reviews": [(r, r.get_decision_display()) for r in reviews_by(report)],
        # A closed duplicate names its original by reference only, never its finder or text.
        "duplicate_of": report.duplicate_of if report.resolution == Resolution.DUPLICATE else None,
        "earns_credit": lifecycle.earns_credit(report),
        "early": early_publications(report),
        "promises": promises_for_finder(report),
    }
    return render_private(request, "portal/status.html", context, status=status)


@require_POST
def reply(request: HttpRequest) -> HttpResponse:
    report = _finder_or_404(request)
    form = ReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        return status_page(request, report, reply=form, status=400)
    try:
        add_message(report, "finder", form.cleaned_data["text"], form.cleaned_data["attachments"])
    except StorageFull:
        form.add_error("attachments", STORAGE_FULL)
        return status_page(request, report, reply=form, status=507)
    messages.success(request, _("Your message has been sent to the team."))
    return HttpResponseRedirect(reverse("portal:status"), status=303)


@require_safe
def attachment(request: HttpRequest, uid: uuid.UUID) -> HttpResponseBase:
    """A file the team sent with a message: only in this report's finder session, recorded."""
    report = _finder_or_404(request)
    found = download_attachment(report, uid, "finder")
    if found is None:
        raise Http404
    file, data = found
    return file_response(data, str(file.meta.get("name", "")))


@require_POST
def credit(request: HttpRequest) -> HttpResponse:
    report = _finder_or_404(request)
    form = _credit_form(report, request.POST)
    if form.is_valid():
        choice, name = form.cleaned_data["credit"], form.cleaned_data["name"].strip()
        if choice != Credit.NONE and not name:
            form.add_error("name", _("Tell us the name or pseudonym to credit."))
    if not form.is_valid():
        return status_page(request, report, credit=form, status=400)
    with transaction.atomic():
        if name != report.finder.get("name", ""):
            report.finder = {**report.finder, "name": name}
            report.save(update_fields=["finder_blob"])
            record_event(report, "finder_name_changed", "finder")
        set_credit(report, choice, "finder")
    # Published credits follow a withdrawal too; never the other way (nothing is added).
    if revised := withdraw_credits(report, "finder"):
        messages.success(
            request,
            _(
                "Your credit preference has been saved. These advisories have a new revision "
                "without your former credit line: %(ids)s."
            )
            % {"ids": ", ".join(revised)},
        )
    else:
        messages.success(request, _("Your credit preference has been saved."))
    return HttpResponseRedirect(reverse("portal:status"), status=303)


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    return HttpResponseRedirect(reverse("portal:status"), status=303)
