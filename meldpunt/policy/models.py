from __future__ import annotations

import uuid

from django.db import models

from meldpunt.reports.models import Sealed


class PolicyVersion(models.Model):
    """One published state of the policy; a report records the one its finder accepted."""

    digest = models.CharField(max_length=64, unique=True)
    number = models.PositiveIntegerField(unique=True)
    commitments = models.JSONField()
    published_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"v{self.number}"


class OrgKey(models.Model):
    """The organisation's OpenPGP key; the newest is primary, older ones still decrypt."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    fingerprint = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    # The certificate without secrets: public anyway, published at /pgp-key.asc and WKD.
    public_armored = models.TextField()
    secret_blob = models.BinaryField()
    secret = Sealed("secret_blob")

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.fingerprint
