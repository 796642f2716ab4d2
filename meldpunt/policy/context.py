from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def organisation(request: HttpRequest) -> dict[str, Any]:
    return {
        "org_name": settings.MELDPUNT_ORG_NAME,
        "security_contact": settings.MELDPUNT_SECURITY_CONTACT,
    }
