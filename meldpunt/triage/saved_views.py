"""Saved views: save the inbox's filters under a name, for oneself or for the team."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from meldpunt.accounts.access import staff_profile
from meldpunt.accounts.gate import staff_required
from meldpunt.lib.pages import render_private
from meldpunt.reports.filters import UnknownFilterValue
from meldpunt.reports.models import SavedView
from meldpunt.reports.saved_views import (
    check_query,
    clean_query,
    create_view,
    delete_view,
    may_edit,
    visible_views,
)
from meldpunt.triage.inbox import InboxFilter


class SavedViewForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = SavedView
        fields = ["name", "shared", "query"]
        labels = {
            "name": gettext_lazy("Name of the view"),
            "shared": gettext_lazy("Shared with the team"),
            "query": gettext_lazy("Filters"),
        }
        widgets = {"query": forms.HiddenInput}

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("Give the view a name."))
        return name

    def clean_query(self) -> str:
        # Checked by the inbox's own form: a view keeps only filters the inbox can apply.
        query = clean_query(self.cleaned_data.get("query") or "")
        refused = _("These filters cannot be saved: correct them first.")
        if not InboxFilter(QueryDict(query)).is_valid():
            raise forms.ValidationError(refused)
        try:
            # The domain's check too: the one the API applies to a view it is given.
            return check_query(query, self.user)
        except UnknownFilterValue:
            raise forms.ValidationError(refused) from None


def _view_for_editor(request: HttpRequest, uid: uuid.UUID) -> SavedView:
    """404 for a view the user cannot see; 403 for a shared one they may not change."""
    user = staff_profile(request).user
    view = visible_views(user).filter(uid=uid).first()
    if view is None:
        raise Http404
    if not may_edit(view, user):
        raise PermissionDenied
    return view


@require_http_methods(["GET", "HEAD", "POST"])
@staff_required
def view_list(request: HttpRequest) -> HttpResponse:
    """Every view this staff member can apply; POST saves the inbox's filters as a new one."""
    user = staff_profile(request).user
    form = SavedViewForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        view = create_view(user, data["name"], data["query"], data["shared"])
        messages.success(request, _("The view has been saved."))
        return HttpResponseRedirect(f"{reverse('triage:inbox')}?{view.query}", status=303)
    views = [(v, may_edit(v, user)) for v in visible_views(user)]
    context = {"views": views, "form": form}
    return render_private(request, "triage/views/list.html", context, 400 if form.errors else 200)


@require_http_methods(["GET", "HEAD", "POST"])
@staff_required
def view_edit(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    view = _view_for_editor(request, uid)
    form = SavedViewForm(request.POST or None, instance=view, user=staff_profile(request).user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("The view has been saved."))
        return HttpResponseRedirect(reverse("triage:views"), status=303)
    context = {"view": view, "form": form}
    return render_private(request, "triage/views/edit.html", context, 400 if form.errors else 200)


@require_POST
@staff_required
def view_delete(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    delete_view(_view_for_editor(request, uid), staff_profile(request).user)
    messages.success(request, _("The view has been deleted."))
    return HttpResponseRedirect(reverse("triage:views"), status=303)
