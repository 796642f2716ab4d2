"""Answers read again from memory while the data they come from cannot have changed
(PostgreSQL).

The inbox counts its page and each saved view in its menu, and reads the tags, the staff
and the saved views for its forms and menu, on every load: at a million reports the counts
alone are several milliseconds each, and none of these answers changes until a transaction
that writes commits.

An answer is kept under (database, version, question), where the question names the query
and everything it depends on besides the data (the user, say). The version is the one of
meldpunt/lib/changes.py: it moves when a transaction that wrote one of Meldpunt's tables
commits, on any host or process, and not for the heartbeats, sessions, rate limits and
audit entries that commit all the time (no kept answer reads those). Where that version is
not available (a table without its trigger), PostgreSQL's snapshot stands in
(`pg_current_snapshot()`), which every commit on the server moves: a new answer then,
never a stale one.

The version is read once per page (`page()`), before its first question; each answer is
then read at that version or a later one (autocommit: one statement each), which is newer
data, never older, and its key only comes up again while no such write has committed since
the version was read. An answer that depends on the time is not kept (`keep`).

The look-ups (`rows`: tags, staff, saved views, the rows' tags; the API's live tokens,
meldpunt/api/tokens.py) are kept under the
look-ups' own version, read in the same statement, which only writes to the tables they
read move: a report written does not ask them again. A look-up whose SQL names any other
table is kept under the data version (checked once per query, from its compiled SQL).
Some statements' SQL is made from look-ups alone while their rows are data (`values`: the
API's list, the inbox's first page): the SQL is kept under the look-ups' version, the rows
read every time.

Not kept: on other databases (SQLite has neither), and inside a transaction, whose own
uncommitted writes the version does not count. Per process and small; what is kept is
counts, short lists of names and ids (tags, staff, saved views), live API tokens and staff
profiles without their secrets (accounts.models.SECRET_FIELDS), and SQL (the menu's counts,
the lists'), never report content.
"""

from __future__ import annotations

import contextvars
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet

from meldpunt.lib import changes, precompiled

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


def current_versions(using: str) -> tuple[str, str] | None:
    """The versions of Meldpunt's data and of its look-ups now (meldpunt/lib/changes.py),
    else the database's snapshot for both; None where answers are not kept."""
    if not _keeps(using):
        return None
    if (found := changes.versions(using)) is not None:
        return found
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        row = cursor.fetchone()
    return str(row[0]), str(row[0])


class Snapshot:
    """One page's view of the database: its snapshot is read once, at the first question."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, str] | None] = {}

    def answer(
        self,
        question: tuple[Hashable, ...],
        ask: Callable[[], T],
        keep: Callable[[T], bool] = lambda _: True,
        using: str = "default",
        lookup: bool = False,
    ) -> T:
        """ask()'s answer, kept under `question` while the snapshot is the same. The question
        must name everything the answer depends on besides the database; an answer that
        depends on more (the time, say) is not kept: `keep(answer)` says so. `lookup`: the
        answer reads only MELDPUNT_LOOKUP_TABLES, and is kept under their version."""
        return self.answers([question], lambda _missing: [ask()], keep, using, lookup)[0]

    def answers(
        self,
        questions: Sequence[tuple[Hashable, ...]],
        ask: Callable[[list[int]], list[T]],
        keep: Callable[[T], bool] = lambda _: True,
        using: str = "default",
        lookup: bool = False,
    ) -> list[T]:
        """As `answer`, for several questions at once: ask(positions) answers those of the
        questions (by position) that are not kept, in one go, in the order asked."""
        if using not in self._seen:
            self._seen[using] = current_versions(using)
        seen = self._seen[using]
        if seen is None or not _keeps(using):  # a transaction begun since the snapshot
            return ask(list(range(len(questions))))
        where = connections[using].settings_dict
        place = f"{where.get('HOST')}:{where.get('PORT')}/{where.get('NAME')}"
        kind, version = ("lookup", seen[1]) if lookup else ("data", seen[0])
        keys = [(place, kind, version, *question) for question in questions]
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


def page_for(method: str | None) -> AbstractContextManager[Snapshot | None]:
    """A page for a request that only reads (GET, HEAD); none (None) for one that may write:
    a page reads its versions once, at its first question, and a write after that would not
    be in the answers kept under them, so such a request reads everything afresh."""
    return page() if method in ("GET", "HEAD") else nullcontext()


@contextmanager
def page() -> Iterator[Snapshot]:
    """A page that may ask the same questions as the last one: inside, `answer` and `rows`
    share one snapshot and keep their answers. Inside a page already (the staff gate's, say),
    the same page."""
    if (current := _page.get()) is not None:
        yield current
        return
    snapshot = Snapshot()
    token = _page.set(snapshot)
    try:
        yield snapshot
    finally:
        _page.reset(token)


# Per query of `rows` (the first element of its question): whether its SQL names only
# look-up tables (compiled once; the rest of a question, ids say, changes no table).
_lookups: dict[Hashable, bool] = {}


def _reads_lookups_only(question: tuple[Hashable, ...], query: Callable[[], QuerySet[Any]]) -> bool:
    if (found := _lookups.get(question[0])) is None:
        queryset = query()
        connection = connections[queryset.db]
        try:
            sql = str(queryset.query.clone().get_compiler(queryset.db).as_sql()[0])
        except EmptyResultSet:  # matches nothing (an empty IN list): no SQL to tell by
            return False
        named = {
            table
            for table in connection.introspection.django_table_names()
            if connection.ops.quote_name(table) in sql
        }
        found = bool(named) and all(changes.looked_up(table) for table in named)
        with _lock:
            if len(_lookups) < SIZE:
                _lookups[question[0]] = found
    return found


def rows(question: tuple[Hashable, ...], query: Callable[[], QuerySet[Any]]) -> tuple[Any, ...]:
    """The rows of a short values_list() query, as a tuple (shared: never to be changed);
    within a page kept under `question`, which names the query (its first element, the same
    for every question of the same tables) and all it depends on besides the database (no
    SQL to compile for a key), else simply read. A query on the look-up tables alone is kept
    under their version. `query()` makes the queryset, only when it is to be read or its
    tables are to be checked: building one costs more than finding a kept answer."""
    snapshot = _page.get()
    if snapshot is None:
        return tuple(query().all())
    lookup = _reads_lookups_only(question, query)
    # A copy of the query: a queryset given again keeps no rows of its own, read once.
    return snapshot.answer(("rows", *question), lambda: tuple(query().all()), lookup=lookup)


def values(
    question: tuple[Hashable, ...], query: Callable[[datetime], QuerySet[Any]], now: datetime
) -> list[dict[str, Any]]:
    """The rows of the values() query `query(now)` as dicts, read every time; within a page,
    its SQL is made once and kept under the look-ups' version. `question` names everything
    the SQL is made from besides the look-up tables and the time (never other data: a report
    found by its reference is the caller's not to ask here). The SQL is made at several
    instants (meldpunt/lib/precompiled.py): it is kept only where the time is a parameter
    the instant plus a fixed offset, which then moves to `now`. A query that can match
    nothing, or whose columns the ORM would convert, is made and read as usual."""
    snapshot = _page.get()
    if snapshot is None:
        return list(query(now))
    # Kept either way: that a question's SQL cannot be kept is known as surely as the SQL.
    made = snapshot.answer(("values SQL", *question), lambda: _plain_sql(query), lookup=True)
    if made is None:
        return list(query(now))
    sql, params, offsets, names, using = made
    with connections[using].cursor() as cursor:
        cursor.execute(sql, precompiled.at_instant(params, offsets, now))
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


Plain = tuple[str, tuple[Any, ...], tuple[tuple[int, timedelta], ...], tuple[str, ...], str]


def _plain_sql(query: Callable[[datetime], QuerySet[Any]]) -> Plain | None:
    """A values() query's SQL, parameters, the parameters that are the time (with their
    offsets), column names and database, made at each of precompiled.INSTANTS; None unless
    the SQL is the same at each, its time parameters the instant plus an offset, and its
    rows come from the driver as the ORM would give them (no column to convert)."""
    made = []
    for instant in precompiled.INSTANTS:
        queryset = query(instant)
        compiler = queryset.query.get_compiler(queryset.db)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return None
        made.append((sql, list(params)))
    if any(sql != made[0][0] for sql, _ in made):
        return None
    offsets = precompiled.time_offsets([params for _, params in made])
    if offsets is None or precompiled.converts(compiler):
        return None
    named = queryset.query
    # The names as ValuesIterable gives them.
    names = (
        tuple(named.selected)
        if named.selected
        else (*named.extra_select, *named.values_select, *named.annotation_select)
    )
    return made[0][0], tuple(made[0][1]), offsets, names, queryset.db


def answer(
    question: tuple[Hashable, ...],
    ask: Callable[[], T],
    keep: Callable[[T], bool] = lambda _: True,
    lookup: bool = False,
) -> T:
    """Snapshot.answer within a page; elsewhere simply ask()."""
    snapshot = _page.get()
    if snapshot is None:
        return ask()
    return snapshot.answer(question, ask, keep, lookup=lookup)


def answers(
    questions: Sequence[tuple[Hashable, ...]],
    ask: Callable[[list[int]], list[T]],
    keep: Callable[[T], bool] = lambda _: True,
    lookup: bool = False,
) -> list[T]:
    """Snapshot.answers within a page; elsewhere ask them all."""
    snapshot = _page.get()
    if snapshot is not None:
        return snapshot.answers(questions, ask, keep, lookup=lookup)
    return ask(list(range(len(questions))))


def forget() -> None:
    """Drop every kept answer (tests)."""
    with _lock:
        _kept.clear()
        _lookups.clear()
