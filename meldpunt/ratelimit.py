"""Fixed-window rate limits that every web worker shares: in the database, or in Redis.

The database is the default (nothing more to run). With MELDPUNT_REDIS_URL the counters
live in Redis instead: one INCR per attempt, expiring with its window, so a flood costs
no database writes. If Redis cannot be reached, the database takes over for that
attempt rather than letting everything through or refusing everyone.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from meldpunt.lib.crypto import load_keyring
from meldpunt.models import RateLimitBucket

log = logging.getLogger(__name__)

# What a form says when a limit is reached: the same vague words everywhere.
TOO_MANY_ATTEMPTS = _("Too many attempts. Please wait a while and try again.")


@dataclass(frozen=True)
class Limit:
    scope: str
    limit: int
    window: timedelta


def client_address(request: HttpRequest) -> str:
    """The client's address: the one the outermost trusted proxy saw, else the peer's."""
    addr = str(request.META.get("REMOTE_ADDR", ""))
    if settings.MELDPUNT_TRUSTED_PROXIES:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= settings.MELDPUNT_TRUSTED_PROXIES:
            addr = forwarded[-settings.MELDPUNT_TRUSTED_PROXIES]
    return addr


def client_key(request: HttpRequest) -> str:
    """The client's address, reduced to a /64 for IPv6 (one host usually holds the whole /64)."""
    try:
        ip = ipaddress.ip_address(client_address(request))
    except ValueError:
        return "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def _bucket_key(limit: Limit, key: str) -> str:
    return load_keyring().index(f"ratelimit:{limit.scope}", key).hex()


UPSERT = (
    "INSERT INTO {table} ({key}, {start}, {count}) VALUES (%s, %s, 1) "
    "ON CONFLICT ({key}, {start}) DO UPDATE SET {count} = {table}.{count} + 1 "
    "RETURNING {count}"
)


def _upsert_sql() -> str:
    q = connection.ops.quote_name
    table, key, start, count = (
        q(RateLimitBucket._meta.db_table),
        q("key"),
        q("window_start"),
        q("count"),
    )
    # One statement, atomic on SQLite (>= 3.35) and PostgreSQL alike: no lost updates
    # between workers, and no separate read.
    # Only quoted identifiers from our own model are interpolated; values are parameters.
    return UPSERT.format(table=table, key=key, start=start, count=count)  # nosec B608


@lru_cache(maxsize=1)
def _redis(url: str) -> Any:
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def _redis_key(limit: Limit, key: str, start: datetime) -> str:
    return f"meldpunt:rl:{_bucket_key(limit, key)}:{int(start.timestamp())}"


def _redis_hit(url: str, limit: Limit, key: str, start: datetime) -> int | None:
    name = _redis_key(limit, key, start)
    try:
        pipe = _redis(url).pipeline()
        pipe.incr(name)
        pipe.expire(name, int(limit.window.total_seconds()) + 60)
        count, _ok = pipe.execute()
    except redis.RedisError as exc:
        log.warning("rate limits: Redis unavailable (%s); using the database", type(exc).__name__)
        return None
    return int(count)


def _database_hit(limit: Limit, key: str, start: datetime, now: datetime) -> int:
    params = [_bucket_key(limit, key), connection.ops.adapt_datetimefield_value(start)]
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(), params)
        (count,) = cursor.fetchone()
    if secrets.randbelow(200) == 0:  # now and then, forget windows long past
        RateLimitBucket.objects.filter(window_start__lt=now - timedelta(days=1)).delete()
    return int(count)


def hit(limit: Limit, key: str) -> bool:
    """Count one attempt; True while the count stays within the limit."""
    return first_refused((limit, key)) is None


def first_refused(*checks: tuple[Limit, str]) -> Limit | None:
    """Count one attempt against each limit in turn; return the first one it exceeds.

    The checks after a refusal are not counted: a client held back by its own limit does
    not use up the limit everyone shares.
    """
    now = timezone.now()
    url: str = settings.MELDPUNT_REDIS_URL
    for limit, key in checks:
        start = _window_start(now, limit.window)
        count = _redis_hit(url, limit, key, start) if url else None
        if count is None:
            count = _database_hit(limit, key, start, now)
        if count > limit.limit:
            return limit
    return None


def refund(limit: Limit, key: str) -> None:
    """Take back an attempt that turned out legitimate (a correct receipt code)."""
    start = _window_start(timezone.now(), limit.window)
    url: str = settings.MELDPUNT_REDIS_URL
    if url:
        try:
            _redis(url).decr(_redis_key(limit, key, start))
            return
        except redis.RedisError:
            pass
    RateLimitBucket.objects.filter(
        key=_bucket_key(limit, key), window_start=start, count__gt=0
    ).update(count=F("count") - 1)
