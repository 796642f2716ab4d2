"""Fixed-window rate limits kept in the database, so every web worker shares them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from meldpunt.lib.crypto import load_keyring
from meldpunt.models import RateLimitBucket


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


def hit(limit: Limit, key: str) -> bool:
    """Count one attempt; True while the count stays within the limit."""
    now = timezone.now()
    start = _window_start(now, limit.window)
    bucket = _bucket_key(limit, key)
    with transaction.atomic():
        updated = RateLimitBucket.objects.filter(key=bucket, window_start=start).update(
            count=F("count") + 1
        )
        if not updated:
            try:
                with transaction.atomic():
                    RateLimitBucket.objects.create(key=bucket, window_start=start, count=1)
            except IntegrityError:
                RateLimitBucket.objects.filter(key=bucket, window_start=start).update(
                    count=F("count") + 1
                )
            else:
                RateLimitBucket.objects.filter(window_start__lt=now - timedelta(days=1)).delete()
        count = RateLimitBucket.objects.get(key=bucket, window_start=start).count
    return count <= limit.limit


def refund(limit: Limit, key: str) -> None:
    """Take back an attempt that turned out legitimate (a correct receipt code)."""
    start = _window_start(timezone.now(), limit.window)
    RateLimitBucket.objects.filter(
        key=_bucket_key(limit, key), window_start=start, count__gt=0
    ).update(count=F("count") - 1)
