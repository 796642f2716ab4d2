"""What the triage desk keeps besides the reports themselves."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TemplateKind(models.TextChoices):
    ACKNOWLEDGEMENT = "acknowledgement", _("Acknowledgement with assessment")
    NEEDS_INFO = "needs_info", _("We need more information")
    OUT_OF_SCOPE = "out_of_scope", _("Out of scope")
    DUPLICATE = "duplicate", _("Duplicate")
    FIXED = "fixed", _("Fixed (delete the data)")
    PUBLISHED = "published", _("Published")


class MessageTemplate(models.Model):
    """A starting text for a message to the finder, one per kind and language; admins edit it.

    Templates are the organisation's own words, not report content: stored in clear.
    """

    kind = models.CharField(max_length=20, choices=TemplateKind.choices)
    language = models.CharField(max_length=8, choices=settings.SUPPORTED_LANGUAGES.items())
    body = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "language"], name="one_template_per_language")
        ]
        ordering = ["kind", "language"]

    def __str__(self) -> str:
        return f"{self.kind} ({self.language})"
