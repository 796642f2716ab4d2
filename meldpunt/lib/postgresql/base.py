"""Django's PostgreSQL backend, with a deadline for a server that stops answering.

`statement_timeout` is enforced by the server, so it does nothing when the server process
itself is stopped (SIGSTOP, a frozen VM, a hung disk): the kernel still accepts and
acknowledges, and the client waits forever. Here every wait for an answer (statement,
commit, rollback, health check) is watched; past its deadline the connection's socket is
shut down, which ends the wait with an OperationalError that Django treats as any lost
connection (a 503 for a page, a 451 for SMTP), and the next use opens a new connection.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count
from typing import Any

import psycopg
from django.db.backends.postgresql import base


class _Watchdog:
    """One thread per process that cuts the sockets of overdue waits."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._due: dict[int, tuple[float, int]] = {}  # token -> (deadline, socket fd)
        self._tokens = count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        # When the thread looks again by itself (inf: it waits to be woken).
        self._looks_at = math.inf

    def arm(self, fd: int, seconds: float) -> int:
        with self._wake:
            token = next(self._tokens)
            deadline = time.monotonic() + seconds
            self._due[token] = (deadline, fd)
            # A forked worker inherits the object but not the thread.
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="meldpunt-db-deadline", daemon=True
                )
                self._thread.start()
            # Woken only when this deadline comes before the time it looks again by itself:
            # not on every statement (all waits have one timeout, so a new deadline is
            # almost always the latest), which cost a thread switch per query.
            if deadline < self._looks_at:
                self._looks_at = deadline
                self._wake.notify()
            return token

    def disarm(self, token: int) -> None:
        # Under the lock: once this returns, the socket is never cut for this wait, even
        # if the connection is closed and its descriptor reused right after.
        with self._wake:
            self._due.pop(token, None)

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                for token, (deadline, fd) in list(self._due.items()):
                    if deadline <= now:
                        del self._due[token]
                        _cut(fd)
                pending = [deadline for deadline, _fd in self._due.values()]
                self._looks_at = min(pending) if pending else math.inf
                self._wake.wait(self._looks_at - now if pending else None)


def _cut(fd: int) -> None:
    try:
        # fromfd duplicates the descriptor; shutting the duplicate down ends the waits on
        # the original too, and closing it leaves the original for psycopg to close.
        with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: nothing is waiting on it any more


_watchdog = _Watchdog()
# gunicorn forks its workers: each starts with a fresh lock and no thread of its own yet.
os.register_at_fork(after_in_child=_watchdog.reset)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.response_timeout = float(self.settings_dict["OPTIONS"].get("response_timeout", 0))
        self.execute_wrappers.append(self._execute_within_deadline)

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        params.pop("response_timeout", None)  # ours, not a libpq parameter
        return params

    @contextmanager
    def _deadline(self) -> Iterator[None]:
        fd = -1
        if self.response_timeout and self.connection is not None:
            try:
                fd = self.connection.pgconn.socket
            except psycopg.Error:  # closed or lost: the wait below fails at once by itself
                fd = -1
        if fd < 0:
            yield
            return
        token = _watchdog.arm(fd, self.response_timeout)
        try:
            yield
        finally:
            _watchdog.disarm(token)

    def _execute_within_deadline(
        self,
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        with self._deadline():
            return execute(sql, params, many, context)

    def init_connection_state(self) -> None:
        with self._deadline():
            super().init_connection_state()

    def commit(self) -> None:
        with self._deadline():
            super().commit()

    def rollback(self) -> None:
        with self._deadline():
            super().rollback()

    def is_usable(self) -> bool:
        with self._deadline():
            return bool(super().is_usable())
