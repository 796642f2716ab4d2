from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.accounts import views as accounts

# The inbox and report pages. Until the inbox lands, /triage/ shows who is signed in.
urlpatterns: list[URLPattern] = [
    path("", accounts.home, name="inbox"),
]
