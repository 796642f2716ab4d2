"""Rendered form fields, kept per process under a key of everything their HTML depends on.

Django renders each field through its form templates, which costs a list page with a dozen
filters and a bulk form several milliseconds per request (bench/README.md). The HTML of a
field depends only on the language, the field's value, its choices (read from the database
on every request, so a new tag or staff member makes a new key, never a stale menu) and its
errors; fields with errors are never kept. The cache is small and per process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from django import forms
from django.utils.safestring import SafeString
from django.utils.translation import get_language


class Fragments:
    def __init__(self, size: int = 64) -> None:
        self._items: OrderedDict[Hashable, SafeString] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def get(self, key: Hashable, render: Callable[[], SafeString]) -> SafeString:
        """The kept HTML for key, or render() kept under it."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        html = render()
        with self._lock:
            self._items[key] = html
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return html

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def fields_key(form: forms.BaseForm, names: Iterable[str]) -> tuple[Any, ...] | None:
    """What these fields' HTML depends on; None where it must not be kept (errors)."""
    if form.is_bound and form.errors:
        return None
    key: list[Any] = [get_language(), type(form).__qualname__, form.auto_id, form.prefix]
    for name in names:
        field = form.fields[name]
        value = form[name].value()
        choices = getattr(field, "choices", None)
        key.append(
            (
                name,
                repr(value),
                tuple((str(v), str(label)) for v, label in choices) if choices is not None else (),
            )
        )
    return tuple(key)
