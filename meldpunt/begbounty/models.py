"""The editable rules, and what each one said about each report (for its precision)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from meldpunt.lib.sealed import Sealed


class Rule(models.Model):
    """A "likely low value" rule: the organisation's own words, stored in clear.

    Shipped rules keep their slug; `edited` marks one an admin changed, which an upgrade of
    the shipped set then leaves alone.
    """

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)
    phrases = models.JSONField(default=list)
    # [{"reason": str, "phrases": [str, ...]}, ...]: conditions that make a report real.
    guards = models.JSONField(default=list)
    # {"en": str, "nl": str, "fr": str}: the answer sent with "Answer as low value".
    answers = models.JSONField(default=dict)
    shipped = models.BooleanField(default=False)
    edited = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.slug


class Hit(models.Model):
    """What the rules said of one report on intake; the matched words are the finder's: sealed."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    report = models.OneToOneField(
        "reports.Report", on_delete=models.CASCADE, related_name="low_value_hit"
    )
    rule = models.CharField(max_length=60, db_index=True)
    created_at = models.DateTimeField()
    # The guard's reason (the organisation's words) when the report is real after all.
    overridden = models.TextField(blank=True, default="")
    evidence_blob = models.BinaryField(null=True, blank=True)
    # Staff said "not low value": counts against the rule's precision.
    not_low_value = models.BooleanField(default=False)
    marked_at = models.DateTimeField(null=True, blank=True)
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    evidence = Sealed("evidence_blob")

    def __str__(self) -> str:
        return f"{self.rule} on {self.report_id}"
