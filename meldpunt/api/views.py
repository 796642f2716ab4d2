"""The staff page for API tokens: each sees their own (admins everyone's), creates, revokes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from meldpunt.accounts.access import staff_profile
from meldpunt.accounts.gate import SUDO_SECONDS, second_factor_age, staff_required
from meldpunt.accounts.models import Role
from meldpunt.api import tokens
from meldpunt.lib.forms import Form
from meldpunt.lib.middleware import CONTENT_SECURITY_POLICY
from meldpunt.lib.pages import render_private

SCOPE_LABELS: dict[str, Any] = {
    "read": _("read: list and read reports, notes and advisories"),
    "triage": _("triage: change reports (state, assessment, messages, notes, drafts)"),
    "publish": _("publish: publish advisories, also earlier than promised"),
    "admin": _("admin: administration"),
}
EXPIRY_DAYS = {"30": 30, "90": 90, "365": 365, "never": None}


class TokenForm(Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What the token is for, e.g. the script or tool that uses it."),
    )
    scopes = forms.MultipleChoiceField(label=_("Scopes"), widget=forms.CheckboxSelectMultiple)
    expires = forms.ChoiceField(
        label=_("Expires"),
        initial="90",
        choices=[
            ("30", _("in 30 days")),
            ("90", _("in 90 days")),
            ("365", _("in a year")),
            ("never", _("never (until revoked)")),
        ],
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["scopes"]
        if not isinstance(field, forms.MultipleChoiceField):
            raise TypeError("scopes must be a multiple choice field")
        field.choices = [(s, SCOPE_LABELS[s]) for s in tokens.allowed_scopes(user)]
        field.initial = ["read"]


def _page(
    request: HttpRequest, form: TokenForm, shown_once: str | None = None, status: int = 200
) -> HttpResponse:
    user: User = staff_profile(request).user
    context = {
        "form": form,
        "tokens": tokens.visible_tokens(user),
        "everyone": staff_profile(request).role == Role.ADMIN,
        "new_token": shown_once or "",
        "now": timezone.now(),
    }
    return render_private(request, "api/tokens.html", context, status=status)


@require_safe
@staff_required
def token_list(request: HttpRequest) -> HttpResponse:
    return _page(request, TokenForm(user=staff_profile(request).user))


def _fresh(request: HttpRequest) -> bool:
    age = second_factor_age(request)
    return age is not None and age <= SUDO_SECONDS


@require_POST
@staff_required
def create(request: HttpRequest) -> HttpResponse:
    user = staff_profile(request).user
    form = TokenForm(request.POST, user=user)
    if not form.is_valid():
        return _page(request, form, status=400)
    if {"publish", "admin"} & set(form.cleaned_data["scopes"]) and not _fresh(request):
        # Such a token publishes without a second factor: making one asks for a fresh one,
        # as publishing on the pages does. Back here afterwards, to create it again.
        query = urlencode({"next": reverse("tokens:list")})
        return HttpResponseRedirect(f"{reverse('accounts:again')}?{query}", status=303)
    days = EXPIRY_DAYS[form.cleaned_data["expires"]]
    expires_at = timezone.now() + timedelta(days=days) if days else None
    secret = tokens.issue_token(
        user, form.cleaned_data["name"], form.cleaned_data["scopes"], expires_at
    )
    # Shown in this answer only: it is not stored, and no redirect carries it in a session.
    return _page(request, TokenForm(user=user), shown_once=secret, status=201)


@require_POST
@staff_required
def revoke(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    if tokens.revoke(staff_profile(request).user, uid) is None:
        raise Http404
    messages.success(request, _("The token has been revoked."))
    return HttpResponseRedirect(reverse("tokens:list"), status=303)


# What the documentation page's Swagger UI (django-ninja's own copy, served from our static
# files) needs beyond the site's policy: fetching the OpenAPI document and "Try it out"
# from this server, and the icons its stylesheet holds as data: images. Still no inline
# script or style, nothing from another origin.
DOCS_POLICY = CONTENT_SECURITY_POLICY.replace("img-src 'self'", "img-src 'self' data:") + (
    "; connect-src 'self'"
)


@require_safe
@staff_required
def docs(request: HttpRequest) -> HttpResponse:
    """The API's documentation (Swagger UI) for a signed-in staff member; the requests it
    tries out carry the token typed into its Authorize dialog, never the session."""
    swagger = {
        "url": reverse("api:openapi-json"),
        "dom_id": "#swagger-ui",
        "layout": "BaseLayout",
        "deepLinking": True,
        # Swagger UI would otherwise send the document to validator.swagger.io for a badge.
        "validatorUrl": None,
    }
    response = render_private(request, "api/docs.html", {"swagger": swagger})
    response.headers["Content-Security-Policy"] = DOCS_POLICY
    return response
