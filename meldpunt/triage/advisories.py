"""The team's advisory pages: list, draft, preview, the finders' reviews, schedule, publish.

Every staff member may read; triagers and admins change; publishing asks for the second
factor again, because what it prints cannot be taken back.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from meldpunt.accounts.access import (
    can_change,
    changer_required,
    get_for_staff,
    staff_profile,
    sudo_required,
)
from meldpunt.accounts.gate import staff_required
from meldpunt.advisories import csaf, exports, publishing
from meldpunt.advisories.forms import (
    DECISION_LABELS,
    AddReportForm,
    AdvisoryForm,
    EarlyScheduleForm,
    RevisionForm,
    TranslationForm,
)
from meldpunt.advisories.models import Advisory
from meldpunt.lib.pages import render_private
from meldpunt.triage.access import get_report_for_triager


def get_advisory_for_staff(request: HttpRequest, uid: uuid.UUID) -> Advisory:
    return get_for_staff(request, Advisory.objects.all(), uid=uid)


def _user(request: HttpRequest) -> User:
    return staff_profile(request).user


def _back(advisory: Advisory, anchor: str = "") -> HttpResponse:
    url = reverse("advisories:detail", args=[advisory.uid])
    return HttpResponseRedirect(f"{url}{anchor}", status=303)


def preview_context(advisory: Advisory, credits: list[str]) -> dict[str, Any]:
    """What the shared preview include renders: the draft as it would be printed."""
    return {"advisory": advisory, "content": publishing.content_of(advisory), "credits": credits}


def _reviews(advisory: Advisory) -> list[dict[str, Any]]:
    return [
        {
            "review": r,
            "label": DECISION_LABELS.get(r.decision, r.decision),
            "stale": publishing.is_stale(r, advisory),
        }
        for r in advisory.reviews.select_related("report")
    ]


def _translation_forms(
    advisory: Advisory, bound: TranslationForm | None = None
) -> list[TranslationForm]:
    """A form per site language other than the advisory's own (the posted one as posted)."""
    return [
        bound
        if bound is not None and bound.language == code
        else TranslationForm(advisory=advisory, language=code)
        for code in publishing.site_languages()
        if code != advisory.language
    ]


def detail_page(
    request: HttpRequest,
    advisory: Advisory,
    form: AdvisoryForm | None = None,
    add_form: AddReportForm | None = None,
    problems: list[str] | None = None,
    status: int = 200,
    translation_form: TranslationForm | None = None,
) -> HttpResponse:
    changer = can_change(request)
    revisions = list(advisory.revisions.order_by("number"))
    context = {
        **preview_context(advisory, publishing.credits_for(advisory)),
        "cve_missing": exports.cve_missing(advisory, revisions),
        "reports": advisory.reports.order_by("created_at", "pk"),
        "reviews": _reviews(advisory),
        "revisions": revisions,
        "missing": publishing.missing(publishing.content_of(advisory), advisory.language),
        "publish_now_offered": publishing.publish_now_offered(advisory),
        "problems": problems or [],
        "can_change": changer,
        "form": (form or AdvisoryForm(advisory=advisory)) if changer else None,
        "add_form": (add_form or AddReportForm()) if changer else None,
        "translation_forms": _translation_forms(advisory, translation_form) if changer else [],
        "translations": publishing.translations_of(
            publishing.content_of(advisory), advisory.language
        ),
    }
    return render_private(request, "advisories/staff_detail.html", context, status=status)


@require_safe
@staff_required
def advisory_list(request: HttpRequest) -> HttpResponse:
    staff_profile(request)
    advisories = Advisory.objects.prefetch_related("reports")
    return render_private(request, "advisories/staff_list.html", {"advisories": advisories})


@require_safe
@staff_required
def detail(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    return detail_page(request, get_advisory_for_staff(request, uid))


@require_safe
@staff_required
def cve_json(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    """The CVE JSON 5 record of the published advisory, as a download for the CNA."""
    advisory = get_advisory_for_staff(request, uid)
    record = exports.cve_record(advisory, list(advisory.revisions.order_by("number")))
    if record is None:
        raise Http404
    response = HttpResponse(csaf.serialize(record), content_type="application/json")
    name = record["cveMetadata"]["cveId"]
    response["Content-Disposition"] = f'attachment; filename="{name}.json"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@changer_required
def start(request: HttpRequest, report_uid: uuid.UUID) -> HttpResponse:
    report = get_report_for_triager(request, report_uid)
    try:
        advisory = publishing.start_draft(report, _user(request))
    except publishing.AdvisoryError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(reverse("triage:report", args=[report.uid]), status=303)
    messages.success(request, _("Advisory %(id)s drafted.") % {"id": advisory.identifier})
    return _back(advisory, "#edit")


@require_POST
@changer_required
def edit(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    advisory = get_advisory_for_staff(request, uid)
    form = AdvisoryForm(request.POST, advisory=advisory)
    if not form.is_valid():
        return detail_page(request, advisory, form=form, status=400)
    if publishing.update_draft(advisory, form.changes(), _user(request)):
        messages.success(
            request,
            _("Draft version %(version)d saved; the finders have been told.")
            % {"version": advisory.draft_version},
        )
    return _back(advisory)


@require_POST
@changer_required
def translate(request: HttpRequest, uid: uuid.UUID, language: str) -> HttpResponse:
    advisory = get_advisory_for_staff(request, uid)
    if language == advisory.language or language not in publishing.site_languages():
        raise Http404
    form = TranslationForm(request.POST, advisory=advisory, language=language)
    if not form.is_valid():
        return detail_page(request, advisory, translation_form=form, status=400)
    if publishing.update_translation(advisory, language, form.changes(), _user(request)):
        messages.success(
            request,
            _("Draft version %(version)d saved; the finders have been told.")
            % {"version": advisory.draft_version},
        )
    return _back(advisory, f"#translation-{language}")


@require_POST
@changer_required
def add_report(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    advisory = get_advisory_for_staff(request, uid)
    form = AddReportForm(request.POST)
    if form.is_valid():
        try:
            publishing.add_report(advisory, form.cleaned_data["reference"], _user(request))
        except publishing.AdvisoryError as exc:
            form.add_error("reference", str(exc))
    if not form.is_valid():
        return detail_page(request, advisory, add_form=form, status=400)
    messages.success(request, _("The report now feeds this advisory."))
    return _back(advisory)


def _act(request: HttpRequest, uid: uuid.UUID, action: Any, done: str) -> HttpResponse:
    advisory = get_advisory_for_staff(request, uid)
    try:
        action(advisory, _user(request))
    except publishing.PublishRefused as exc:
        return detail_page(request, advisory, problems=exc.messages, status=400)
    except publishing.AdvisoryError as exc:
        return detail_page(request, advisory, problems=[str(exc)], status=400)
    messages.success(request, done)
    return _back(advisory)


@require_POST
@changer_required
def schedule(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    advisory = get_advisory_for_staff(request, uid)
    if advisory.status == Advisory.Status.DRAFT and publishing.schedules_early(advisory):
        # Earlier than a finder approved: the reason and a fresh second factor first.
        return HttpResponseRedirect(reverse("advisories:schedule_early", args=[advisory.uid]))
    return _act(request, uid, publishing.schedule, _("Scheduled for publication."))


@require_http_methods(["GET", "HEAD", "POST"])
@changer_required
@sudo_required
def schedule_early(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    """Schedule before the moment a finder approved: why, confirmed with the second factor."""
    advisory = get_advisory_for_staff(request, uid)
    approved = publishing.schedules_early(advisory)
    if advisory.status != Advisory.Status.DRAFT or approved is None:
        return _back(advisory)
    form = EarlyScheduleForm(request.POST if request.method == "POST" else None)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            publishing.schedule(advisory, _user(request), form.cleaned_data["early_reason"])
        except publishing.PublishRefused as exc:
            problems = exc.messages
        except publishing.AdvisoryError as exc:
            problems = [str(exc)]
        else:
            messages.success(request, _("Scheduled for publication; the finders have been told."))
            return _back(advisory)
    context = {"advisory": advisory, "form": form, "problems": problems, "approved_at": approved}
    status = 400 if request.method == "POST" else 200
    return render_private(request, "advisories/staff_schedule_early.html", context, status=status)


@require_POST
@changer_required
def unschedule(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    return _act(request, uid, publishing.unschedule, _("Taken off the schedule."))


@require_http_methods(["GET", "HEAD", "POST"])
@changer_required
@sudo_required
def publish(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    """Publish now, or a revision: a page to confirm (where the second factor leads back)."""
    advisory = get_advisory_for_staff(request, uid)
    if not publishing.publish_now_offered(advisory):
        messages.error(request, _("Publish now is offered once the draft has what it needs."))
        return _back(advisory, "#missing")
    form = RevisionForm(request.POST if request.method == "POST" else None, advisory=advisory)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            revision = publishing.publish(
                advisory,
                summary=data["summary"],
                user=_user(request),
                early_reason=data.get("early_reason", ""),
                skip_review=data.get("skip_review", False),
            )
        except publishing.PublishRefused as exc:
            problems = exc.messages
        else:
            messages.success(
                request,
                _("Published as revision %(number)d.") % {"number": revision.number},
            )
            return _back(advisory)
    context = {
        **preview_context(advisory, publishing.credits_for(advisory)),
        "form": form,
        "problems": problems,
        "revision": advisory.status == Advisory.Status.PUBLISHED,
        "promised_at": publishing.promised_at(advisory) if form.early else None,
    }
    status = 400 if request.method == "POST" else 200
    return render_private(request, "advisories/staff_publish.html", context, status=status)
