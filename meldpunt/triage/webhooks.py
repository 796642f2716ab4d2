"""Webhook endpoints, for administrators only: add (secret shown once), log, test, remove."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from meldpunt.accounts.access import admin_required
from meldpunt.lib.pages import render_private
from meldpunt.webhooks import endpoints, payloads
from meldpunt.webhooks.models import TRACKERS, Endpoint


class EndpointForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    url = forms.URLField(label=gettext_lazy("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=gettext_lazy("Events"),
        choices=list(payloads.EVENT_TYPES.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=gettext_lazy("An issue tracker gets one event: a report being triaged."),
    )
    format = forms.ChoiceField(label=gettext_lazy("Format"), choices=Endpoint.Format.choices)
    trusted = forms.BooleanField(
        label=gettext_lazy("Trusted with content (adds the report's title and category)"),
        required=False,
    )
    # Issue trackers only. The token is never shown again: the field is never filled in.
    token = forms.CharField(
        label=gettext_lazy("Tracker token"),
        max_length=500,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    project_key = forms.CharField(
        label=gettext_lazy("Jira project key"), max_length=50, required=False
    )
    issue_type = forms.CharField(
        label=gettext_lazy("Jira issue type"), max_length=100, required=False
    )
    email = forms.EmailField(
        label=gettext_lazy("Jira Cloud account e-mail (Basic authentication)"),
        max_length=254,
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        tracker = data.get("format") in TRACKERS
        if not tracker and not data.get("events"):
            self.add_error("events", _("Choose at least one event."))
        return data


# Why a tracker endpoint's settings were refused, per field (trackers.ConfigError codes).
TRACKER_ERRORS: dict[str, tuple[str, Any]] = {
    "token": ("token", gettext_lazy("An issue tracker needs its API token.")),
    "https": ("url", gettext_lazy("A tracker's token is only sent over https.")),
    "github_url": (
        "url",
        gettext_lazy(
            "For GitHub: https://api.github.com/repos/OWNER/REPO/issues "
            "(or https://HOST/api/v3/repos/OWNER/REPO/issues)."
        ),
    ),
    "gitlab_url": ("url", gettext_lazy("For GitLab: https://HOST/api/v4/projects/ID/issues.")),
    "jira_url": (
        "url",
        gettext_lazy("For Jira: https://SITE/rest/api/3/issue (or /rest/api/2/issue)."),
    ),
    "project_key": ("project_key", gettext_lazy("A Jira project key, such as SEC.")),
    "issue_type": ("issue_type", gettext_lazy("The name of a Jira issue type, such as Task.")),
    "email": ("email", gettext_lazy("Enter a valid email address.")),
}


def _endpoint(uid: uuid.UUID) -> Endpoint:
    found = Endpoint.objects.filter(uid=uid).first()
    if found is None:
        raise Http404
    return found


def _list(request: HttpRequest, form: EndpointForm, status: int = 200) -> HttpResponse:
    context = {"form": form, "endpoints": endpoints.listing()}
    return render_private(request, "triage/webhooks.html", context, status=status)


@require_safe
@admin_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    return _list(request, EndpointForm())


@require_POST
@admin_required
def webhook_add(request: HttpRequest) -> HttpResponse:
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _list(request, form, status=400)
    data = form.cleaned_data
    try:
        endpoint, secret = endpoints.create(
            request.user,
            name=data["name"],
            url=data["url"],
            kinds=data["events"],
            format=data["format"],
            trusted=data["trusted"],
            tracker={k: data[k] for k in ("token", "project_key", "issue_type", "email")},
        )
    except endpoints.EndpointError as refused:
        if refused.code in TRACKER_ERRORS:
            field, message = TRACKER_ERRORS[refused.code]
            form.add_error(field, str(message))
        else:
            form.add_error("url", _("Only an http or https URL without a user name or password."))
        return _list(request, form, status=400)
    # Shown in this answer only (not a redirect, not a session message): never stored in clear.
    context = {"endpoint": endpoint, "secret": secret}
    return render_private(request, "triage/webhook_secret.html", context)


@require_safe
@admin_required
def webhook_detail(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    endpoint = _endpoint(uid)
    labels = payloads.EVENT_TYPES
    context: dict[str, Any] = {
        "endpoint": endpoint,
        "events": [labels.get(e, e) for e in endpoint.events],
        "log": endpoints.recent_log(endpoint),
    }
    return render_private(request, "triage/webhook.html", context)


def _back(endpoint: Endpoint) -> HttpResponse:
    return HttpResponseRedirect(reverse("triage:webhook", args=[endpoint.uid]), status=303)


@require_POST
@admin_required
def webhook_test(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    endpoint = _endpoint(uid)
    if endpoint.is_tracker:
        # Its only request makes an issue: a test would leave one in the tracker.
        messages.error(request, _("An issue tracker gets no test event: triage a report."))
        return _back(endpoint)
    endpoints.send_test(endpoint, request.user)
    messages.success(request, _("A test event is queued; its attempt appears in the log below."))
    return _back(endpoint)


@require_POST
@admin_required
def webhook_enable(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    endpoint = _endpoint(uid)
    endpoints.enable(endpoint, request.user)
    messages.success(request, _("The endpoint is enabled again."))
    return _back(endpoint)


@require_POST
@admin_required
def webhook_remove(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    endpoints.remove(_endpoint(uid), request.user)
    messages.success(request, _("The endpoint is removed."))
    return HttpResponseRedirect(reverse("triage:webhooks"), status=303)
