"""Expressions whose SQL is compiled once per database, with the time as their only variable.

Django compiles every expression of a query again on each query. The inbox's flags on each
row (overdue, finder not reached, promises at risk: subqueries the domain writes once, as
ORM expressions) cost a page more to compile than to run at a million reports
(bench/README.md). `Precompiled(model, make, output_field)` compiles `make(now)` for a few
instants far apart and keeps the SQL when the compilations differ only in parameters that
are the instant plus a fixed offset (`now` itself, `now + margin`); `at(now)` then gives the
same SQL as a `RawSQL` with those parameters moved to `now`. Anything else that depends on
the time (SQL that changes with it, a parameter made from it in another way, a backend that
turns times into text while compiling, as SQLite's does) fails the check, and `at(now)` gives
`make(now)` itself, compiled as usual on every query: the answer is the same either way.

The kept SQL names the model's table as the outer query's: use it in queries on that model
itself (an annotation or a filter of `model.objects...`), not inside another query. Per
process; what is kept is SQL and constant parameters of the domain's rules, no data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections, router
from django.db.models import Field, Model
from django.db.models.expressions import RawSQL

# Instants a century apart, each unit different: a parameter that is the time plus an offset
# shows the same offset at each, and a clamp to a date of this era, a truncation or a
# weekday shows itself as a difference that is no offset.
INSTANTS = (
    datetime(1990, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    datetime(2041, 6, 17, 13, 29, 41, 424242, tzinfo=UTC),
    datetime(2090, 11, 29, 22, 53, 58, 999989, tzinfo=UTC),
)


def time_offsets(compiled: list[list[Any]]) -> tuple[tuple[int, timedelta], ...] | None:
    """Given the parameters of one SQL statement compiled at each of INSTANTS (in order):
    the parameters that are the instant plus a fixed offset, as (index, offset); None when
    any parameter is made from the instant otherwise (or the lists differ in length)."""
    first, *others = compiled
    if any(len(params) != len(first) for params in others):
        return None
    offsets = []
    for index, values in enumerate(zip(first, *others, strict=True)):
        if all(type(v) is type(values[0]) and v == values[0] for v in values):
            continue  # a constant (the same type too: True is not 1)
        moved = [
            v - instant if isinstance(v, datetime) else None
            for v, instant in zip(values, INSTANTS, strict=True)
        ]
        if moved[0] is None or any(m != moved[0] for m in moved):
            return None  # made from the time otherwise than by adding an offset
        offsets.append((index, moved[0]))
    return tuple(offsets)


def converts(compiler: Any) -> bool:
    """Whether the ORM converts any column of a compiled query's rows (call after as_sql):
    rows read with a bare cursor would then not be what the ORM gives."""
    columns = [selected[0] for selected in compiler.select[: compiler.col_count]]
    return bool(compiler.get_converters(columns))


def at_instant(
    params: tuple[Any, ...], offsets: tuple[tuple[int, timedelta], ...], now: datetime
) -> list[Any]:
    """The parameters of SQL kept by time_offsets, moved to `now`."""
    moved = list(params)
    for index, offset in offsets:
        moved[index] = now + offset
    return moved


@dataclass(frozen=True)
class Compiled:
    sql: str
    params: tuple[Any, ...]
    offsets: tuple[tuple[int, timedelta], ...]  # (index, offset): that parameter is now + offset
    output_field: Field[Any, Any]


class Precompiled:
    def __init__(
        self,
        model: type[Model],
        make: Callable[[datetime], Any],
        output_field: Field[Any, Any] | None = None,  # None: the expression's own
    ) -> None:
        self.model, self.make, self.output_field = model, make, output_field
        # Per database alias and vendor; None: could not be kept, compiled on every query.
        self._kept: dict[tuple[str, str], Compiled | None] = {}

    def at(self, now: datetime, using: str | None = None) -> Any:
        """The expression at this instant, for a query on `model` read from `using` (the
        model's database for reading when not given)."""
        compiled = self.compiled(using or router.db_for_read(self.model))
        if compiled is None:
            return self.make(now)
        params = at_instant(compiled.params, compiled.offsets, now)
        # The SQL is Django's own compilation of the domain's expression; every value in it
        # is still a parameter.
        return RawSQL(compiled.sql, params, output_field=compiled.output_field)  # noqa: S611  # nosec B611

    def compiled(self, using: str) -> Compiled | None:
        key = (using, connections[using].vendor)
        if key not in self._kept:  # two threads may both compile: the same result
            self._kept[key] = self._compile(using)
        return self._kept[key]

    def _compile(self, using: str) -> Compiled | None:
        (sql, first, field), *others = [self._sql(instant, using) for instant in INSTANTS]
        if any(other_sql != sql for other_sql, _, _ in others):
            return None
        offsets = time_offsets([first, *(params for _, params, _ in others)])
        if offsets is None:
            return None
        return Compiled(sql, tuple(first), offsets, self.output_field or field)

    def _sql(self, now: datetime, using: str) -> tuple[str, list[Any], Any]:
        query = self.model._base_manager.db_manager(using).all().query
        expression = self.make(now).resolve_expression(query, allow_joins=True, reuse=None)
        sql, params = query.get_compiler(using).compile(expression)
        return sql, list(params), expression.output_field


class ByIds:
    """A values_list() query of a model's rows by their ids, compiled once per database and
    number of ids: the SQL of `pk__in` differs only in how many placeholders it has, and
    compiling it cost a page as much as running it (the inbox's titles, bench/README.md).
    Rows whose columns the ORM would convert are read through it, as is any query whose
    compilation does not take the ids as its parameters, in order."""

    SIZE = 256  # kept statements per query (one per number of ids asked)

    def __init__(self, model: type[Model], *fields: str) -> None:
        self.model, self.fields = model, fields
        self._kept: dict[tuple[str, str, int], str | None] = {}

    def _query(self, ids: Sequence[int], using: str) -> Any:
        manager = self.model._base_manager.db_manager(using)
        return manager.filter(pk__in=list(ids)).values_list(*self.fields)

    def _compile(self, count: int, using: str) -> str | None:
        marks = list(range(1, count + 1))  # distinct: the ORM drops repeated ids
        compiler = self._query(marks, using).query.get_compiler(using)
        sql, params = compiler.as_sql()
        if list(params) != marks or converts(compiler):
            return None
        return str(sql)

    def rows(self, ids: Sequence[int], using: str | None = None) -> list[tuple[Any, ...]]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return []
        using = using or router.db_for_read(self.model)
        key = (using, connections[using].vendor, len(ids))
        if key not in self._kept and len(self._kept) < self.SIZE:
            self._kept[key] = self._compile(len(ids), using)
        sql = self._kept.get(key)
        if sql is None:
            return list(self._query(ids, using))
        with connections[using].cursor() as cursor:
            cursor.execute(sql, ids)
            return [tuple(row) for row in cursor.fetchall()]
