"""The team's message templates: a starting text per kind and language, placeholders filled."""

from __future__ import annotations

from django.conf import settings

from meldpunt.reports import completeness
from meldpunt.reports.messages import fill_placeholders, placeholder_values
from meldpunt.reports.models import Report
from meldpunt.triage.models import MessageTemplate, TemplateKind


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


def needs_info_text(report: Report, lacking: list[str]) -> str:
    """The "we need more information" template, asking exactly for what the report lacks.

    The questions (in the report's language) take the place of the template's empty "-"
    line; a template an admin rewrote without one gets them after its first paragraph.
    """
    text = prefilled_text(report, TemplateKind.NEEDS_INFO)
    asked = "\n".join(f"- {q}" for q in completeness.questions(lacking, report.language))
    if not asked:
        return text
    lines = text.split("\n")
    if "-" in (line.strip() for line in lines):
        at = next(i for i, line in enumerate(lines) if line.strip() == "-")
        return "\n".join([*lines[:at], asked, *lines[at + 1 :]])
    first, sep, rest = text.partition("\n\n")
    return f"{first}\n\n{asked}\n\n{rest}" if sep else f"{text}\n\n{asked}\n"
