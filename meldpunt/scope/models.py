"""The scope inventory: the systems the policy covers, leaves out, or belongs to others."""

from __future__ import annotations

import uuid

from django.db import models


class Asset(models.Model):
    class Kind(models.TextChoices):
        DOMAIN = "domain"
        URL = "url"
        IP = "ip"
        CIDR = "cidr"
        APP = "app"
        SERVICE = "service"

    class Status(models.TextChoices):
        IN_SCOPE = "in_scope"
        OUT_OF_SCOPE = "out_of_scope"
        THIRD_PARTY = "third_party"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Normalised (meldpunt.scope.matching.normalise): a host in its ASCII form, a URL with its
    # scheme and host in lower case, a range with its host bits zero. Public: the policy lists it.
    value = models.CharField(max_length=300)
    subdomains = models.BooleanField(default=False)  # domain only: and every name under it
    status = models.CharField(max_length=12, choices=Status.choices)
    note = models.TextField(blank=True, max_length=500)
    # Third party: where to report instead (a mail address or a URL).
    contact = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["status", "kind", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "value", "subdomains"], name="scope_asset_unique"
            )
        ]

    def __str__(self) -> str:
        return f"*.{self.value}" if self.subdomains else self.value
