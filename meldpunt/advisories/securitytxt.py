"""What the advisories app adds to security.txt (registered in `AdvisoriesConfig.ready`)."""

from __future__ import annotations

from meldpunt.advisories.models import Advisory, AdvisoryRevision
from meldpunt.policy.securitytxt import url


def csaf_field() -> list[str]:
    """The CSAF line, once there is an advisory to find (CSAF 2.0 requirement 8:
    aggregators find the provider metadata through it)."""
    published = AdvisoryRevision.objects.filter(advisory__status=Advisory.Status.PUBLISHED)
    if not published.exists():
        return []
    metadata = url("advisories_public:provider_metadata")
    return [f"CSAF: {metadata}"] if metadata else []
