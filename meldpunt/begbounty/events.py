"""Checks a new report against the rules, inside the intake transaction (see services.label)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from meldpunt.reports.models import Event, Report
from meldpunt.reports.signals import event_recorded


@receiver(event_recorded)
def on_event(sender: type, report: Report, event: Event, **kwargs: Any) -> None:
    if event.kind == "received":
        from meldpunt.begbounty.services import label

        label(report)
