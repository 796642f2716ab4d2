"""Security headers Django 5.2 does not set by itself."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import defaults

log = logging.getLogger(__name__)

# No inline script or style anywhere, nothing from another origin.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)


def allow_same_origin_fetch(response: HttpResponse) -> HttpResponse:
    """The policy plus `connect-src 'self'`, for a page whose script asks its own server."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY + "; connect-src 'self'"
    return response


PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def request_size_limit(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Refuse a body larger than all allowed attachments plus text before reading it."""

    def middleware(request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MELDPUNT_MAX_REQUEST_BYTES:
            return render(request, "413.html", status=413)
        return get_response(request)

    return middleware


def security_headers(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response

    return middleware


class DatabaseUnavailable:
    """A database that cannot be reached gets a calm "try again" page, not a 500.

    Nothing was stored (the transaction did not commit), so telling the visitor to try
    again is true; Retry-After tells clients when.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        log.warning("database unavailable (%s)", type(exception).__name__)
        return unavailable(request)


def unavailable(request: HttpRequest) -> HttpResponse:
    response = render(request, "503.html", status=503)
    response["Retry-After"] = "60"
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """The site's 500 handler: a database lost after the view (the session saved by a
    middleware on the way out) still gets the calm "try again" page, not a crash page."""
    if isinstance(sys.exc_info()[1], (OperationalError, InterfaceError)):
        log.warning("database unavailable after the view (%s)", type(sys.exc_info()[1]).__name__)
        return unavailable(request)
    return defaults.server_error(request)
