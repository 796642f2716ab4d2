from __future__ import annotations

from django.urls import URLPattern

# The metrics page: how well the policy's promises are kept.
urlpatterns: list[URLPattern] = []
