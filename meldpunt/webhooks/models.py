"""Webhook endpoints and their deliveries (one row per endpoint and event, with its attempts)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from meldpunt.lib.sealed import Sealed


class Endpoint(models.Model):
    """A URL an administrator registered, with the events it wants and its signing secret."""

    class Format(models.TextChoices):
        GENERIC = "generic", "Standard Webhooks JSON"
        SLACK = "slack", "Slack / Mattermost"
        TEAMS = "teams", "Microsoft Teams"
        # Issue trackers: an issue per triaged report, through the tracker's REST API.
        GITHUB = "github", "GitHub issues"
        GITLAB = "gitlab", "GitLab issues"
        JIRA = "jira", "Jira issues"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list)
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.GENERIC)
    # Only then does a payload carry the report's title and category (never the text or finder).
    trusted_with_content = models.BooleanField(default=False)
    # {"secret": "whsec_…"}: sealed like report content, since it must be readable to sign.
    secret_blob = models.BinaryField(default=b"")
    secret = Sealed("secret_blob")
    # Issue trackers only: {"token": …, and for Jira "project_key", "issue_type", "email"}.
    # Sealed like the secret; the token is never shown again after the endpoint is added.
    tracker_blob = models.BinaryField(default=b"")
    tracker = Sealed("tracker_blob")
    enabled = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.name

    @property
    def is_tracker(self) -> bool:
        return self.format in TRACKERS


TRACKERS = frozenset({Endpoint.Format.GITHUB, Endpoint.Format.GITLAB, Endpoint.Format.JIRA})


class Delivery(models.Model):
    """One event for one endpoint: the signed body as queued, and where its sending stands."""

    class Status(models.TextChoices):
        PENDING = "pending"  # not tried yet, or tried and due again at next_attempt_at
        DELIVERED = "delivered"  # the receiver answered 2xx
        FAILED = "failed"  # out of attempts

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=40)
    # {"body": "<the exact JSON sent>"}: sealed, as a trusted endpoint's body holds a title.
    body_blob = models.BinaryField(default=b"")
    body = Sealed("body_blob")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    # Also the lease: a claimed delivery is pushed this far ahead while a worker sends it.
    next_attempt_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id}"


class Attempt(models.Model):
    """One try at sending a delivery: the endpoint's delivery log."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    ok = models.BooleanField()
    latency_ms = models.PositiveIntegerField(null=True)
    response_code = models.PositiveIntegerField(null=True)
    # The error class or refusal, and at most a short, sanitized start of the answer.
    error = models.CharField(max_length=200, blank=True)
    excerpt = models.CharField(max_length=200, blank=True)
    next_attempt_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [models.Index(fields=["endpoint", "-at"])]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"


class TrackerIssue(models.Model):
    """The one issue a tracker endpoint has (or is about to have) for a report.

    Made with the delivery that asks for it, so re-triaging finds it and queues nothing;
    `number` and `url` come from the tracker's answer once the issue exists.
    """

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="issues")
    report = models.ForeignKey(
        "reports.Report", on_delete=models.CASCADE, related_name="tracker_issues"
    )
    delivery = models.ForeignKey(Delivery, null=True, on_delete=models.SET_NULL, related_name="+")
    # "#1347" (GitHub), "#12" (GitLab iid), "SEC-24" (Jira key); empty until created.
    number = models.CharField(max_length=100, blank=True)
    url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "report"], name="one_issue_per_report")
        ]

    def __str__(self) -> str:
        return f"{self.endpoint_id}/{self.report_id} {self.number}"
