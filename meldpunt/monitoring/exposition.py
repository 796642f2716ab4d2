"""The /metrics text: this process's (or all workers') request figures and the database's."""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from meldpunt.intake.counters import WEB_SUBMISSIONS
from meldpunt.monitoring.collector import DatabaseCollector
from meldpunt.monitoring.requests import LATENCY, REQUESTS

CONTENT_TYPE = CONTENT_TYPE_LATEST


def render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # every gunicorn worker's files, added up
    else:
        registry.register(REQUESTS)
        registry.register(LATENCY)
        registry.register(WEB_SUBMISSIONS)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
