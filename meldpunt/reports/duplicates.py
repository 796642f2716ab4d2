"""Suggesting duplicates: other reports about a same host, by how alike their descriptions are.

Credit for a duplicate is a life-cycle rule (`meldpunt.reports.lifecycle.credit_holder`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from meldpunt.reports.models import Report

# Each candidate is decrypted to compare descriptions: bound the work per page view.
MAX_CANDIDATES = 50
WORD_RE = re.compile(r"\w+")


@dataclass(frozen=True)
class Suggestion:
    report: Report
    similarity: float  # 0 (no word in common) to 1 (the same words)

    @property
    def percent(self) -> int:
        return round(self.similarity * 100)


def _words(report: Report) -> set[str]:
    return set(WORD_RE.findall(str(report.content.get("description", "")).lower()))


def suggest_duplicates(report: Report, limit: int = 5) -> list[Suggestion]:
    """Other reports about a same host, most similar description first, newest first on ties."""
    candidates = (
        Report.objects.filter(hosts__digest__in=report.hosts.values("digest"))
        .exclude(pk=report.pk)
        .distinct()
        .order_by("-created_at", "-pk")[:MAX_CANDIDATES]
    )
    mine = _words(report)
    suggestions = []
    for candidate in candidates:
        theirs = _words(candidate)
        union = mine | theirs
        suggestions.append(Suggestion(candidate, len(mine & theirs) / len(union) if union else 0))
    # sort() is stable: among equal scores the newest, fetched first, stays first.
    suggestions.sort(key=lambda s: s.similarity, reverse=True)
    return suggestions[:limit]
