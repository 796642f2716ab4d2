"""/healthz, /readyz and /metrics.

None of them sets a cookie or writes a session, and none has a rate limit: a load balancer
asks every few seconds from one address. /healthz touches no database; /readyz reads a
session only when the request carries one (staff asking for the details).
"""

from __future__ import annotations

import hmac
import ipaddress
import json

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from meldpunt.accounts.gate import is_staff_verified
from meldpunt.monitoring import readiness
from meldpunt.ratelimit import client_address


def bearer_matches(request: HttpRequest, token: str) -> bool:
    """The request's `Authorization: Bearer …` is `token` (compared in constant time)."""
    if not token:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def _text(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body + "\n", status=status, content_type="text/plain; charset=utf-8")


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers. Nothing else is asked, so a database outage does not restart it."""
    return _text("ok")


def _may_see_details(request: HttpRequest) -> bool:
    if bearer_matches(request, settings.MELDPUNT_HEALTH_TOKEN):
        return True
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False  # no session to read: no query for the many anonymous probes
    try:
        return is_staff_verified(request)
    except DatabaseError:  # the session lives in the database; the checks say it is down
        return False


@never_cache
@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    """Ready to serve: 200 or 503, a bare word for all, the checks for staff or the token."""
    checks = readiness.run_checks()
    ready = all(check.ok for check in checks)
    status = 200 if ready else 503
    if not _may_see_details(request):
        return _text("ok" if ready else "not ready", status)
    body = {
        "status": "ok" if ready else "not ready",
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    return HttpResponse(json.dumps(body, indent=2), status=status, content_type="application/json")


def _address_allowed(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n) for n in settings.MELDPUNT_METRICS_ALLOW)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; off (404) unless MELDPUNT_METRICS, then for token or address."""
    if not settings.MELDPUNT_METRICS:
        raise Http404
    # Both when both are set: a leaked token alone does not open it from elsewhere.
    token, allow = settings.MELDPUNT_METRICS_TOKEN, settings.MELDPUNT_METRICS_ALLOW
    if not (token or allow) or (
        (token and not bearer_matches(request, token)) or (allow and not _address_allowed(request))
    ):
        return _text("forbidden", 403)
    from meldpunt.monitoring import exposition  # the scrape side: loaded on the first scrape

    return HttpResponse(exposition.render(), content_type=exposition.CONTENT_TYPE)
