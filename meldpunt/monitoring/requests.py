"""Request counts and latency by view, for /metrics.

Labels are the resolver's view name (`triage:report`, never a path or an identifier), the
method and the status class. Under `meldpunt serve` the gunicorn workers write their
counts to files in PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode) and
a scrape adds them up; elsewhere (tests, `runserver`) one process counts alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Histogram

if folder := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # `meldpunt serve` made it; another server (runserver, a WSGI server of one's own) may not.
    Path(folder).mkdir(mode=0o700, parents=True, exist_ok=True)

REQUESTS = Counter(
    "meldpunt_http_requests",
    "HTTP requests answered, by view, method and status class.",
    ["view", "method", "status"],
    registry=None,
)
LATENCY = Histogram(
    "meldpunt_http_request_duration_seconds",
    "Time to answer an HTTP request, by view.",
    ["view"],
    registry=None,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

# Anything else a client invents would make a new series each.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def view_label(request: HttpRequest) -> str:
    """The view's name as the URL configuration knows it; static files and 404s share one."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return str(match.view_name)


class RequestMetrics:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.MELDPUNT_METRICS:
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        view = view_label(request)
        method = request.method if request.method in METHODS else "other"
        REQUESTS.labels(view, method, f"{response.status_code // 100}xx").inc()
        LATENCY.labels(view).observe(time.perf_counter() - started)
        return response
