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
