from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.api import views

app_name = "tokens"

urlpatterns: list[URLPattern] = [
    path("", views.token_list, name="list"),
    path("new/", views.create, name="create"),
    path("<uuid:uid>/revoke/", views.revoke, name="revoke"),
]
