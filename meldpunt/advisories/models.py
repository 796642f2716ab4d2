"""Advisories: drafted from fixed reports, reviewed with their finders, then published.

A draft describes a vulnerability that may not be fixed everywhere yet, so it is sealed
like the reports it comes from. What is published is public: each publication (the first
and every revision after it) is kept in clear as an AdvisoryRevision, with the exact
credits that were printed and the CSAF document that was validated.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from meldpunt.lib.sealed import Sealed


def site_time_zone() -> str:
    return str(settings.TIME_ZONE)


class Advisory(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        PUBLISHED = "published", _("Published")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The public identifier and CSAF tracking id, e.g. MPSA-2026-0001.
    identifier = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # Duplicates and variants: several reports may feed one advisory.
    reports = models.ManyToManyField("reports.Report", related_name="advisories")
    # Bumped by every edit of the draft; a finder's approval names the version they saw.
    draft_version = models.PositiveIntegerField(default=1)
    # The proposed (or agreed) moment of publication, stored in UTC, and the time zone it
    # was proposed in, so finder and team read the same wall-clock time.
    publish_at = models.DateTimeField(null=True, blank=True)
    publish_tz = models.CharField(max_length=64, default=site_time_zone)
    published_at = models.DateTimeField(null=True, blank=True)
    language = models.CharField(max_length=8, default="en")
    # {"title", "summary", "products": [{"name", "affected", "fixed"}], "remediation",
    #  "cvss31_vector", "cvss40_vector", "cwe", "cve", "references": [url, ...]}
    draft_blob = models.BinaryField()
    draft = Sealed("draft_blob")

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "advisories"

    def __str__(self) -> str:
        return self.identifier


class AdvisoryRevision(models.Model):
    """One publication of an advisory: number 1 is the first, later ones are revisions."""

    advisory = models.ForeignKey(Advisory, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField()
    published_at = models.DateTimeField()
    # What changed, for the revision history (CSAF tracking.revision_history[].summary).
    summary = models.CharField(max_length=500)
    # The draft as published, the credit lines exactly as printed, and the CSAF document.
    content = models.JSONField()
    credits = models.JSONField(default=list)
    csaf = models.JSONField()
    # The translations' CSAF documents by language ({"fr": {...}}), published with `csaf`
    # as one revision; their texts are in content["translations"].
    translations = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["advisory", "number"]
        constraints = [
            models.UniqueConstraint(fields=["advisory", "number"], name="one_revision_number")
        ]

    def __str__(self) -> str:
        return f"{self.advisory.identifier} rev {self.number}"


class FinderReview(models.Model):
    """A finder's answer to a draft: approve it, comment on it, or ask for another date."""

    class Decision(models.TextChoices):
        APPROVE = "approve", _("Approved")
        COMMENT = "comment", _("Commented")
        OTHER_DATE = "other_date", _("Asked for another date")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="reviews")
    report = models.ForeignKey(
        "reports.Report", on_delete=models.CASCADE, related_name="advisory_reviews"
    )
    created_at = models.DateTimeField()
    draft_version = models.PositiveIntegerField()
    decision = models.CharField(max_length=12, choices=Decision.choices)
    proposed_at = models.DateTimeField(null=True, blank=True)
    text_blob = models.BinaryField()
    text = Sealed("text_blob")

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.decision} on {self.advisory.identifier}"
