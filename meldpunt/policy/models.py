from __future__ import annotations

import uuid

from django.db import models

from meldpunt.lib.sealed import Sealed


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


class SecurityTxt(models.Model):
    """The signed /.well-known/security.txt as last published; one row, renewed in place."""

    # Always 1: the unique slot is what lets two workers race to create it safely.
    slot = models.PositiveSmallIntegerField(default=1, unique=True)
    signed = models.TextField()
    expires_at = models.DateTimeField()
    # SHA-256 of the unsigned text without its Expires line: a change means re-sign now.
    body_digest = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64)
    signed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"security.txt until {self.expires_at:%Y-%m-%d}"
