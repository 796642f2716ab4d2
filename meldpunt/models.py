from __future__ import annotations

from django.db import models


class RateLimitBucket(models.Model):
    """One fixed-window counter. `key` is a keyed hash: client addresses are never stored."""

    key = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "window_start"], name="ratelimit_unique")
        ]
        indexes = [models.Index(fields=["window_start"])]

    def __str__(self) -> str:
        return f"{self.key[:8]}@{self.window_start:%Y-%m-%d %H:%M}"


class Change(models.Model):
    """A transaction that wrote one of the tables a version follows (PostgreSQL only:
    written by a trigger, read as a version; meldpunt/lib/changes.py). `xid` is the writing
    transaction's id; the row with xid -1 holds how many older rows were folded into it."""

    xid = models.BigIntegerField(primary_key=True)
    n = models.BigIntegerField(default=1)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.xid} ({self.n})"


class DataChange(Change):
    """For every table of Meldpunt's but the unversioned ones: the data version."""


class LookupChange(Change):
    """For the tables the kept look-ups read (MELDPUNT_LOOKUP_TABLES): their version."""
