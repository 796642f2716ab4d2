"""The scope check runs when a report is received (the domain core's `event_recorded`)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from meldpunt.reports.models import Event, Report
from meldpunt.reports.signals import event_recorded
from meldpunt.scope.inventory import on_received


@receiver(event_recorded)
def on_event(sender: type, report: Report, event: Event, **kwargs: Any) -> None:
    if event.kind == "received":
        on_received(report)
