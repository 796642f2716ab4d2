"""The site's URLconf plus the benchmark's reference views (bench/views.py).

Used only through bench/settings.py; the site's own patterns come first, unchanged.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from bench import views
from meldpunt.urls import urlpatterns as site

urlpatterns: list[URLPattern | URLResolver] = [
    *site,
    path("bench/baseline/", views.baseline),
    path("bench/floor-parse/", views.floor_parse),
    path("bench/floor-page/", views.floor_page),
    path("bench/floor-staff-page/", views.floor_staff_page),
    path("bench/floor-staff-rows/", views.floor_staff_rows),
    path("bench/floor-staff-titles/<str:name>/", views.floor_staff_titles),
    path("bench/floor-api/", views.floor_api.urls),
]
