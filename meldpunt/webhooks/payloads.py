"""What a webhook says: references and links only, in one of the ready-made formats.

Never the report's text or anything about the finder. An endpoint an administrator marked
"trusted with content" also gets the report's title and category, nothing more.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from meldpunt.reports import summary
from meldpunt.reports.models import Report
from meldpunt.webhooks import trackers
from meldpunt.webhooks.models import Endpoint

# The webhook event types an endpoint can subscribe to, with their description.
EVENT_TYPES: dict[str, Any] = {
    "report.received": _("A report was received"),
    "report.state_changed": _("A report's state changed"),
    "report.assessed": _("A report was assessed"),
    "report.message_from_finder": _("The finder sent a message"),
    "promise.at_risk": _("A promise to a finder is at risk"),
    "promise.broken": _("A promise to a finder was broken"),
    "mail.failed": _("Mail to a finder could not be delivered"),
    "advisory.published": _("An advisory was published"),
}
TEST = "webhook.test"


def report_data(report: Report, endpoint: Endpoint) -> dict[str, Any]:
    staff_url = settings.MELDPUNT_BASE_URL + reverse("triage:report", args=[report.uid])
    data: dict[str, Any] = {
        "reference": report.reference,
        "uid": str(report.uid),
        "state": report.state,
        "url": staff_url,
    }
    if endpoint.trusted_with_content:
        data["title"] = summary.title(report.content)
        data["category"] = report.category
    return data


def _summary(event_type: str, data: dict[str, Any]) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        what = str(EVENT_TYPES.get(event_type, _("Test event from Meldpunt")))
    report = data.get("report") or {}
    if not report:
        return what
    line = f"{what}: {report['reference']} ({report['state']})"
    if report.get("title"):
        line += f" — {report['title']}"
    return line


def body(endpoint: Endpoint, event_type: str, timestamp: str, data: dict[str, Any]) -> bytes:
    """The JSON body in the endpoint's format (each one still signed the same way)."""
    summary = _summary(event_type, data)
    link = (data.get("report") or {}).get("url", "")
    document: dict[str, Any]
    if endpoint.is_tracker:
        # The tracker's "create an issue" request: only ever made for a report's triage.
        document = trackers.document(endpoint, data["report"])
    elif endpoint.format == Endpoint.Format.SLACK:
        # Slack and Mattermost incoming webhooks: a text with an <url|label> link.
        # Their markup uses <, > and &: escaped, so a title cannot make a link or a mention.
        text = summary.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        document = {"text": f"{text} <{link}|open>" if link else text}
    elif endpoint.format == Endpoint.Format.TEAMS:
        document = {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": summary,
            "text": summary,
        }
        if link:
            target = [{"os": "default", "uri": link}]
            document["potentialAction"] = [
                {"@type": "OpenUri", "name": "Open in Meldpunt", "targets": target}
            ]
    else:
        document = {"type": event_type, "timestamp": timestamp, "data": data}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
