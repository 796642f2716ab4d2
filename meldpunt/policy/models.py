from __future__ import annotations

from django.db import models


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
