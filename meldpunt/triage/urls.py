"""The staff area under /triage/. Each part of the desk has its own URL module."""

from __future__ import annotations

from django.urls import include, path

app_name = "triage"

urlpatterns = [
    path("", include("meldpunt.triage.urls_inbox")),
    path("", include("meldpunt.triage.urls_workflow")),
    path("", include("meldpunt.triage.urls_metrics")),
    path("", include("meldpunt.triage.urls_mail")),
    path("", include("meldpunt.triage.urls_outbox")),
    path("", include("meldpunt.triage.urls_webhooks")),
    path("", include("meldpunt.triage.urls_tools")),
    path("", include("meldpunt.triage.urls_staff")),
]
