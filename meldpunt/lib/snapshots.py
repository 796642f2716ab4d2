"""Answers read again from memory while the database cannot have changed (PostgreSQL).

The inbox counts its page and each saved view in its menu, and reads the tags, the staff
and the saved views for its forms and menu, on every load: at a million reports the counts
alone are several milliseconds each, and none of these answers changes until a transaction
that writes commits. PostgreSQL says exactly when that may have happened: its snapshot
(`pg_current_snapshot()`: the oldest transaction still running, the first one not yet
finished, and those in progress between them, as 64-bit ids that never repeat) decides which
rows a statement sees, so two statements with the same snapshot see the same data and the
same query answers the same. A transaction that commits leaves the snapshots' list of
running ones or moves their upper bound, so every snapshot taken after it differs from every
one taken before: a kept answer is never read again once the data it came from may differ,
whichever host or process wrote. (The ids are the cluster's: a commit in another database
of the same server changes the snapshot too, which costs a new answer, never a stale one.)

An answer is kept under (database, snapshot, question), where the question names the query
and everything it depends on besides the data (the user, say). The snapshot is read once per
page (`page()`), before its first question; each answer is then read at that snapshot or a
later one (autocommit: one statement each), which is newer data, never older, and its key
only comes up again while nothing has committed since the snapshot was read. An answer that
depends on the time is not kept (`keep`).

Not kept: on other databases (SQLite has no such snapshot), and inside a transaction, whose
own uncommitted writes its snapshot does not show. Per process and small; what is kept is
counts and short lists of names and ids (tags, staff, saved views), never report content.
"""

from __future__ import annotations

import contextvars
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import connections
from django.db.models import QuerySet

T = TypeVar("T")

SIZE = 512

_kept: OrderedDict[tuple[Hashable, ...], Any] = OrderedDict()
_lock = threading.Lock()


def _keeps(using: str) -> bool:
    """PostgreSQL, outside any transaction: each statement sees what has committed."""
    connection = connections[using]
    return (
        connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and connection.get_autocommit()
    )


def current_snapshot(using: str) -> str | None:
    """The database's snapshot now, or None where answers are not kept."""
    if not _keeps(using):
        return None
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        row = cursor.fetchone()
    return str(row[0])


class Snapshot:
    """One page's view of the database: its snapshot is read once, at the first question."""

    def __init__(self) -> None:
        self._seen: dict[str, str | None] = {}

    def answer(
        self,
        question: tuple[Hashable, ...],
        ask: Callable[[], T],
        keep: Callable[[T], bool] = lambda _: True,
        using: str = "default",
    ) -> T:
        """ask()'s answer, kept under `question` while the snapshot is the same. The question
        must name everything the answer depends on besides the database; an answer that
        depends on more (the time, say) is not kept: `keep(answer)` says so."""
        return self.answers([question], lambda _missing: [ask()], keep, using)[0]

    def answers(
        self,
        questions: Sequence[tuple[Hashable, ...]],
        ask: Callable[[list[int]], list[T]],
        keep: Callable[[T], bool] = lambda _: True,
        using: str = "default",
    ) -> list[T]:
        """As `answer`, for several questions at once: ask(positions) answers those of the
        questions (by position) that are not kept, in one go, in the order asked."""
        if using not in self._seen:
            self._seen[using] = current_snapshot(using)
        seen = self._seen[using]
        if seen is None or not _keeps(using):  # a transaction begun since the snapshot
            return ask(list(range(len(questions))))
        where = connections[using].settings_dict
        place = f"{where.get('HOST')}:{where.get('PORT')}/{where.get('NAME')}"
        keys = [(place, seen, *question) for question in questions]
        found: dict[int, T] = {}
        with _lock:
            for position, key in enumerate(keys):
                if key in _kept:
                    _kept.move_to_end(key)
                    found[position] = _kept[key]
        missing = [position for position in range(len(keys)) if position not in found]
        if missing:
            asked = ask(missing)
            with _lock:
                for position, answer in zip(missing, asked, strict=True):
                    found[position] = answer
                    if keep(answer):
                        _kept[keys[position]] = answer
                while len(_kept) > SIZE:
                    _kept.popitem(last=False)
        return [found[position] for position in range(len(keys))]


_page: contextvars.ContextVar[Snapshot | None] = contextvars.ContextVar("snapshot", default=None)


@contextmanager
def page() -> Iterator[Snapshot]:
    """A page that may ask the same questions as the last one: inside, `answer` and `rows`
    share one snapshot and keep their answers."""
    snapshot = Snapshot()
    token = _page.set(snapshot)
    try:
        yield snapshot
    finally:
        _page.reset(token)


def rows(question: tuple[Hashable, ...], queryset: QuerySet[Any]) -> tuple[Any, ...]:
    """The rows of a short values_list() query, as a tuple (shared: never to be changed);
    within a page kept under `question`, which names the query and all it depends on besides
    the database (no SQL to compile for a key), else simply read."""
    return answer(("rows", *question), lambda: tuple(queryset))


def answer(
    question: tuple[Hashable, ...], ask: Callable[[], T], keep: Callable[[T], bool] = lambda _: True
) -> T:
    """Snapshot.answer within a page; elsewhere simply ask()."""
    snapshot = _page.get()
    return snapshot.answer(question, ask, keep) if snapshot is not None else ask()


def answers(
    questions: Sequence[tuple[Hashable, ...]],
    ask: Callable[[list[int]], list[T]],
    keep: Callable[[T], bool] = lambda _: True,
) -> list[T]:
    """Snapshot.answers within a page; elsewhere ask them all."""
    snapshot = _page.get()
    if snapshot is not None:
        return snapshot.answers(questions, ask, keep)
    return ask(list(range(len(questions))))


def forget() -> None:
    """Drop every kept answer (tests)."""
    with _lock:
        _kept.clear()
