"""The audit log: append-only, each entry chained to the one before it by a keyed hash."""

from __future__ import annotations

from django.db import models


class AuditEntry(models.Model):
    seq = models.PositiveBigIntegerField(unique=True)
    created_at = models.DateTimeField()
    # "staff:<user id>", "finder", "system", "anonymous": who did it, never a name or address.
    actor = models.CharField(max_length=60)
    action = models.CharField(max_length=60)
    # The report's public reference, if the entry is about one (a string, not a foreign
    # key: deleting a report must not change the entries that are chained over it).
    report_ref = models.CharField(max_length=20, blank=True)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["report_ref", "seq"]),
            models.Index(fields=["action", "seq"]),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"


class AuditHead(models.Model):
    """One row: the newest entry's number and hash, so removing the tail is detected too.

    Appending locks this row, which puts all entries in one order on every database.
    """

    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"head #{self.seq}"
