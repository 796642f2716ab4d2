from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.triage import audit_log as views
from meldpunt.triage import disclosures

app_name = "audit"

urlpatterns: list[URLPattern] = [
    path("", views.audit_log, name="log"),
    path("disclosures/", disclosures.register, name="disclosures"),
]
