from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.audit import disclosures, views

app_name = "audit"

urlpatterns: list[URLPattern] = [
    path("", views.audit_log, name="log"),
    path("disclosures/", disclosures.register, name="disclosures"),
]
