"""Is this instance ready to serve? Each check cheap: a load balancer asks every few seconds."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count, Max, Min
from django.utils import timezone

from meldpunt.lib.kept import Kept
from meldpunt.ops.heartbeat import FETCHMAIL, WORKER
from meldpunt.ops.models import Heartbeat
from meldpunt.reports.models import OutboundMail

# Loading the migration graph costs tens of milliseconds: its answer is kept this long.
MIGRATIONS_CACHE_SECONDS = 60


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _no_migration_left() -> bool:
    executor = MigrationExecutor(connection)
    return not executor.migration_plan(executor.loader.graph.leaf_nodes())


_migrations = Kept(MIGRATIONS_CACHE_SECONDS, _no_migration_left)


def migrations_applied() -> bool:
    """No migration left to apply (the answer is cached for a minute)."""
    return _migrations.get()


def forget_migrations() -> None:
    """Tests: check the migrations again on the next call."""
    _migrations.forget()


def last_beat(name: str) -> dt.datetime | None:
    """The freshest beat of `name` on any host."""
    found: dt.datetime | None = Heartbeat.objects.filter(name=name).aggregate(t=Max("last_seen"))[
        "t"
    ]
    return found


def _age(since: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if since is None else max(0.0, (now - since).total_seconds())


def _beat_check(name: str, label: str, stale: int, now: dt.datetime) -> Check:
    age = _age(last_beat(name), now)
    if age is None:
        return Check(label, False, f"no {name} has reported yet")
    return Check(label, age <= stale, f"last seen {round(age)} s ago (limit {stale} s)")


def outbox_backlog(now: dt.datetime) -> tuple[int, float]:
    """Mails waiting for their first attempt, and how long the most overdue one waits (s)."""
    found = OutboundMail.objects.filter(status=OutboundMail.Status.QUEUED).aggregate(
        n=Count("id"), oldest=Min("next_attempt_at")
    )
    return found["n"], _age(found["oldest"], now) or 0.0


def free_bytes() -> int:
    return shutil.disk_usage(settings.DATA_DIR).free


def _database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return Check("database", False, f"unreachable ({type(exc).__name__})")
    return Check("database", True, "reachable")


def _key_file() -> Check:
    try:
        with Path(settings.MELDPUNT_KEY_FILE).open("rb") as keys:
            keys.read(1)
    except OSError as exc:
        return Check("key_file", False, f"cannot be read ({type(exc).__name__})")
    return Check("key_file", True, "readable")


def _outbox(now: dt.datetime) -> Check:
    queued, age = outbox_backlog(now)
    limit_n, limit_age = settings.MELDPUNT_OUTBOX_MAX_QUEUED, settings.MELDPUNT_OUTBOX_STALE_SECONDS
    ok = queued <= limit_n and age <= limit_age
    return Check(
        "outbox",
        ok,
        f"{queued} queued (limit {limit_n}), oldest overdue {round(age)} s (limit {limit_age} s)",
    )


def _disk() -> Check:
    # The limit below which attachments are refused: a host there cannot take every report.
    free, limit = free_bytes(), settings.MELDPUNT_DISK_MIN_FREE_BYTES
    detail = f"{free // 2**20} MiB free in the data directory (min {limit // 2**20} MiB)"
    return Check("disk", free >= limit, detail)


def _database_checks(now: dt.datetime) -> list[Check]:
    checks = [
        Check("migrations", ok := migrations_applied(), "applied" if ok else "not all applied"),
        _beat_check(WORKER, "worker", settings.MELDPUNT_WORKER_STALE_SECONDS, now),
    ]
    if settings.MELDPUNT_IMAP_HOST:  # only fetchmail polls; smtpd waits for mail to come
        stale = settings.MELDPUNT_INTAKE_STALE_SECONDS
        checks.append(_beat_check(FETCHMAIL, "mail_intake", stale, now))
    checks.append(_outbox(now))
    return checks


def run_checks(now: dt.datetime | None = None) -> list[Check]:
    """Every readiness check; those that need the database fail together when it is down."""
    now = now or timezone.now()
    checks = [database := _database(), _key_file(), _disk()]
    if not database.ok:
        return checks
    try:
        checks += _database_checks(now)
    except DatabaseError as exc:  # lost between the first query and these
        checks.append(Check("database", False, f"unreachable ({type(exc).__name__})"))
    return checks
