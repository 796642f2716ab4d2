"""Fixed-window rate limits kept in the database, so every web worker shares them."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from meldpunt.lib.crypto import load_keyring
from meldpunt.models import RateLimitBucket

# What a form says when a limit is reached: the same vague words everywhere.
TOO_MANY_ATTEMPTS = _("Too many attempts. Please wait a while and try again.")


@dataclass(frozen=True)
class Limit:
    scope: str
    limit: int
    window: timedelta


def client_key(request: HttpRequest) -> str:
    """The client's address, reduced to a /64 for IPv6 (one host usually holds the whole /64)."""
    addr = request.META.get("REMOTE_ADDR", "")
    if settings.MELDPUNT_TRUSTED_PROXIES:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= settings.MELDPUNT_TRUSTED_PROXIES:
            addr = forwarded[-settings.MELDPUNT_TRUSTED_PROXIES]
    try:
        ip = ipaddress.ip_address(addr)
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
    return (
        f"INSERT INTO {table} ({key}, {start}, {count}) VALUES (%s, %s, 1) "  # noqa: S608
        f"ON CONFLICT ({key}, {start}) DO UPDATE SET {count} = {table}.{count} + 1 "
        f"RETURNING {count}"
    )


def hit(limit: Limit, key: str) -> bool:
    """Count one attempt; True while the count stays within the limit."""
    now = timezone.now()
    start = _window_start(now, limit.window)
    params = [_bucket_key(limit, key), connection.ops.adapt_datetimefield_value(start)]
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(), params)
        (count,) = cursor.fetchone()
    if secrets.randbelow(200) == 0:  # now and then, forget windows long past
        RateLimitBucket.objects.filter(window_start__lt=now - timedelta(days=1)).delete()
    return int(count) <= limit.limit


def refund(limit: Limit, key: str) -> None:
    """Take back an attempt that turned out legitimate (a correct receipt code)."""
    start = _window_start(timezone.now(), limit.window)
    RateLimitBucket.objects.filter(
        key=_bucket_key(limit, key), window_start=start, count__gt=0
    ).update(count=F("count") - 1)
