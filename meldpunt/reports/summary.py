"""What a list shows of a report's sealed content: a title and the first affected host.

Reports have no title field: a mail has a subject, a web report only its description.
Callers open one report's content at a time, so a list decrypts only the rows it shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

TITLE_CHARS = 90


@dataclass(frozen=True)
class Summary:
    title: str
    host: str


def summary(content: dict[str, Any]) -> Summary:
    return Summary(title=title(content), host=first_host(content))


def title(content: dict[str, Any]) -> str:
    """The mail's subject, else the description's first line, cut to a list's width."""
    text = str(content.get("subject") or "").strip()
    if not text:
        lines = str(content.get("description") or "").strip().splitlines()
        text = lines[0].strip() if lines else ""
    text = " ".join(text.split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


def first_host(content: dict[str, Any]) -> str:
    """The host of the first affected system if it is a URL, else that line as written.

    Not `parse_target`: its IDNA normalisation costs a list page more than the decryption,
    and a reader wants the name as written, not its punycode."""
    systems = content.get("affected_systems") or []
    if not systems:
        return ""
    first = str(systems[0]).strip()
    try:
        host = urlsplit(first).hostname if "://" in first else None
    except ValueError:  # e.g. an unclosed IPv6 bracket
        host = None
    return (host or first)[:TITLE_CHARS]
