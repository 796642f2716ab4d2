from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import get_script_prefix, get_urlconf, reverse

# The site-wide links every public page carries (header, language switch). They never
# change while the process runs, so they are reversed once instead of on every page.
SITE_LINKS = {
    "policy": "policy",
    "report": "report",
    "status": "portal:status",
    "advisories": "advisories_public:list",
    "hall_of_fame": "advisories_public:hall_of_fame",
    "set_language": "set_language",
}


@lru_cache(maxsize=8)
def _site_links(urlconf: str, script_prefix: str) -> dict[str, str]:
    # The key names what reverse() depends on; reverse() reads both itself.
    return {name: reverse(view, urlconf=urlconf) for name, view in SITE_LINKS.items()}


def organisation(request: HttpRequest) -> dict[str, Any]:
    return {
        "org_name": settings.MELDPUNT_ORG_NAME,
        "security_contact": settings.MELDPUNT_SECURITY_CONTACT,
        "links": _site_links(str(get_urlconf() or settings.ROOT_URLCONF), get_script_prefix()),
    }
