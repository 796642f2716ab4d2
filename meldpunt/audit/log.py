"""Appending to the audit log and checking that nobody edited it.

Each entry's hash is an HMAC (keyed with the key file's index key, which never enters the
database) over its fields and the previous entry's hash. Someone who can write to the
database can change a row, but cannot compute the hash that would make it fit, nor rebuild
the chain after it; `verify()` names the first entry that does not fit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from meldpunt.audit.models import AuditEntry, AuditHead
from meldpunt.lib import crypto

GENESIS = "0" * 64
# Facts about the channel a change came through (the API adds its token's name), added to
# every entry written while they are bound; the caller runs in a context of its own.
_bound: ContextVar[dict[str, Any] | None] = ContextVar("audit_bound", default=None)


def bind(**data: Any) -> None:
    """Add these facts to every entry appended later in the current context."""
    _bound.set({**(_bound.get() or {}), **data})


def _key() -> bytes:
    return crypto.load_keyring().index("audit-chain", "v1")


def entry_hash(
    prev_hash: str,
    seq: int,
    created_at: datetime,
    actor: str,
    action: str,
    report_ref: str,
    data: dict[str, Any],
) -> str:
    body = json.dumps(
        [prev_hash, seq, created_at.isoformat(), actor, action, report_ref, data],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hmac.new(_key(), body.encode(), hashlib.sha256).hexdigest()


def append(action: str, actor: str, report_ref: str = "", **data: Any) -> AuditEntry:
    """Add one entry, in the caller's transaction (it is rolled back with the caller's work)."""
    # Round-trip through JSON so the hash is computed over exactly what the database returns.
    clean: dict[str, Any] = json.loads(json.dumps({**(_bound.get() or {}), **data}, default=str))
    # No savepoint inside the caller's transaction: if the entry cannot be written, the
    # caller's work must not be kept without it either.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            # Every change waits here for the one before it; a holder that hangs must
            # turn the waiters into a quick "try again" (OperationalError), not a queue
            # of stuck requests. LOCAL: it ends with the caller's transaction.
            with connection.cursor() as cursor:
                # set_config(..., true) is SET LOCAL, with a bound parameter.
                cursor.execute(
                    "SELECT set_config('lock_timeout', %s, true)",
                    [f"{settings.MELDPUNT_DB_LOCK_TIMEOUT}s"],
                )
        head, _created = AuditHead.objects.select_for_update().get_or_create(
            pk=1, defaults={"seq": 0, "hash": GENESIS}
        )
        now = timezone.now()
        seq = head.seq + 1
        digest = entry_hash(head.hash, seq, now, actor, action, report_ref, clean)
        entry = AuditEntry.objects.create(
            seq=seq,
            created_at=now,
            actor=actor,
            action=action,
            report_ref=report_ref,
            data=clean,
            prev_hash=head.hash,
            hash=digest,
        )
        AuditHead.objects.filter(pk=1).update(seq=seq, hash=digest)
    return entry


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int
    problem: str = ""


def _entries() -> Iterator[AuditEntry]:
    return AuditEntry.objects.order_by("pk").iterator(chunk_size=2000)


def verify() -> Verdict:
    """Walk the chain in insertion order; report the first entry that does not fit."""
    prev, expected_seq, checked = GENESIS, 1, 0
    for entry in _entries():
        label = f"entry #{entry.seq} (id {entry.pk}, {entry.action})"
        if entry.seq != expected_seq:
            return Verdict(False, checked, f"{label}: expected entry #{expected_seq} here")
        if entry.prev_hash != prev:
            return Verdict(False, checked, f"{label}: does not follow the entry before it")
        recomputed = entry_hash(
            prev,
            entry.seq,
            entry.created_at,
            entry.actor,
            entry.action,
            entry.report_ref,
            entry.data,
        )
        if not hmac.compare_digest(recomputed, entry.hash):
            return Verdict(False, checked, f"{label}: its content was changed")
        prev, expected_seq, checked = entry.hash, expected_seq + 1, checked + 1
    head = AuditHead.objects.filter(pk=1).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != checked or not hmac.compare_digest(head_hash, prev):
        return Verdict(
            False, checked, f"entries after #{checked} are missing (the log had {head_seq})"
        )
    return Verdict(True, checked)
