"""A version of Meldpunt's data that moves only when one of its own tables is written
(PostgreSQL): what the kept answers of meldpunt/lib/snapshots.py are kept under.

PostgreSQL's snapshot moves with every commit on the server: the worker's and fetchmail's
heartbeats (every few seconds), sessions, rate limits, the audit log's "report viewed", and
any other database of the same server. Kept under the snapshot, the inbox's counts were
asked again on nearly every load of a running desk. Here each transaction that writes a
watched table (every table of Meldpunt's models but the few the settings name in
MELDPUNT_UNVERSIONED_TABLES, which no kept answer reads) adds one row to
`meldpunt_datachange`, by a statement-level trigger, in that same transaction: the row
becomes visible exactly when the writes do. The version is the
sum of the table's `n` with its newest id: a statement sees the rows of the transactions
that committed before it, later statements see those and more, and each writer adds one,
so two statements see the same version exactly when they see the same committed writes to
the watched tables. `compact` folds the rows into one (xid -1) and changes neither.

Triggers are made at every `migrate` (post_migrate) for the tables that lack one, so a
table added by a later migration is watched too. A process checks that every watched
table has its trigger (once they all have, not again; until then, every minute); while one
lacks it, answers are kept under the snapshot as before.

The look-ups (tags, saved views, staff: the settings' MELDPUNT_LOOKUP_TABLES) have a version
of their own, made the same way by a second trigger on just those tables into
`meldpunt_lookupchange`: a report written, which moves the data version, leaves the inbox's
look-ups kept (`versions`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.db import connections, transaction

log = logging.getLogger(__name__)

TRIGGER = "meldpunt_changed"
TABLE = "meldpunt_datachange"
# The look-ups' version: its trigger (and function) and table.
LOOKUP_TRIGGER = "meldpunt_lookup_changed"
LOOKUP_TABLE = "meldpunt_lookupchange"
# Folded into one row past this many (by the worker, or by a reader that finds more). Every
# page and API request sums these rows: at a thousand, the sum took 0.2 ms of each (a
# fifth of a bare API request, bench/README.md); folding 64 rows takes about a millisecond,
# once per 64 writing transactions between the worker's passes.
COMPACT_AT = 64


# One row per writing transaction: the first write of a transaction to a table with the
# trigger adds it, and a transaction-local setting spares the others the INSERT. NAME is the
# trigger's (and function's) name, TABLE where the rows go.
FUNCTION = """
CREATE OR REPLACE FUNCTION NAME() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    x text := pg_current_xact_id()::text;
BEGIN
    IF current_setting('meldpunt.NAME', true) IS DISTINCT FROM x THEN
        INSERT INTO TABLE (xid, n) VALUES (x::bigint, 1) ON CONFLICT (xid) DO NOTHING;
        PERFORM set_config('meldpunt.NAME', x, true);
    END IF;
    RETURN NULL;
END
$$
"""


def _function(name: str, table: str) -> str:
    return FUNCTION.replace("NAME", name).replace("TABLE", table)


# Each trigger and the table its rows go into.
INTO = {TRIGGER: TABLE, LOOKUP_TRIGGER: LOOKUP_TABLE}
FUNCTIONS = {trigger: _function(trigger, table) for trigger, table in INTO.items()}

# Per database: whether every watched table has its trigger, and when to ask again if not.
_checked: dict[str, tuple[bool, float]] = {}
RECHECK_SECONDS = 60


def watched(table: str) -> bool:
    """Its commits move the version: not this module's own tables, nor one the settings
    name (MELDPUNT_UNVERSIONED_TABLES and _PREFIXES: no kept answer reads them)."""
    return (
        table not in INTO.values()
        and table not in settings.MELDPUNT_UNVERSIONED_TABLES
        and not table.startswith(settings.MELDPUNT_UNVERSIONED_PREFIXES)
    )


def looked_up(table: str) -> bool:
    """Its commits move the look-ups' version too (MELDPUNT_LOOKUP_TABLES)."""
    return watched(table) and table in settings.MELDPUNT_LOOKUP_TABLES


def _tables(using: str) -> list[str]:
    connection = connections[using]
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor, include_views=False))
    mine = connection.introspection.django_table_names(include_views=False)
    return sorted(t for t in mine if t in existing and watched(t))


def _lacking(using: str) -> dict[str, list[str]]:
    """Per trigger, the tables that should have it and do not."""
    tables = _tables(using)
    wanted = {TRIGGER: tables, LOOKUP_TRIGGER: [t for t in tables if looked_up(t)]}
    with connections[using].cursor() as cursor:
        for trigger in wanted:
            cursor.execute(
                "SELECT c.relname FROM pg_class c "
                "JOIN pg_namespace ns ON ns.oid = c.relnamespace "
                "WHERE ns.nspname = current_schema() AND c.relname = ANY(%s) AND NOT EXISTS "
                "(SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = %s)",
                [wanted[trigger], trigger],
            )
            wanted[trigger] = sorted(row[0] for row in cursor.fetchall())
    return wanted


def install(using: str = "default") -> list[str]:
    """The functions, and the triggers every watched table lacks (PostgreSQL); the tables it
    added one to."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    with transaction.atomic(using), connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
        # None into a table that is not there (migrated back past it).
        lacking = {t: tables for t, tables in _lacking(using).items() if INTO[t] in existing}
        for trigger, tables in lacking.items():
            cursor.execute(FUNCTIONS[trigger])
            for table in tables:
                name = connection.ops.quote_name(table)
                cursor.execute(
                    f"CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                    f"ON {name} FOR EACH STATEMENT EXECUTE FUNCTION {trigger}()"
                )
    _checked.pop(using, None)
    return sorted({table for tables in lacking.values() for table in tables})


def on_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    if added := install(using):
        log.info("data version: watching %d more tables", len(added))


def complete(using: str) -> bool:
    """Every watched table has its trigger: once found so, for the process; until then,
    asked again each RECHECK_SECONDS (a migrate may make them meanwhile)."""
    found = _checked.get(using)
    if found is not None and (found[0] or time.monotonic() < found[1]):
        return found[0]
    lacking = sum(len(tables) for tables in _lacking(using).values())
    if lacking:
        log.warning("data version: %d triggers are missing; run migrate", lacking)
    _checked[using] = (not lacking, time.monotonic() + RECHECK_SECONDS)
    return not lacking


# Both versions' parts, in one statement.
VERSIONS = (
    "SELECT * FROM (SELECT coalesce(sum(n), 0), max(xid), count(*) FROM meldpunt_datachange) "
    "AS data, (SELECT coalesce(sum(n), 0), max(xid), count(*) FROM meldpunt_lookupchange) "
    "AS lookups"
)


def versions(using: str = "default") -> tuple[str, str] | None:
    """The version of the data now and that of the look-ups, read in one statement; None
    where there are none (not PostgreSQL, or a table without its trigger)."""
    if connections[using].vendor != "postgresql" or not complete(using):
        return None
    with connections[using].cursor() as cursor:
        cursor.execute(VERSIONS)
        total, newest, rows, lookup_total, lookup_newest, lookup_rows = cursor.fetchone()
    if max(rows, lookup_rows) > COMPACT_AT:
        compact(using)
    # With the newest writer's id: transaction ids never repeat, so a version seen before
    # cannot come back, even if the table were emptied (a restore, tests' flush).
    return f"{total}:{newest}", f"{lookup_total}:{lookup_newest}"


def version(using: str = "default") -> str | None:
    """The version of the data now (`versions`' first)."""
    found = versions(using)
    return found[0] if found is not None else None


COMPACT = (
    "WITH gone AS (DELETE FROM TABLE WHERE xid >= 0 AND xid < (SELECT max(xid) FROM TABLE) "
    "RETURNING n) INSERT INTO TABLE (xid, n) SELECT -1, sum(n) FROM gone HAVING count(*) > 0 "
    "ON CONFLICT (xid) DO UPDATE SET n = TABLE.n + EXCLUDED.n RETURNING 1"
)
BUMP = (
    "INSERT INTO TABLE (xid, n) VALUES (pg_current_xact_id()::text::bigint, 1) "
    "ON CONFLICT (xid) DO NOTHING"
)


def compact(using: str = "default") -> bool:
    """Fold the committed rows but the newest into the row with xid -1, in both tables: the
    sum and the newest id, so the versions, stay. One process at a time per table; whether
    it folded any."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    folded = False
    for table in INTO.values():
        with transaction.atomic(using), connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [table])
            if not cursor.fetchone()[0]:
                continue  # another process is at it
            cursor.execute(COMPACT.replace("TABLE", table))
            folded = cursor.fetchone() is not None or folded
    return folded


def bump(using: str = "default") -> None:
    """New versions, as if every watched table had been written (after a restore)."""
    if connections[using].vendor == "postgresql":
        with connections[using].cursor() as cursor:
            for table in INTO.values():
                cursor.execute(BUMP.replace("TABLE", table))


def forget() -> None:
    """Check the triggers again at the next use (tests)."""
    _checked.clear()
