from __future__ import annotations

from django.urls import URLPattern

app_name = "advisory_portal"

urlpatterns: list[URLPattern] = []
