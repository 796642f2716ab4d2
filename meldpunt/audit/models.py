"""The audit log: append-only, each entry chained to the one before it by a keyed hash."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from meldpunt.lib.sealed import Sealed


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


class Disclosure(models.Model):
    """One disclosure of a finder's personal data to a third party, e.g. where the law requires it.

    The policy promises that personal data is not shared without consent unless the law
    requires it; this register is how that promise is checked. The finder sees an entry
    unless the law forbids telling them (finder_may_know).
    """

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    report = models.ForeignKey(
        "reports.Report", on_delete=models.CASCADE, related_name="disclosures"
    )
    disclosed_on = models.DateField()
    finder_may_know = models.BooleanField(default=True)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # {"recipient": ..., "data": ..., "legal_basis": ...}: sealed like everything about a finder.
    details_blob = models.BinaryField()
    details = Sealed("details_blob")

    class Meta:
        ordering = ["-disclosed_on", "-pk"]

    def __str__(self) -> str:
        return f"disclosure {self.uid}"
