"""Record that a background process is alive: cheap enough to call on every loop."""

from __future__ import annotations

import logging
import socket
import threading
import time

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from meldpunt.ops.models import Heartbeat

log = logging.getLogger(__name__)

# A loop may run every second (smtpd under a flood): one write per this many seconds.
BEAT_SECONDS = 15

WORKER = "worker"
FETCHMAIL = "fetchmail"
SMTPD = "smtpd"

_last: dict[str, float] = {}
_lock = threading.Lock()


def host_label() -> str:
    """MELDPUNT_HOST_LABEL, or the host name: which host a beat came from."""
    return (settings.MELDPUNT_HOST_LABEL or socket.gethostname())[:100]


def beat(name: str, *, force: bool = False) -> None:
    """Note that `name` on this host worked just now (at most once per BEAT_SECONDS)."""
    now = time.monotonic()
    with _lock:
        if not force and now - _last.get(name, -float("inf")) < BEAT_SECONDS:
            return
        _last[name] = now
    try:
        Heartbeat.objects.update_or_create(
            name=name, host=host_label(), defaults={"last_seen": timezone.now()}
        )
    except DatabaseError as exc:  # never let the sign of life break the work it reports on
        log.warning("heartbeat of %s not recorded (%s)", name, type(exc).__name__)
        with _lock:
            _last.pop(name, None)


def forget() -> None:
    """Tests: the next beat writes again."""
    with _lock:
        _last.clear()
