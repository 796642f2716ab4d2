"""Tags: the admins' screen that defines them, and putting them on a report's page."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from meldpunt.accounts.access import admin_required, staff_profile
from meldpunt.accounts.gate import staff_required
from meldpunt.audit.actors import staff
from meldpunt.audit.log import append as audit
from meldpunt.lib.forms import Form
from meldpunt.lib.pages import render_private
from meldpunt.reports.labels import TAG_COLOUR_LABELS
from meldpunt.reports.models import Report, Tag
from meldpunt.reports.tags import set_tags
from meldpunt.triage.access import get_report_for_triager

log = logging.getLogger(__name__)


class TagForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Tag
        fields = ["name", "colour", "description"]
        labels = {
            "name": gettext_lazy("Name"),
            "colour": gettext_lazy("Colour"),
            "description": gettext_lazy("What the tag means"),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["colour"].choices = list(TAG_COLOUR_LABELS.items())  # type: ignore[attr-defined]

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("Give the tag a name."))
        taken = Tag.objects.filter(name__iexact=name).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(_("A tag with this name exists already."))
        return name


class ReportTagsForm(Form):
    tags = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Tags"),
        queryset=Tag.objects.all(),
        to_field_name="uid",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


def report_tags_form(report: Report) -> ReportTagsForm:
    """The report page's tag form, with the report's tags ticked."""
    return ReportTagsForm(initial={"tags": list(report.tags.all())}, auto_id="tags-%s")


@require_http_methods(["GET", "HEAD", "POST"])
@admin_required
def tag_list(request: HttpRequest) -> HttpResponse:
    """Every tag, and a form for a new one."""
    form = TagForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        tag = form.save()
        _audited(request, "tag_created", tag)
        messages.success(request, _("The tag has been added."))
        return HttpResponseRedirect(reverse("triage:tags"), status=303)
    context = {"tags": Tag.objects.all(), "form": form}
    return render_private(request, "triage/tags/list.html", context, 400 if form.errors else 200)


@require_http_methods(["GET", "HEAD", "POST"])
@admin_required
def tag_edit(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    tag = get_object_or_404(Tag, uid=uid)
    form = TagForm(request.POST or None, instance=tag)
    if request.method == "POST" and form.is_valid():
        form.save()
        _audited(request, "tag_changed", tag)
        messages.success(request, _("The tag has been saved."))
        return HttpResponseRedirect(reverse("triage:tags"), status=303)
    context = {"tag": tag, "form": form, "used": Report.objects.filter(tags=tag).count()}
    return render_private(request, "triage/tags/edit.html", context, 400 if form.errors else 200)


@require_POST
@admin_required
def tag_delete(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    """Takes the tag off every report too; the reports' histories keep its name."""
    tag = get_object_or_404(Tag, uid=uid)
    with transaction.atomic():
        _audited(request, "tag_deleted", tag)
        tag.delete()
    messages.success(request, _("The tag has been deleted."))
    return HttpResponseRedirect(reverse("triage:tags"), status=303)


def _audited(request: HttpRequest, action: str, tag: Tag) -> None:
    log.info("%s %s by user %s", action, tag.uid, request.user.pk)
    audit(action, staff(request.user), tag=tag.name)


@require_POST
@staff_required
def report_tags(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    """Make the ticked tags the report's tags; each one put on or taken off is an event."""
    report = get_report_for_triager(request, uid)
    form = ReportTagsForm(request.POST)
    url = reverse("triage:report", args=[report.uid]) + "#tags"
    if not form.is_valid():
        messages.error(request, _("That tag does not exist (any more)."))
        return HttpResponseRedirect(url, status=303)
    added, removed = set_tags(report, staff_profile(request).user, form.cleaned_data["tags"])
    if added or removed:
        messages.success(request, _("The tags have been saved."))
    return HttpResponseRedirect(url, status=303)
