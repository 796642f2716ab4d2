"""Rendering pages that hold secrets or report details."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers


def render_private(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """Render a page no cache may keep: receipts, report details, forms with what was typed."""
    response = render(request, template, context, status=status)
    add_never_cache_headers(response)
    return response
