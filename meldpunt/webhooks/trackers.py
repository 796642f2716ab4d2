"""Issue-tracker endpoints: an issue in GitHub, GitLab or Jira when a report is triaged.

One issue per report and endpoint: the `TrackerIssue` row is made with the delivery that asks
for it (re-triaging finds the row and queues nothing) and gets the issue's number and link from
the tracker's answer. The delivery goes through the same worker, retries, disabling and SSRF
guard as any webhook; only the headers (the tracker's authentication instead of a signature)
and the body (the tracker's "create an issue" request) differ.

What an issue says: the report's reference and the link to its staff page; its title only for
an endpoint trusted with content. Never the report's text or anything about the finder.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from meldpunt.reports.models import Report
from meldpunt.webhooks.models import Delivery, Endpoint, TrackerIssue

EVENT = "report.triaged"
USER_AGENT = "Meldpunt-Webhooks"
# GitHub's issue titles and Jira's summaries are limited (Jira: 255 characters).
TITLE_MAX = 250

_GITHUB_PATH = re.compile(r"^(/api/v3)?/repos/[^/]+/[^/]+/issues$")
_GITLAB_PATH = re.compile(r"^(/.*)?/api/v4/projects/[^/]+/issues$")
_JIRA_PATH = re.compile(r"^(/.*)?/rest/api/(2|3)/issue$")
_JIRA_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,49}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class ConfigError(ValueError):
    """What is wrong with a tracker endpoint's settings, in words an administrator can act on."""


def check(format: str, url: str, config: dict[str, str]) -> dict[str, str]:
    """The tracker settings to seal for a new endpoint; ConfigError if they cannot work."""
    path = urlsplit(url).path.rstrip("/")
    scheme = urlsplit(url).scheme
    token = (config.get("token") or "").strip()
    if not token:
        raise ConfigError("token")
    # A token only over https; plain http only where private addresses are allowed (a lab).
    if scheme != "https" and not settings.MELDPUNT_WEBHOOK_ALLOW_PRIVATE:
        raise ConfigError("https")
    if format == Endpoint.Format.GITHUB:
        if not _GITHUB_PATH.match(path):
            raise ConfigError("github_url")
        return {"token": token}
    if format == Endpoint.Format.GITLAB:
        if not _GITLAB_PATH.match(path):
            raise ConfigError("gitlab_url")
        return {"token": token}
    if not _JIRA_PATH.match(path):
        raise ConfigError("jira_url")
    key = (config.get("project_key") or "").strip()
    kind = (config.get("issue_type") or "").strip()
    email = (config.get("email") or "").strip()
    if not _JIRA_KEY.match(key):
        raise ConfigError("project_key")
    if not kind:
        raise ConfigError("issue_type")
    if email and not _EMAIL.match(email):
        raise ConfigError("email")
    return {"token": token, "project_key": key, "issue_type": kind, "email": email}


def _jira_version(url: str) -> int:
    return 2 if urlsplit(url).path.rstrip("/").endswith("/rest/api/2/issue") else 3


def headers(endpoint: Endpoint) -> dict[str, str]:
    """The tracker's authentication and content headers for one request."""
    token = str(endpoint.tracker["token"])
    common = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }
    if endpoint.format == Endpoint.Format.GITHUB:
        return {
            **common,
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
    if endpoint.format == Endpoint.Format.GITLAB:
        return {**common, "PRIVATE-TOKEN": token}
    email = str(endpoint.tracker.get("email") or "")
    if email:  # Jira Cloud: Basic with the account's e-mail and an API token
        pair = base64.b64encode(f"{email}:{token}".encode()).decode("ascii")
        return {**common, "Authorization": f"Basic {pair}"}
    return {**common, "Authorization": f"Bearer {token}"}  # Data Center: a personal token


def _adf(lines: list[str], link: str) -> dict[str, Any]:
    """Atlassian Document Format: a paragraph per line, then the link as a link mark."""
    content: list[dict[str, Any]] = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]} for line in lines
    ]
    mark = {"type": "link", "attrs": {"href": link}}
    content.append(
        {"type": "paragraph", "content": [{"type": "text", "text": link, "marks": [mark]}]}
    )
    return {"type": "doc", "version": 1, "content": content}


def document(endpoint: Endpoint, report: dict[str, Any]) -> dict[str, Any]:
    """The tracker's "create an issue" body for a report's webhook data (payloads.report_data)."""
    title = str(report["reference"])
    if report.get("title"):
        title = f"{title}: {report['title']}"
    title = " ".join(title.split())[:TITLE_MAX]
    lines = [
        f"Meldpunt report {report['reference']} was triaged.",
        "The report itself stays in Meldpunt; its staff page (sign-in required):",
    ]
    link = str(report["url"])
    text = "\n\n".join([*lines, link])
    if endpoint.format == Endpoint.Format.GITHUB:
        return {"title": title, "body": text}
    if endpoint.format == Endpoint.Format.GITLAB:
        return {"title": title, "description": text, "confidential": True}
    fields: dict[str, Any] = {
        "project": {"key": endpoint.tracker["project_key"]},
        "issuetype": {"name": endpoint.tracker["issue_type"]},
        "summary": title,
        "description": _adf(lines, link) if _jira_version(endpoint.url) == 3 else text,
    }
    return {"fields": fields}


def claim(endpoint: Endpoint, report: Report) -> TrackerIssue | None:
    """The report's issue row for this endpoint if a delivery should go now, else None.

    None when an issue exists or one is on its way; a row whose delivery ran out of attempts
    (or was removed) may be asked for again by triaging the report again.
    """
    row, made = TrackerIssue.objects.select_for_update().get_or_create(
        endpoint=endpoint, report=report
    )
    if made:
        return row
    if row.created_at is not None:
        return None
    if row.delivery is not None and row.delivery.status != Delivery.Status.FAILED:
        return None
    return row


def issue_for(delivery: Delivery) -> TrackerIssue | None:
    return TrackerIssue.objects.filter(delivery=delivery).first()


def _web_url(endpoint: Endpoint, answer: dict[str, Any]) -> tuple[str, str]:
    if endpoint.format == Endpoint.Format.GITHUB:
        return f"#{answer['number']}", str(answer.get("html_url") or "")
    if endpoint.format == Endpoint.Format.GITLAB:
        return f"#{answer['iid']}", str(answer.get("web_url") or "")
    key = str(answer["key"])
    parts = urlsplit(endpoint.url)
    base = parts.path.rsplit("/rest/api/", 1)[0]
    return key, f"{parts.scheme}://{parts.netloc}{base}/browse/{key}"


def created(endpoint: Endpoint, data: bytes) -> tuple[str, str] | None:
    """The issue's number and web link from the tracker's answer; None if it has none.

    A link is kept only if it is http(s) (it is shown to staff as a link).
    """
    try:
        answer = json.loads(data)
        number, url = _web_url(endpoint, answer)
    except (ValueError, KeyError, TypeError):
        return None
    if urlsplit(url).scheme not in ("http", "https"):
        url = ""
    return number[:100], url[:500]


def scrub(text: str, endpoint: Endpoint) -> str:
    """Text for the delivery log, with the token taken out should a tracker echo it."""
    token = str(endpoint.tracker.get("token") or "")
    return text.replace(token, "[token]") if token else text


def issues(report: Report) -> list[TrackerIssue]:
    """The issues made in trackers for a report, for its staff page."""
    return list(
        TrackerIssue.objects.filter(report=report)
        .exclude(created_at=None)
        .select_related("endpoint")
        .order_by("created_at", "pk")
    )
