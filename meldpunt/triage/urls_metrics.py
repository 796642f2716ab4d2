from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.triage import metrics

# The metrics page: how well the policy's promises are kept.
urlpatterns: list[URLPattern] = [
    path("metrics/", metrics.metrics, name="metrics"),
]
