"""Sealed model attributes: a dict stored encrypted in a BinaryField, bound to its row."""

from __future__ import annotations

from typing import Any

from meldpunt.lib import crypto


class Sealed:
    """A model attribute that seals a dict into a BinaryField bound to `<label>:<uid>:<name>`."""

    def __init__(self, column: str) -> None:
        self.column = column

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def aad(self, instance: Any) -> str:
        return self._aad(instance._meta.label_lower, instance.uid)

    def _aad(self, label: str, uid: Any) -> str:
        return f"{label}:{uid}:{self.name}"

    def open_row(self, model: Any, uid: Any, blob: bytes | memoryview | None) -> dict[str, Any]:
        """The value of a row read without its model instance (values_list of uid and column);
        `model` is the model or one of its instances."""
        return crypto.open_json(blob, self._aad(model._meta.label_lower, uid)) if blob else {}

    def __get__(self, instance: Any, owner: type | None = None) -> dict[str, Any]:
        if instance is None:
            return self  # type: ignore[return-value]
        cache = instance.__dict__.setdefault("_opened", {})
        blob = getattr(instance, self.column)
        # Keyed by the blob object: refresh_from_db() loads a new one, which must not be
        # answered with the value opened before.
        if self.name not in cache or cache[self.name][0] is not blob:
            cache[self.name] = (blob, self.open_row(instance, instance.uid, blob))
        return cache[self.name][1]  # type: ignore[no-any-return]

    def __set__(self, instance: Any, value: dict[str, Any]) -> None:
        blob = crypto.seal_json(value, self.aad(instance))
        setattr(instance, self.column, blob)
        instance.__dict__.setdefault("_opened", {})[self.name] = (blob, value)
