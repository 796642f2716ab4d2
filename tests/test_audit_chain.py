"""The audit log is hash-chained: `meldpunt audit verify` finds edited, removed or moved entries."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from meldpunt.audit.log import append, verify
from meldpunt.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def _three() -> list[AuditEntry]:
    return [
        append("login", "staff:1"),
        append("report_viewed", "staff:1", "MP-2026-0001", fields=["content"]),
        append("state_changed", "staff:2", "MP-2026-0001", to="triaged"),
    ]


def _sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_it_passes_on_a_clean_log(capsys: Any) -> None:
    _three()
    assert verify().ok and verify().checked == 3
    call_command("audit", "verify")
    assert "intact: 3 entries" in capsys.readouterr().out


def test_it_passes_on_an_empty_log() -> None:
    assert verify().ok


def test_it_names_an_edited_entry() -> None:
    entries = _three()
    _sql("UPDATE audit_auditentry SET actor = %s WHERE id = %s", "staff:9", entries[1].pk)
    verdict = verify()
    assert not verdict.ok and verdict.problem.startswith("entry #2 ")
    with pytest.raises(CommandError, match="entry #2 "):
        call_command("audit", "verify")


def test_it_names_an_entry_whose_data_was_changed() -> None:
    entries = _three()
    AuditEntry.objects.filter(pk=entries[2].pk).update(data={"to": "closed"})
    assert verify().problem.startswith("entry #3 ")


def test_it_finds_a_removed_entry() -> None:
    entries = _three()
    _sql("DELETE FROM audit_auditentry WHERE id = %s", entries[1].pk)
    verdict = verify()
    assert (
        not verdict.ok and "entry #3" in verdict.problem and "expected entry #2" in verdict.problem
    )


def test_it_finds_a_removed_last_entry() -> None:
    entries = _three()
    _sql("DELETE FROM audit_auditentry WHERE id = %s", entries[2].pk)
    assert "missing" in verify().problem


def test_it_finds_swapped_entries() -> None:
    a, b, _c = _three()
    # Swap the contents of two rows, keeping each row's place (an UPDATE, not a save()).
    AuditEntry.objects.filter(pk=a.pk).update(action=b.action, report_ref=b.report_ref, data=b.data)
    AuditEntry.objects.filter(pk=b.pk).update(action=a.action, report_ref=a.report_ref, data=a.data)
    assert verify().problem.startswith("entry #1 ")


def test_it_finds_a_rewritten_hash() -> None:
    entries = _three()
    _sql("UPDATE audit_auditentry SET hash = %s WHERE id = %s", "f" * 64, entries[0].pk)
    assert verify().problem.startswith("entry #1 ")


def test_it_keeps_the_entry_order_consistent_across_appends() -> None:
    entries = _three()
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[1].prev_hash == entries[0].hash and entries[2].prev_hash == entries[1].hash
