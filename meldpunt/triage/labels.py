"""Translated names of the workflow's states, severities and resolutions, for every page."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from meldpunt.reports.models import Resolution, Severity, State

STATE_LABELS: dict[str, Any] = {
    # "Received" is also a date label ("received on"); the state needs its own word.
    State.RECEIVED: pgettext_lazy("report state", "Received"),
    State.NEEDS_INFO: _("Needs information"),
    State.TRIAGED: _("Triaged"),
    State.FIX_IN_PROGRESS: _("Fix in progress"),
    State.FIXED: _("Fixed"),
    State.PUBLISHED: _("Published"),
    State.CLOSED: _("Closed"),
}
SEVERITY_LABELS: dict[str, Any] = {
    Severity.NONE: _("None"),
    Severity.LOW: _("Low"),
    Severity.MEDIUM: _("Medium"),
    Severity.HIGH: _("High"),
    Severity.CRITICAL: _("Critical"),
}
RESOLUTION_LABELS: dict[str, Any] = {
    Resolution.RESOLVED: _("Resolved"),
    Resolution.INVALID: _("Invalid"),
    Resolution.OUT_OF_SCOPE: _("Out of scope"),
    Resolution.DUPLICATE: _("Duplicate"),
    Resolution.INFORMATIVE: _("Informative"),
    Resolution.SPAM: _("Spam"),
    Resolution.WITHDRAWN: _("Withdrawn"),
}


def label(value: str) -> str:
    """The translated name of a state or resolution code (the code itself if unknown)."""
    return str(STATE_LABELS.get(value) or RESOLUTION_LABELS.get(value) or value)
