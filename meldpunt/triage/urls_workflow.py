from __future__ import annotations

from django.urls import URLPattern

# State changes, assessments and messages to the finder.
urlpatterns: list[URLPattern] = []
