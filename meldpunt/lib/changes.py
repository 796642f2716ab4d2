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
# Folded into one row past this many (by the worker, or by a reader that finds more).
COMPACT_AT = 1000

# One row per writing transaction: the first watched write of a transaction adds it, and a
# transaction-local setting spares the others the INSERT.
FUNCTION = """
CREATE OR REPLACE FUNCTION meldpunt_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    x text := pg_current_xact_id()::text;
BEGIN
    IF current_setting('meldpunt.changed', true) IS DISTINCT FROM x THEN
        INSERT INTO meldpunt_datachange (xid, n) VALUES (x::bigint, 1) ON CONFLICT (xid) DO NOTHING;
        PERFORM set_config('meldpunt.changed', x, true);
    END IF;
    RETURN NULL;
END
$$
"""

# Per database: whether every watched table has its trigger, and when to ask again if not.
_checked: dict[str, tuple[bool, float]] = {}
RECHECK_SECONDS = 60


def watched(table: str) -> bool:
    """Its commits move the version: not this module's own table, nor one the settings
    name (MELDPUNT_UNVERSIONED_TABLES and _PREFIXES: no kept answer reads them)."""
    return (
        table != TABLE
        and table not in settings.MELDPUNT_UNVERSIONED_TABLES
        and not table.startswith(settings.MELDPUNT_UNVERSIONED_PREFIXES)
    )


def _tables(using: str) -> list[str]:
    connection = connections[using]
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor, include_views=False))
    mine = connection.introspection.django_table_names(include_views=False)
    return sorted(t for t in mine if t in existing and watched(t))


def _without_trigger(using: str, tables: list[str]) -> list[str]:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c "
            "JOIN pg_namespace ns ON ns.oid = c.relnamespace "
            "WHERE ns.nspname = current_schema() AND c.relname = ANY(%s) AND NOT EXISTS "
            "(SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = %s)",
            [tables, TRIGGER],
        )
        return sorted(row[0] for row in cursor.fetchall())


def install(using: str = "default") -> list[str]:
    """The function, and a trigger on every watched table that lacks one (PostgreSQL);
    the tables it added one to."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    lacking = _without_trigger(using, _tables(using))
    with transaction.atomic(using), connection.cursor() as cursor:
        cursor.execute(FUNCTION)
        for table in lacking:
            name = connection.ops.quote_name(table)
            cursor.execute(
                f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {name} FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER}()"
            )
    _checked.pop(using, None)
    return lacking


def on_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    if added := install(using):
        log.info("data version: watching %d more tables", len(added))


def complete(using: str) -> bool:
    """Every watched table has its trigger: once found so, for the process; until then,
    asked again each RECHECK_SECONDS (a migrate may make them meanwhile)."""
    found = _checked.get(using)
    if found is not None and (found[0] or time.monotonic() < found[1]):
        return found[0]
    lacking = _without_trigger(using, _tables(using))
    if lacking:
        log.warning("data version: %d tables lack their trigger; run migrate", len(lacking))
    _checked[using] = (not lacking, time.monotonic() + RECHECK_SECONDS)
    return not lacking


def version(using: str = "default") -> str | None:
    """The version of the data now, or None where there is none (not PostgreSQL, or a
    watched table without its trigger)."""
    if connections[using].vendor != "postgresql" or not complete(using):
        return None
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(n), 0), max(xid), count(*) FROM meldpunt_datachange")
        total, newest, rows = cursor.fetchone()
    if rows > COMPACT_AT:
        compact(using)
    # With the newest writer's id: transaction ids never repeat, so a version seen before
    # cannot come back, even if the table were emptied (a restore, tests' flush).
    return f"{total}:{newest}"


def compact(using: str = "default") -> bool:
    """Fold the committed rows but the newest into the row with xid -1: the sum and the
    newest id, so the version, stay. One process at a time; whether it folded any."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    with transaction.atomic(using), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [TABLE])
        if not cursor.fetchone()[0]:
            return False  # another process is at it
        cursor.execute(
            "WITH gone AS (DELETE FROM meldpunt_datachange WHERE xid >= 0 "
            "AND xid < (SELECT max(xid) FROM meldpunt_datachange) RETURNING n) "
            "INSERT INTO meldpunt_datachange (xid, n) SELECT -1, sum(n) FROM gone "
            "HAVING count(*) > 0 "
            "ON CONFLICT (xid) DO UPDATE SET n = meldpunt_datachange.n + EXCLUDED.n RETURNING 1"
        )
        return cursor.fetchone() is not None


def bump(using: str = "default") -> None:
    """A new version, as if a watched table had been written (after a restore)."""
    if connections[using].vendor == "postgresql":
        with connections[using].cursor() as cursor:
            cursor.execute(
                "INSERT INTO meldpunt_datachange (xid, n) "
                "VALUES (pg_current_xact_id()::text::bigint, 1) ON CONFLICT (xid) DO NOTHING"
            )


def forget() -> None:
    """Check the triggers again at the next use (tests)."""
    _checked.clear()
