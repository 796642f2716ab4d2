"""Every mail the intake saw, so the same mail twice makes one report and none is lost."""

from __future__ import annotations

import uuid

from django.db import models

from meldpunt.lib.sealed import Sealed
from meldpunt.reports.models import Message, Report


class InboundMail(models.Model):
    """One received mail and what became of it.

    `key_digest` is a keyed hash of the Message-ID (or of the raw bytes when there is
    none): it deduplicates and lets a reply thread by In-Reply-To without keeping the
    Message-ID in clear. The raw mail is kept, sealed, only when no report came of it,
    so the team can inspect it.
    """

    class Outcome(models.TextChoices):
        REPORT = "report"
        MESSAGE = "message"
        FAILED = "failed"
        IGNORED = "ignored"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    received_at = models.DateTimeField()
    key_digest = models.BinaryField(max_length=32, unique=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    # A short machine code for failed and ignored mail ("too_large", "bounce", …).
    reason = models.CharField(max_length=40, blank=True)
    report = models.ForeignKey(
        Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_mails"
    )
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_mails"
    )
    encrypted = models.BooleanField(null=True, blank=True)
    answered = models.BooleanField(default=False)
    size = models.PositiveIntegerField(default=0)
    # {"from", "subject"}: what the team's list shows; personal data, so sealed.
    summary_blob = models.BinaryField()
    summary = Sealed("summary_blob")
    # {"raw": base64, "truncated": bool}: failed and ignored mail only.
    payload_blob = models.BinaryField(null=True, blank=True)
    payload = Sealed("payload_blob")

    class Meta:
        indexes = [models.Index(fields=["outcome", "received_at"])]

    def __str__(self) -> str:
        return f"inbound mail {self.uid}"
