"""The team's message templates: a starting text per kind and language, placeholders filled."""

from __future__ import annotations

from django.conf import settings

from meldpunt.reports.messages import fill_placeholders, placeholder_values
from meldpunt.reports.models import Report
from meldpunt.triage.models import MessageTemplate


def template_for(kind: str, language: str) -> MessageTemplate | None:
    """The template in this language, else in the site's default language, else in English."""
    found = {t.language: t for t in MessageTemplate.objects.filter(kind=kind)}
    for candidate in (language, settings.LANGUAGE_CODE, "en"):
        if candidate in found:
            return found[candidate]
    return None


def prefilled_text(report: Report, kind: str) -> str:
    """The template of this kind in the report's language, placeholders filled."""
    template = template_for(kind, report.language)
    return fill_placeholders(template.body, placeholder_values(report)) if template else ""
