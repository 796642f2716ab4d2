"""The scope inventory under the desk: every staff member reads it, admins change it."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from meldpunt.accounts.access import admin_required, staff_profile
from meldpunt.accounts.gate import staff_required
from meldpunt.accounts.models import Role
from meldpunt.audit.actors import actor, staff
from meldpunt.audit.log import append as audit
from meldpunt.lib.forms import Form
from meldpunt.lib.pages import render_private
from meldpunt.scope.inventory import AssetSpec, check_contact, checked, recheck
from meldpunt.scope.matching import AssetError, normalise, unicode_host
from meldpunt.scope.models import Asset

log = logging.getLogger(__name__)

KIND_LABELS: dict[str, Any] = {
    "domain": gettext_lazy("Domain"),
    "url": gettext_lazy("URL or path (prefix)"),
    "ip": gettext_lazy("IP address"),
    "cidr": gettext_lazy("IP range (CIDR)"),
    "app": gettext_lazy("Mobile app id"),
    "service": gettext_lazy("Third-party service (name)"),
}
STATUS_LABELS: dict[str, Any] = {
    "in_scope": gettext_lazy("In scope"),
    "out_of_scope": gettext_lazy("Out of scope"),
    "third_party": gettext_lazy("Third party"),
}
# Why a value is refused, per kind, in the reader's language.
_BAD_VALUE: dict[str, Any] = {
    "domain": gettext_lazy(
        "Not a domain name such as example.org or *.example.org (internationalised names "
        "are fine; an IP address is kind “IP address”)."
    ),
    "url": gettext_lazy(
        "Not a URL prefix such as https://www.example.org/app (with its scheme and host, "
        "without a query)."
    ),
    "ip": gettext_lazy("Not an IP address such as 192.0.2.10 or 2001:db8::1."),
    "cidr": gettext_lazy(
        "Not a CIDR range such as 192.0.2.0/24 or 2001:db8::/32 (the address bits after the "
        "prefix must be zero)."
    ),
    "app": gettext_lazy("Not an app id such as com.example.app."),
    "service": gettext_lazy("A service's name is one line of at most 200 characters."),
}


class AssetForm(Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=list(KIND_LABELS.items()))
    value = forms.CharField(
        label=gettext_lazy("Value"),
        max_length=300,
        help_text=gettext_lazy(
            "A domain (*.example.org for every subdomain too), a URL prefix, an IP address, a "
            "CIDR range, an app id or a service's name."
        ),
    )
    subdomains = forms.BooleanField(
        label=gettext_lazy("And every subdomain (domains only)"), required=False
    )
    status = forms.ChoiceField(label=gettext_lazy("Status"), choices=list(STATUS_LABELS.items()))
    note = forms.CharField(
        label=gettext_lazy("Note (shown on the public policy page)"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    contact = forms.CharField(
        label=gettext_lazy("Where to report instead (third party: a mail address or URL)"),
        max_length=300,
        required=False,
    )

    def __init__(self, *args: Any, instance: Asset | None = None, **kwargs: Any) -> None:
        if instance is not None:
            kwargs.setdefault(
                "initial",
                {
                    "kind": instance.kind,
                    "value": instance.value,
                    "subdomains": instance.subdomains,
                    "status": instance.status,
                    "note": instance.note,
                    "contact": instance.contact,
                },
            )
        super().__init__(*args, **kwargs)
        self.instance = instance

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, value = data.get("kind"), data.get("value")
        if not kind or not value:
            return data
        try:
            normalise(kind, value)
        except AssetError:
            self.add_error("value", str(_BAD_VALUE[kind]))
            return data
        if data.get("subdomains") and kind != "domain":
            self.add_error("subdomains", _("Only a domain can cover its subdomains."))
            return data
        if data.get("contact"):
            try:
                check_contact(data["contact"].strip())
            except AssetError:
                self.add_error("contact", _("Give a mail address or an http(s) URL."))
                return data
        spec = checked(
            AssetSpec(
                kind=kind,
                value=value,
                status=data["status"],
                subdomains=bool(data.get("subdomains")),
                note=data.get("note", ""),
                contact=data.get("contact", ""),
            )
        )
        taken = Asset.objects.filter(kind=spec.kind, value=spec.value, subdomains=spec.subdomains)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            self.add_error("value", _("This asset is in the inventory already."))
        data["spec"] = spec
        return data

    def save(self) -> Asset:
        spec: AssetSpec = self.cleaned_data["spec"]
        asset = self.instance or Asset()
        asset.kind, asset.value, asset.subdomains = spec.kind, spec.value, spec.subdomains
        asset.status, asset.note, asset.contact = spec.status, spec.note, spec.contact
        asset.save()
        return asset


def _is_admin(request: HttpRequest) -> bool:
    return staff_profile(request).role == Role.ADMIN


def _rows(assets: Any) -> list[dict[str, Any]]:
    return [
        {
            "asset": a,
            "kind": KIND_LABELS.get(a.kind, a.kind),
            "status": STATUS_LABELS.get(a.status, a.status),
            "shown": unicode_host(a.value) if a.kind == "domain" else a.value,
        }
        for a in assets
    ]


@require_http_methods(["GET", "HEAD", "POST"])
@staff_required
def asset_list(request: HttpRequest) -> HttpResponse:
    """The inventory for every staff member; the form to add an asset for admins."""
    admin = _is_admin(request)
    if request.method == "POST" and not admin:
        raise PermissionDenied
    form = AssetForm(request.POST or None) if admin else None
    if form is not None and request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                asset = form.save()
                _audited(request, "scope_asset_added", asset)
        except IntegrityError:
            form.add_error("value", _("This asset is in the inventory already."))
        else:
            messages.success(
                request,
                _("The asset has been added. Check the open reports again to apply it."),
            )
            return HttpResponseRedirect(reverse("triage:scope"), status=303)
    context = {
        "rows": _rows(Asset.objects.all()),
        "form": form,
        "is_admin": admin,
    }
    status = 400 if form is not None and form.errors else 200
    return render_private(request, "triage/scope/list.html", context, status)


@require_http_methods(["GET", "HEAD", "POST"])
@admin_required
def asset_edit(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    asset = get_object_or_404(Asset, uid=uid)
    form = AssetForm(request.POST or None, instance=asset)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
            _audited(request, "scope_asset_changed", asset)
        messages.success(request, _("The asset has been saved."))
        return HttpResponseRedirect(reverse("triage:scope"), status=303)
    context = {"asset": asset, "form": form, "row": _rows([asset])[0]}
    return render_private(request, "triage/scope/edit.html", context, 400 if form.errors else 200)


@require_POST
@admin_required
def asset_delete(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    asset = get_object_or_404(Asset, uid=uid)
    with transaction.atomic():
        _audited(request, "scope_asset_removed", asset)
        asset.delete()
    messages.success(request, _("The asset has been removed."))
    return HttpResponseRedirect(reverse("triage:scope"), status=303)


@require_POST
@admin_required
def scope_recheck(request: HttpRequest) -> HttpResponse:
    """Check the open reports against the inventory as it is now; a change is an event."""
    changed = recheck(who=actor(request.user))
    messages.success(
        request,
        _("The open reports have been checked again: %(count)s have a new verdict.")
        % {"count": changed},
    )
    return HttpResponseRedirect(reverse("triage:scope"), status=303)


def _audited(request: HttpRequest, action: str, asset: Asset) -> None:
    # The inventory is what the public policy lists: naming the asset in the log is fine.
    log.info("%s %s by user %s", action, asset.uid, request.user.pk)
    audit(action, staff(request.user), asset=str(asset), kind=asset.kind, status=asset.status)
