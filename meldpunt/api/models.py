from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

# What a token may do; a token never does more than its staff member's role allows.
SCOPES = ("read", "triage", "publish", "admin")


def default_scopes() -> list[str]:
    return ["read"]


class ApiToken(models.Model):
    """A staff member's API token; only its keyed hash is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    # Names the token in the staff pages' URLs (never its database id, never its secret).
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    digest = models.BinaryField(max_length=32, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scopes = models.JSONField(default=default_scopes)
    expires_at = models.DateTimeField(null=True, blank=True)  # null: until revoked

    def __str__(self) -> str:
        return f"{self.name} of {self.user_id}"
