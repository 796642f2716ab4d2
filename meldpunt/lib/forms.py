"""Form basics shared by every audience."""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms.renderers import Jinja2

# Django's own form and widget templates, rendered by Jinja2: the same HTML as with
# Django's template engine, in about half the time (the report form page: 13.8 -> 6.7 ms,
# bench/README.md). Only our forms use it; the Django admin keeps its own renderer.
RENDERER = Jinja2()


class Form(forms.Form):
    default_renderer = RENDERER

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")  # labels read as questions, not "Label:"
        super().__init__(*args, **kwargs)


class TextField(forms.CharField):
    """Multi-line text with line breaks stored as \\n, whatever the browser sent."""

    widget = forms.Textarea

    def to_python(self, value: Any) -> str:
        text = str(super().to_python(value) or "")
        return text.replace("\r\n", "\n").replace("\r", "\n")
