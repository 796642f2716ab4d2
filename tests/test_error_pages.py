"""Error pages in production leak nothing: no traceback, no settings, no paths."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path

from meldpunt.urls import urlpatterns as site

pytestmark = pytest.mark.django_db
SECRET = "INTERNAL-DETAIL-7731"


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"{SECRET} in /srv/meldpunt/secret.py")


urlpatterns = [path("crash/", crash), *site]


@override_settings(ROOT_URLCONF=__name__, DEBUG=False)
def test_a_crash_shows_a_plain_page() -> None:
    response = Client(raise_request_exception=False).get("/crash/")
    assert response.status_code == 500
    page = response.content.decode()
    for leak in (SECRET, "Traceback", "RuntimeError", "/srv/", "settings", "SECRET_KEY"):
        assert leak not in page


@override_settings(DEBUG=False)
def test_a_missing_page_shows_a_plain_page(caplog: Any) -> None:
    response = Client().get(f"/no-such-page-{SECRET}/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Traceback" not in page and "urlpatterns" not in page and "Using the URLconf" not in page
