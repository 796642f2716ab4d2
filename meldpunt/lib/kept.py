"""A value computed at most once per period in this process (thread-safe)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Kept(Generic[T]):
    """`get()` answers the last value for `seconds`, then computes it again."""

    def __init__(self, seconds: float, compute: Callable[[], T]) -> None:
        self.seconds = seconds
        self.compute = compute
        self._lock = threading.Lock()
        self._at: float | None = None
        self._value: T | None = None

    def get(self) -> T:
        with self._lock:
            if self._at is not None and time.monotonic() - self._at < self.seconds:
                return self._value  # type: ignore[return-value]  # set with _at
        value = self.compute()  # outside the lock: a slow query does not hold up others
        with self._lock:
            self._at, self._value = time.monotonic(), value
        return value

    def forget(self) -> None:
        """Compute again on the next `get()` (tests, or after a change)."""
        with self._lock:
            self._at = self._value = None
