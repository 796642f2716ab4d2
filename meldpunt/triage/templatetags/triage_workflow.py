"""`{% workflow_panel report as wf %}`: the forms and suggestions of the workflow panel.

The report page includes the panel with only `report` and `can_change` in its context;
this tag lets the panel fetch the rest itself.
"""

from __future__ import annotations

from typing import Any

from django import template

from meldpunt.reports import cwe
from meldpunt.reports.models import Report
from meldpunt.triage.views_workflow import panel_context

register = template.Library()


@register.simple_tag
def workflow_panel(report: Report, cwe_pick: str = "") -> dict[str, Any]:
    return panel_context(report, cwe_pick or "")


@register.filter
def cwe_name(cwe_id: str) -> str:
    """The weakness's name in the shipped CWE catalogue; "" when it is not there."""
    return cwe.name(cwe_id)
