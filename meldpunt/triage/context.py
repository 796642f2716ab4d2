"""What every staff page shows whatever the screen: for now, that mail is not being sent."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from meldpunt.reports import outbox


def mail_sink(request: HttpRequest) -> dict[str, Any]:
    return {"mail_sink": outbox.mail_sink()}
