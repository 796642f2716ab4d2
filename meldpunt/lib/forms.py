"""Form basics shared by every audience."""

from __future__ import annotations

from typing import Any

from django import forms


class Form(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")  # labels read as questions, not "Label:"
        super().__init__(*args, **kwargs)


class TextField(forms.CharField):
    """Multi-line text with line breaks stored as \\n, whatever the browser sent."""

    widget = forms.Textarea

    def to_python(self, value: Any) -> str:
        text = str(super().to_python(value) or "")
        return text.replace("\r\n", "\n").replace("\r", "\n")
