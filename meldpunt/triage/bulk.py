"""Bulk actions from the inbox: one plain form (POST, CSRF), no JavaScript needed.

The rule (meldpunt.reports.bulk): if any selected report refuses the action, nothing
changes and this page names each one and why. The inbox says so next to the buttons.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from meldpunt.accounts.access import can_change, staff_profile
from meldpunt.accounts.gate import staff_required
from meldpunt.lib import snapshots
from meldpunt.lib.forms import Form
from meldpunt.lib.pages import render_private
from meldpunt.reports import bulk
from meldpunt.reports.assessment import assignable_staff
from meldpunt.reports.labels import RESOLUTION_LABELS, STATE_LABELS
from meldpunt.reports.lifecycle import TRANSITIONS
from meldpunt.reports.models import Report, Resolution, Tag
from meldpunt.reports.tags import tag_directory
from meldpunt.triage import message_templates
from meldpunt.triage.forms import StaffChoiceField
from meldpunt.triage.models import TemplateKind

ACTIONS = ("assign", "tag", "untag", "move", "close")


def move_choices() -> list[tuple[str, str]]:
    """Every move the life cycle knows (the duplicate needs its original: not in bulk)."""
    targets = sorted(
        {(to, r) for moves in TRANSITIONS.values() for to, rs in moves.items() for r in rs}
    )
    return [
        (
            f"{to}:{resolution}",
            str(STATE_LABELS[to])
            if not resolution
            else _("Close: %(resolution)s") % {"resolution": RESOLUTION_LABELS[resolution]},
        )
        for to, resolution in targets
        if resolution != Resolution.DUPLICATE
    ]


# What the form's menus list besides the code's own choices: assignable staff's names, and
# the tags as (uid, name).
Menus = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]


def bulk_menus() -> Menus:
    """The menus as their querysets would list them, from rows the inbox reads once and keeps
    while nothing changed (meldpunt/lib/snapshots.py); choosing is still checked against the
    querysets. Everything the form's HTML depends on besides the language and the code."""
    names = snapshots.rows(
        ("assignable staff",), lambda: assignable_staff().values_list("username", flat=True)
    )
    return tuple(names), tuple((str(uid), name) for name, _pk, uid in tag_directory())


class BulkForm(Form):
    reports = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Reports"),
        queryset=Report.objects.only("pk", "uid"),
        to_field_name="uid",
        error_messages={"required": gettext_lazy("Select at least one report.")},
    )
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    assignee = StaffChoiceField(
        label=gettext_lazy("Assign to"),
        queryset=assignable_staff(),
        to_field_name="username",
        required=False,
    )
    tag = forms.ModelChoiceField(
        label=gettext_lazy("Tag"), queryset=Tag.objects.all(), to_field_name="uid", required=False
    )
    move = forms.ChoiceField(label=gettext_lazy("Move to"), required=False)
    resolution = forms.ChoiceField(
        label=gettext_lazy("Close as"),
        required=False,
        choices=[(r, RESOLUTION_LABELS[r]) for r in bulk.BULK_CLOSE_RESOLUTIONS],
    )
    template = forms.ChoiceField(
        label=gettext_lazy("Message to each finder, from the template"),
        required=False,
        choices=TemplateKind.choices,
    )
    # Where to go back to: the inbox with the filters it was showing.
    back = forms.CharField(required=False, max_length=2000)

    # Which field each action needs.
    NEEDS = {
        "assign": "assignee",
        "tag": "tag",
        "untag": "tag",
        "move": "move",
        "close": "template",
    }

    def __init__(self, *args: Any, menus: Menus | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names, tags = menus or bulk_menus()
        cast(forms.ChoiceField, self.fields["move"]).choices = move_choices()
        assignee = cast(StaffChoiceField, self.fields["assignee"])
        assignee.choices = [("", assignee.empty_label or ""), *((n, n) for n in names)]
        tag = cast(forms.ModelChoiceField, self.fields["tag"])  # type: ignore[type-arg]
        tag.choices = [("", tag.empty_label or ""), *tags]

    def clean_reports(self) -> Any:
        chosen = self.cleaned_data["reports"]
        if len(chosen) > bulk.MAX_REPORTS:
            raise forms.ValidationError(
                _("Select at most %(max)d reports at once.") % {"max": bulk.MAX_REPORTS}
            )
        return chosen

    def clean_back(self) -> str:
        back: str = self.cleaned_data["back"]
        # Only a query string for the inbox: never a way to send a triager elsewhere.
        return back if back.startswith("?") and "\n" not in back and "\r" not in back else ""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        needed = self.NEEDS.get(data.get("action", ""))
        if needed and not data.get(needed) and needed not in self.errors:
            self.add_error(needed, _("Choose one for this action."))
        if data.get("action") == "close" and not data.get("resolution"):
            self.add_error("resolution", _("Choose one for this action."))
        return data

    def bulk_action(self) -> bulk.Action:
        data = self.cleaned_data
        action = data["action"]
        if action == "assign":
            return bulk.Assign(data["assignee"])
        if action in ("tag", "untag"):
            return (bulk.AddTag if action == "tag" else bulk.RemoveTag)(data["tag"])
        if action == "move":
            to_state, _sep, resolution = data["move"].partition(":")
            return bulk.Move(to_state, resolution)
        kind = data["template"]
        return bulk.CloseWithMessage(
            data["resolution"],
            lambda report: message_templates.prefilled_text(report, kind),
            template=kind,
        )


@require_POST
@staff_required
def bulk_action(request: HttpRequest) -> HttpResponse:
    staff_profile(request)
    if not can_change(request):
        raise PermissionDenied
    form = BulkForm(request.POST)
    if not form.is_valid():
        return _page(request, form, [], status=400)
    reports = list(form.cleaned_data["reports"])
    try:
        done = bulk.apply_to_all(reports, form.bulk_action(), staff_profile(request).user)
    except bulk.BulkRefused as refused:
        return _page(request, form, refused.refusals, status=409)
    messages.success(
        request,
        ngettext("%(count)d report changed.", "%(count)d reports changed.", done) % {"count": done},
    )
    inbox = reverse("triage:inbox") + form.cleaned_data["back"]
    return HttpResponseRedirect(inbox, status=303)


def _page(
    request: HttpRequest, form: BulkForm, refusals: list[bulk.Refusal], status: int
) -> HttpResponse:
    back = form.cleaned_data.get("back", "") if hasattr(form, "cleaned_data") else ""
    context = {
        "form": form,
        "refusals": refusals,
        "back": reverse("triage:inbox") + back,
    }
    return render_private(request, "triage/bulk.html", context, status)
