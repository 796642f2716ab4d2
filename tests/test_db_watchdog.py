"""The PostgreSQL backend's deadline watchdog (meldpunt/lib/postgresql/base.py).

The frozen-server case end to end is tests/test_frozen_database.py; here, the thread itself:
it cuts a wait that is overdue, and it is not woken for every statement.
"""

from __future__ import annotations

import socket
import time
from typing import Any
from unittest import mock

import pytest
from django.db import connection

from meldpunt.lib.postgresql.base import _Watchdog, _watchdog


def _cut_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""  # shut down: end of stream
    except TimeoutError:
        return False


def _wakeups(dog: _Watchdog) -> Any:
    """Counts the thread's wake-ups (its condition's notify calls), still waking it."""
    return mock.patch.object(dog._wake, "notify", wraps=dog._wake.notify)


def test_it_cuts_a_wait_that_is_overdue_and_spares_one_that_ended() -> None:
    dog = _Watchdog()
    overdue, other = socket.socketpair()
    ended, other2 = socket.socketpair()
    with overdue, other, ended, other2:
        dog.disarm(dog.arm(ended.fileno(), 0.05))
        dog.arm(overdue.fileno(), 0.05)
        assert _cut_within(overdue, 5)
        time.sleep(0.2)
        other2.send(b"x")
        assert ended.recv(1) == b"x"  # still open


def test_a_sooner_deadline_wakes_the_thread_a_later_one_does_not() -> None:
    dog = _Watchdog()
    late, peer = socket.socketpair()
    soon, peer2 = socket.socketpair()
    with late, peer, soon, peer2:
        first = dog.arm(late.fileno(), 60)
        with _wakeups(dog) as woken:
            for _ in range(50):  # later deadlines, as every statement's is: no thread switch
                dog.disarm(dog.arm(late.fileno(), 60))
            assert woken.call_count == 0
            dog.arm(soon.fileno(), 0.05)  # sooner than the thread sleeps until: it must look
            assert woken.call_count == 1
        assert _cut_within(soon, 5)
        dog.disarm(first)


@pytest.mark.django_db
def test_statements_do_not_wake_the_watchdog_each_time() -> None:
    if connection.vendor != "postgresql" or not getattr(connection, "response_timeout", 0):
        pytest.skip("the deadline watchdog is PostgreSQL's, with a response timeout")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        with _wakeups(_watchdog) as woken:
            for _ in range(100):
                cursor.execute("SELECT 1")
    assert woken.call_count <= 1
