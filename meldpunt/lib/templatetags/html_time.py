"""`{{ when|html_datetime }}`: a moment as HTML's `<time datetime>` accepts it."""

from __future__ import annotations

import datetime

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def html_datetime(value: object) -> str:
    # `|date:'c'` prints microseconds, which HTML's datetime syntax does not allow
    # (at most milliseconds): the Nu HTML Checker rejects every such attribute.
    if isinstance(value, datetime.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return ""
