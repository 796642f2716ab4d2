"""State changes, assessment, messages to the finder, duplicates and message templates.

Actions are POST-only and answer with a 303 back to the report page; a refused form is
shown again, with its errors, on a page of its own.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from meldpunt.accounts.access import admin_required, staff_profile
from meldpunt.accounts.gate import staff_required
from meldpunt.audit.actors import staff
from meldpunt.audit.log import append as audit
from meldpunt.lib.middleware import allow_same_origin_fetch
from meldpunt.lib.pages import render_private
from meldpunt.reports import completeness, cwe, duplicates, lifecycle
from meldpunt.reports.messages import PLACEHOLDERS, first_response_due
from meldpunt.reports.models import Report, Resolution, State
from meldpunt.triage import forms, message_templates
from meldpunt.triage.access import get_report_for_triager
from meldpunt.triage.models import MessageTemplate, TemplateKind

log = logging.getLogger(__name__)


def _user(request: HttpRequest) -> User:
    return staff_profile(request).user


def _back(report: Report) -> HttpResponse:
    return HttpResponseRedirect(reverse("triage:report", args=[report.uid]), status=303)


def panel_context(report: Report, cwe_pick: str = "") -> dict[str, Any]:
    """What the workflow panel on the report page shows a triager.

    `cwe_pick` is a weakness picked on the CWE search page, put in the form, not yet saved.
    """
    ids = "workflow-%s"  # unique among the other forms of the report page
    can_mark_duplicate = lifecycle.can_close_as(report, Resolution.DUPLICATE)
    picked = {"cwe": cwe_pick} if cwe.name(cwe_pick) else {}
    return {
        "move_form": forms.MoveForm(report=report, auto_id=ids),
        "assessment_form": forms.AssessmentForm(report=report, auto_id=ids, initial=picked),
        "template_form": forms.TemplateChoiceForm(auto_id=ids),
        "duplicate_form": forms.DuplicateChoiceForm(report=report, auto_id=ids),
        "suggestions": duplicates.suggest_duplicates(report) if can_mark_duplicate else [],
        "can_mark_duplicate": can_mark_duplicate,
        "first_due": first_response_due(report),
        **needs_info_suggestion(report, ids),
    }


def needs_info_suggestion(report: Report, ids: str) -> dict[str, Any]:
    """What the report lacks (meldpunt.reports.completeness) and the question to ask for it.

    Suggested while the report waits for its first assessment (received or needs_info).
    """
    if report.state not in (State.RECEIVED, State.NEEDS_INFO) or report.first_response_at:
        return {"missing": []}
    lacking = completeness.missing(report.content)
    if not lacking:
        return {"missing": []}
    text = message_templates.needs_info_text(report, lacking)
    return {
        "missing": [completeness.label(kind) for kind in lacking],
        "needs_info_form": forms.NeedsInfoForm(
            initial={"text": text}, report=report, auto_id="needs-info-%s"
        ),
    }


def _act(
    request: HttpRequest, uid: uuid.UUID, form_class: Any, title: str, done: str
) -> HttpResponse:
    """Run a form's action on a report; show the form again if it refuses."""
    report = get_report_for_triager(request, uid)
    form = form_class(request.POST, request.FILES, report=report)
    if form.is_valid() and form.save(_user(request)):
        messages.success(request, done)
        return _back(report)
    if isinstance(form, forms.MessageForm):
        return _compose_page(request, report, form, status=400)
    context = {"report": report, "form": form, "title": title}
    page = render_private(request, "triage/workflow/action.html", context, status=400)
    return allow_same_origin_fetch(page)  # cvss.js on the assessment form fetches CWEs


@require_POST
@staff_required
def transition(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    title, done = _("Move the report"), _("The report has moved on.")
    return _act(request, uid, forms.MoveForm, title, done)


@require_POST
@staff_required
def assess(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    title, done = _("Assessment"), _("The assessment has been saved.")
    return _act(request, uid, forms.AssessmentForm, title, done)


@require_http_methods(["GET", "HEAD", "POST"])
@staff_required
def mark_duplicate(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    """GET asks for confirmation with the message to the finder; POST closes and sends it."""
    report = get_report_for_triager(request, uid)
    form: forms.DuplicateChoiceForm
    if request.method == "POST":
        form = forms.DuplicateForm(request.POST, report=report)
        if form.is_valid() and form.save(_user(request)):
            messages.success(request, _("The report has been closed as a duplicate."))
            return _back(report)
    else:
        form = forms.DuplicateChoiceForm(request.GET, report=report)
        if form.is_valid():
            text = message_templates.prefilled_text(report, TemplateKind.DUPLICATE)
            initial = {"original": form.cleaned_data["original"].reference, "text": text}
            return _duplicate_page(
                request, report, forms.DuplicateForm(initial=initial, report=report)
            )
    return _duplicate_page(request, report, form, status=400)


def _duplicate_page(
    request: HttpRequest, report: Report, form: forms.DuplicateChoiceForm, status: int = 200
) -> HttpResponse:
    # The original is named by its reference only: never its finder or its text.
    original = Report.objects.by_reference(str(form["original"].value() or ""))
    context = {
        "report": report,
        "form": form,
        "original": original if original and original.pk != report.pk else None,
        "confirming": isinstance(form, forms.DuplicateForm),
        "earns_credit": lifecycle.duplicates_earn_credit(),
    }
    return render_private(request, "triage/workflow/duplicate.html", context, status=status)


@require_POST
@staff_required
def ask_information(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    title, done = _("Ask for the missing information"), _("The question has been sent.")
    return _act(request, uid, forms.NeedsInfoForm, title, done)


@require_POST
@staff_required
def first_response(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    title, done = _("First response"), _("The first response has been sent.")
    return _act(request, uid, forms.FirstResponseForm, title, done)


@require_POST
@staff_required
def send_message(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    title, done = _("Message"), _("The message has been sent.")
    return _act(request, uid, forms.MessageForm, title, done)


def _compose_page(
    request: HttpRequest, report: Report, form: forms.MessageForm, status: int = 200
) -> HttpResponse:
    context = {
        "report": report,
        "form": form,
        "first_due": first_response_due(report),
        "picker": forms.TemplateChoiceForm(request.GET or None, auto_id="pick-%s"),
    }
    return render_private(request, "triage/workflow/compose.html", context, status=status)


@require_safe
@staff_required
def compose(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    """The message form, pre-filled from a template in the report's language."""
    report = get_report_for_triager(request, uid)
    picker = forms.TemplateChoiceForm(request.GET)
    kind = picker.cleaned_data["template"] if picker.is_valid() else ""
    initial = {
        "template": kind,
        "text": message_templates.prefilled_text(report, kind) if kind else "",
    }
    first_due = first_response_due(report)
    form_class = forms.FirstResponseForm if first_due else forms.MessageForm
    return _compose_page(request, report, form_class(initial=initial, report=report))


@require_safe
@admin_required
def templates(request: HttpRequest) -> HttpResponse:
    context = {"templates": MessageTemplate.objects.all(), "placeholders": PLACEHOLDERS}
    return render(request, "triage/workflow/templates.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
@admin_required
def edit_template(request: HttpRequest, kind: str, language: str) -> HttpResponse:
    template = get_object_or_404(MessageTemplate, kind=kind, language=language)
    form = forms.TemplateForm(request.POST or None, instance=template)
    if request.method == "POST" and form.is_valid():
        form.instance.updated_by = _user(request)
        form.save()
        log.info("message template %s/%s changed by user %s", kind, language, request.user.pk)
        audit("template_changed", staff(request.user), kind=kind, language=language)
        messages.success(request, _("The template has been saved."))
        return HttpResponseRedirect(reverse("triage:templates"), status=303)
    context = {"template": template, "form": form, "placeholders": PLACEHOLDERS}
    status = 400 if request.method == "POST" else 200
    return render(request, "triage/workflow/edit_template.html", context, status=status)
