"""The staff desk's report lookups, through the one access layer in `meldpunt.accounts`."""

from __future__ import annotations

import uuid

from django.http import HttpRequest

from meldpunt.accounts.access import get_for_changer, get_for_staff
from meldpunt.reports.models import Report


def get_report_for_staff(request: HttpRequest, uid: str | uuid.UUID) -> Report:
    """Any staff member may read any report; the views decide what they may change."""
    return get_for_staff(request, Report.objects.all(), uid=uid)


def get_report_for_triager(request: HttpRequest, uid: str | uuid.UUID) -> Report:
    return get_for_changer(request, Report.objects.all(), uid=uid)
