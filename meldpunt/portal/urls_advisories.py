from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.portal import advisories as portal

app_name = "advisory_portal"

urlpatterns: list[URLPattern] = [
    path("<uuid:uid>/", portal.review, name="review"),
]
