"""Finding reports by what the team knows: a public reference, or an affected host or URL."""

from __future__ import annotations

from django.db.models import QuerySet

from meldpunt.lib.targets import TargetError, parse_target
from meldpunt.reports.models import REFERENCE, AffectedHost, Report
from meldpunt.reports.services import host_digest


def is_searchable(text: str) -> bool:
    """A reference (MP-YYYY-NNNN), a host name, an IP address or a URL."""
    try:
        return bool(REFERENCE.fullmatch(text.strip().upper()) or parse_target(text))
    except TargetError:
        return False


def matching(reports: QuerySet[Report], text: str) -> QuerySet[Report]:
    """The reports with this reference, or naming this host (through the blind index)."""
    text = text.strip()
    if REFERENCE.fullmatch(text.upper()):
        found = Report.objects.by_reference(text)
        return reports.filter(pk=found.pk) if found else reports.none()
    try:
        host = parse_target(text).host
    except TargetError:
        return reports.none()
    hits = AffectedHost.objects.filter(digest=host_digest(host))
    return reports.filter(pk__in=hits.values("report_id"))
