"""Bulk loader for bench/triage.py: N reports with hosts, events and messages, sealed for real.

Rows are generated in a pool of worker processes (forked after Django is set up, with
no database connection open; they only compute and seal) and inserted by the parent:
`executemany` on SQLite, `COPY … FROM STDIN` on PostgreSQL, one transaction per chunk.
At most a few chunks are in flight, so memory stays bounded at any N.

Report ids are assigned here (1..N, in created_at order, as the serial in the
reference is the row id); hosts, events and messages take their ids from the database.
Every sealed blob is bound to its own row's uid (the AAD says so), so each is sealed
separately: that is most of the generation cost (~35 µs per seal on this machine).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

CHUNK = 5000  # reports per task and per transaction
YEARS = 5
HOSTS_PER_SEARCH = 300  # the host pool is sized so that one host has about this many reports

CATEGORIES = [
    ("xss", 30),
    ("injection", 12),
    ("access_control", 14),
    ("authentication", 8),
    ("information_disclosure", 12),
    ("configuration", 10),
    ("csrf", 4),
    ("other", 10),
]
OPEN_STATES = [
    ("received", 30),
    ("needs_info", 10),
    ("triaged", 25),
    ("fix_in_progress", 20),
    ("fixed", 10),
    ("published", 5),
]
RESOLUTIONS = [
    ("resolved", 45),
    ("invalid", 15),
    ("out_of_scope", 12),
    ("duplicate", 14),
    ("informative", 8),
    ("spam", 4),
    ("withdrawn", 2),
]
SEVERITIES = [("none", 5), ("low", 30), ("medium", 35), ("high", 22), ("critical", 8)]
TEXT = (
    "The search box on the login page reflects the q parameter into the page without "
    "escaping it. A value such as <script>alert(document.domain)</script> is executed in the "
    "context of the application, which gives an attacker access to the session of anyone who "
    "follows a crafted link. Tested with Firefox 140 and Chromium 141. "
)


def weighted(pairs: list[tuple[str, int]]) -> Callable[[random.Random], str]:
    names = [n for n, _w in pairs]
    cum: list[int] = []
    total = 0
    for _n, w in pairs:
        total += w
        cum.append(total)

    def pick(rng: random.Random) -> str:
        return rng.choices(names, cum_weights=cum)[0]

    return pick


pick_category = weighted(CATEGORIES)
pick_open_state = weighted(OPEN_STATES)
pick_resolution = weighted(RESOLUTIONS)
pick_severity = weighted(SEVERITIES)


def host_pool(n_reports: int) -> list[str]:
    """About 2 hosts per report, so a pool of N*2/300 hosts gives ~300 reports per host."""
    size = max(10, n_reports * 2 // HOSTS_PER_SEARCH)
    return [f"app{j}.unit{j % 97}.example.org" for j in range(size)]


@dataclass
class Plan:
    """Everything a worker needs; inherited through fork, never pickled per task."""

    n: int
    now: datetime
    policy_version_id: int
    staff_ids: list[int]
    hosts: list[str]
    host_digests: list[bytes]
    vendor: str
    seed: int = 20261128
    columns: dict[str, list[tuple[str, str, Any, Callable[[Any], Any]]]] = field(
        default_factory=dict
    )


PLAN: Plan | None = None


def columns_for(model: Any, vendor: str) -> list[tuple[str, str, Any, Callable[[Any], Any]]]:
    """(column, attname, default, converter) for every concrete column, in model order."""
    from django.db import connection

    def same(v: Any) -> Any:
        return v

    out = []
    for f in model._meta.concrete_fields:
        kind = f.get_internal_type()
        conv: Callable[[Any], Any] = same
        if kind == "DateTimeField" and vendor == "sqlite":
            conv = connection.ops.adapt_datetimefield_value
        elif kind == "DateField" and vendor == "sqlite":
            conv = lambda v: v.isoformat()  # noqa: E731
        elif kind == "UUIDField":
            conv = (lambda v: v.hex) if vendor == "sqlite" else str  # type: ignore[assignment]
        elif kind == "JSONField":
            conv = lambda v: json.dumps(v, separators=(",", ":"))  # noqa: E731
        elif kind == "BinaryField":
            conv = bytes
        default = None if f.primary_key else f.get_default()
        out.append((f.column, f.attname, default, conv))
    return out


def _row(spec: list[tuple[str, str, Any, Callable[[Any], Any]]], values: dict[str, Any]) -> tuple:
    row = []
    for _col, att, default, conv in spec:
        v = values.get(att, default)
        row.append(None if v is None else conv(v))
    return tuple(row)


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def generate(chunk: tuple[int, int]) -> dict[str, Any]:
    """Rows for reports start..end-1 (ids start+1..end), ready for the database."""
    from meldpunt.lib import crypto

    plan = PLAN
    assert plan is not None
    keyring = crypto.load_keyring()
    start, end = chunk
    rng = random.Random(plan.seed * 1_000_003 + start)
    span = timedelta(days=365 * YEARS).total_seconds()
    first = plan.now - timedelta(days=365 * YEARS)
    spec_r, spec_h = plan.columns["report"], plan.columns["host"]
    spec_e, spec_m = plan.columns["event"], plan.columns["message"]
    reports, hosts, events, messages = [], [], [], []
    counts = {"open": 0, "overdue": 0, "seals": 0}

    def seal(value: dict[str, Any], aad: str) -> bytes:
        counts["seals"] += 1
        return keyring.seal(json.dumps(value, separators=(",", ":")).encode(), aad)

    for i in range(start, end):
        pk = i + 1
        created = first + timedelta(seconds=(i + rng.random()) * span / plan.n)
        age = (plan.now - created).total_seconds() / 86400
        p_open = 0.2 if age < 30 else 0.003 if age < 365 else 0.0
        is_open = rng.random() < p_open
        due = created + timedelta(days=3)
        state = pick_open_state(rng) if is_open else "closed"
        if is_open and age < 3:
            state = "received"
        resolution = "" if is_open else pick_resolution(rng)
        responded = rng.random() < (0.65 if is_open else 0.95) and not (is_open and age < 1)
        first_response = None
        if responded:
            # Mostly within the promise; one in ten late by up to a week.
            delay = rng.uniform(0.05, 2.9) if rng.random() < 0.9 else rng.uniform(3, 10)
            first_response = min(created + timedelta(days=delay), plan.now)
        if is_open:
            counts["open"] += 1
            counts["overdue"] += first_response is None and due < plan.now
        assessed = state not in ("received", "needs_info") and resolution not in ("spam",)
        severity = pick_severity(rng) if assessed else ""
        assignee = (
            None
            if (state == "received" and rng.random() < 0.5) or rng.random() < 0.05
            else rng.choice(plan.staff_ids)
        )
        category = pick_category(rng)
        channel = "web" if rng.random() < 0.85 else "email"
        n_hosts = rng.choice((1, 1, 2, 2, 3))
        picks = rng.sample(range(len(plan.hosts)), n_hosts)
        uid = _uuid(rng)
        content = {
            "affected_systems": [f"https://{plan.hosts[j]}/login" for j in picks],
            "description": TEXT * 2,
            "steps": "1. Open the login page with ?q=<script>. 2. See the alert. " * 3,
            "impact": "Session theft for anyone who follows a crafted link. " * 3,
            "exploited": "no",
            "already_public": "no",
            "references": "",
            "csirt_notified": "no",
        }
        has_contact = rng.random() < 0.7
        finder = {
            "name": f"Finder {pk}" if rng.random() < 0.4 else "",
            "email": f"finder{pk}@example.net" if has_contact else "",
            "pgp_key": "",
        }
        label = f"reports.report:{uid}"
        reports.append(
            _row(
                spec_r,
                {
                    "id": pk,
                    "uid": uid,
                    "created_at": created,
                    "channel": channel,
                    "state": state,
                    "category": category,
                    "out_of_scope": category == "other" and rng.random() < 0.3,
                    "language": rng.choice(("nl", "nl", "en", "fr")),
                    "policy_version_id": plan.policy_version_id,
                    "credit": "none",
                    "response_due_at": due,
                    "first_response_at": first_response,
                    "expected_fix_date": (created + timedelta(days=rng.randint(14, 120))).date()
                    if state in ("triaged", "fix_in_progress")
                    else None,
                    "has_contact": has_contact,
                    "has_pgp_key": False,
                    "resolution": resolution,
                    "assignee_id": assignee,
                    "valid": (resolution not in ("invalid", "spam")) if assessed else None,
                    "in_scope": (resolution != "out_of_scope") if assessed else None,
                    "severity": severity,
                    "assessed_at": (first_response or due) if assessed else None,
                    "first_response_kept": None
                    if first_response is None
                    else first_response <= due,
                    "receipt_digest": os.urandom(32),
                    "submission_digest": os.urandom(32),
                    "content_blob": seal(content, f"{label}:content"),
                    "finder_blob": seal(finder, f"{label}:finder"),
                },
            )
        )
        for j in picks:
            hosts.append(_row(spec_h, {"report_id": pk, "digest": plan.host_digests[j]}))
        staff_actor = f"staff:{assignee}" if assignee else "staff:system"
        evs = [(created, "received", "finder", {"channel": channel})]
        t = created
        if assignee:
            t = t + timedelta(hours=rng.uniform(0.1, 20))
            evs.append((t, "assigned", staff_actor, {"assignee": assignee}))
        msgs = []
        if first_response is not None:
            msgs.append((first_response, "staff", assignee, True))
            evs.append((first_response, "message", staff_actor, {"attachments": 0}))
        if first_response is None or rng.random() < 0.5:
            mt = (first_response or created) + timedelta(hours=rng.uniform(1, 72))
            mt = min(mt, plan.now)
            msgs.append((mt, "finder", None, False))
            evs.append((mt, "message", "finder", {"attachments": 0}))
        if state != "received":
            evs.append(
                (
                    max(t, first_response or t),
                    "state_changed",
                    staff_actor,
                    {"to": state, **({"resolution": resolution} if resolution else {})},
                )
            )
        for at, kind, actor, data in sorted(evs, key=lambda e: e[0]):
            events.append(
                _row(
                    spec_e,
                    {"report_id": pk, "created_at": at, "kind": kind, "actor": actor, "data": data},
                )
            )
        for at, author, staff, first_resp in msgs:
            muid = _uuid(rng)
            text = (
                "Thank you, we are looking into it."
                if author == "staff"
                else "Any news? I can give more details if needed."
            )
            messages.append(
                _row(
                    spec_m,
                    {
                        "uid": muid,
                        "report_id": pk,
                        "created_at": at,
                        "author": author,
                        "staff_author_id": staff,
                        "is_first_response": first_resp,
                        "body_blob": seal({"text": text}, f"reports.message:{muid}:body"),
                    },
                )
            )
    return {
        "report": reports,
        "host": hosts,
        "event": events,
        "message": messages,
        "counts": counts,
    }


@dataclass
class LoadStats:
    reports: int = 0
    hosts: int = 0
    events: int = 0
    messages: int = 0
    open: int = 0
    overdue: int = 0
    seals: int = 0
    seconds_insert: float = 0.0
    seconds_total: float = 0.0
    seconds_after: float = 0.0


def tables() -> dict[str, Any]:
    from meldpunt.reports.models import AffectedHost, Event, Message, Report

    return {"report": Report, "host": AffectedHost, "event": Event, "message": Message}


def load(plan: Plan, workers: int, progress: Callable[[str], None]) -> LoadStats:
    """Generate and insert plan.n reports; return counts and timings."""
    global PLAN
    from django.db import connection

    models = tables()
    for name, model in models.items():
        plan.columns[name] = columns_for(model, plan.vendor)
    PLAN = plan
    inserters = {
        name: _inserter(model, plan.columns[name], omit_id=name != "report")
        for name, model in models.items()
    }
    connection.close()  # workers are forked: they must not share a connection
    chunks: Iterator[tuple[int, int]] = (
        (s, min(s + CHUNK, plan.n)) for s in range(0, plan.n, CHUNK)
    )
    stats = LoadStats()
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        pending: deque[Any] = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(generate, (chunk,)))
            if len(pending) >= workers + 2:
                _insert(pending.popleft().get(), inserters, stats)
                _progress(stats, plan.n, t0, progress)
        while pending:
            _insert(pending.popleft().get(), inserters, stats)
            _progress(stats, plan.n, t0, progress)
    stats.seconds_total = time.perf_counter() - t0
    t1 = time.perf_counter()
    _after_load(plan.vendor, models)
    stats.seconds_after = time.perf_counter() - t1
    return stats


def _progress(stats: LoadStats, n: int, t0: float, progress: Callable[[str], None]) -> None:
    if stats.reports % (CHUNK * 20) == 0 or stats.reports == n:
        rate = stats.reports / (time.perf_counter() - t0)
        progress(f"  loaded {stats.reports:,}/{n:,} reports ({rate:,.0f}/s)")


def _inserter(model: Any, spec: list, omit_id: bool) -> Callable[[list[tuple]], None]:
    from django.db import connection

    table = model._meta.db_table
    cols = [c for c, *_ in spec]
    keep = [i for i, c in enumerate(cols) if not (omit_id and c == "id")]
    names = ", ".join(connection.ops.quote_name(cols[i]) for i in keep)
    if connection.vendor == "postgresql":
        sql = f"COPY {connection.ops.quote_name(table)} ({names}) FROM STDIN"

        def insert(rows: list[tuple]) -> None:
            with connection.cursor() as c, c.cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row([row[i] for i in keep] if omit_id else row)

        return insert
    # Table and column names come from the model's metadata, never from input.
    sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(keep))})"  # noqa: S608

    def insert_sqlite(rows: list[tuple]) -> None:
        connection.ensure_connection()
        data = (tuple(row[i] for i in keep) for row in rows) if omit_id else rows
        connection.connection.executemany(sql, data)

    return insert_sqlite


def _insert(batch: dict[str, Any], inserters: dict[str, Any], stats: LoadStats) -> None:
    from django.db import connection, transaction

    t = time.perf_counter()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as c:
                c.execute("SET LOCAL synchronous_commit TO OFF")  # a loader, not the app
        for name in ("report", "host", "event", "message"):
            inserters[name](batch[name])
    stats.seconds_insert += time.perf_counter() - t
    stats.reports += len(batch["report"])
    stats.hosts += len(batch["host"])
    stats.events += len(batch["event"])
    stats.messages += len(batch["message"])
    for key, value in batch["counts"].items():
        setattr(stats, key, getattr(stats, key) + value)


def _after_load(vendor: str, models: dict[str, Any]) -> None:
    """PostgreSQL: reset the id sequences, then VACUUM ANALYZE (what autovacuum would do)."""
    from django.core.management.color import no_style
    from django.db import connection

    if vendor != "postgresql":
        return  # SQLite keeps the largest id in sqlite_sequence by itself
    with connection.cursor() as c:
        for sql in connection.ops.sequence_reset_sql(no_style(), list(models.values())):
            c.execute(sql)
        # Open reports are 0.4 % of a million: ANALYZE's default sample (30,000 rows) sees
        # ~110 of them, and an estimate of 3,400 or 4,300 flips the plain inbox query
        # between a 7 ms and a 700 ms plan from one ANALYZE to the next (bench/README.md).
        # The whole column is sampled, so every run plans the same.
        c.execute("ALTER TABLE reports_report ALTER COLUMN state SET STATISTICS 10000")
    vacuum_analyze(*(model._meta.db_table for model in models.values()))


def vacuum_analyze(*tables: str) -> None:
    """PostgreSQL: VACUUM ANALYZE these tables, as autovacuum would after a bulk write."""
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection  # psycopg's own: no client deadline around a long VACUUM
    old = raw.autocommit
    raw.autocommit = True  # VACUUM cannot run in a transaction
    try:
        with raw.cursor() as c:
            # The site's statement_timeout (30 s) is for requests, not for a million rows.
            c.execute("SET statement_timeout = 0")
            for table in tables:
                c.execute(f"VACUUM ANALYZE {table}")
            c.execute("RESET statement_timeout")
    finally:
        raw.autocommit = old
