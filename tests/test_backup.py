"""`meldpunt backup` writes an encrypted, consistent backup; `meldpunt restore` brings it back."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import psycopg
import pytest

from meldpunt.lib import crypto
from meldpunt.lib.uploads import IncomingFile
from meldpunt.management.backup import BackupError, restore_backup, write_backup
from meldpunt.reports.services import add_message
from tests.conftest import submit
from tests.test_commands import operator_env, run

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")
PG_SERVER = "postgres://postgres@127.0.0.1:5432"

FILL = """
from meldpunt.lib.targets import parse_target
from meldpunt.policy.commitments import current_version
from meldpunt.lib.uploads import IncomingFile
from meldpunt.reports.services import NewReport, add_message, submit_report
for i in range(3):
    receipt = submit_report(NewReport(
        channel="web", language="nl", policy_version=current_version(), category="xss",
        out_of_scope=False, targets=[parse_target(f"https://app{i}.example.org/")],
        content={"description": f"REPORT-MARKER-{i}"}, finder={"email": f"f{i}@example.net"},
        files=[IncomingFile(f"poc{i}.txt", "text/plain", f"FILE-MARKER-{i}".encode())]))
    add_message(receipt.report, "finder", f"MESSAGE-MARKER-{i}",
                [IncomingFile(f"more{i}.txt", "text/plain", f"MORE-MARKER-{i}".encode())])
"""

CHECK = """
from meldpunt.reports.models import Attachment, Message, Report
from meldpunt.reports.services import read_attachment
for r in Report.objects.order_by("pk"):
    print(r.reference, r.content["description"], r.finder["email"])
for m in Message.objects.order_by("pk"):
    print(m.report.reference, m.body["text"])
for a in Attachment.objects.order_by("pk"):
    print(a.report.reference, a.meta["name"], read_attachment(a).decode())
"""

# The data version (meldpunt/lib/changes.py, PostgreSQL): None if a table lacks its trigger.
VERSION = "from meldpunt.lib import changes; print(changes.version())"


def _database(name: str) -> str:
    """A fresh PostgreSQL database for one instance, dropped again by the fixture."""
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_SERVER}/{name}"


@pytest.fixture
def instances(tmp_path: Path) -> Any:
    """Two instances sharing one key file: the one backed up, and an empty one."""
    key_file = tmp_path / "keys.json"
    crypto.create_key_file(key_file)
    extra_a: dict[str, str] = {"MELDPUNT_KEY_FILE": str(key_file)}
    extra_b = dict(extra_a)
    names: list[str] = []
    if ON_POSTGRES:
        suffix = secrets.token_hex(4)
        names = [f"meldpunt_backup_a_{suffix}", f"meldpunt_backup_b_{suffix}"]
        extra_a["DATABASE_URL"] = _database(names[0])
        extra_b["DATABASE_URL"] = _database(names[1])
    yield (
        operator_env(tmp_path / "a", **extra_a),
        operator_env(tmp_path / "b", **extra_b),
    )
    if names:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _ok(args: list[str], env: dict[str, str]) -> str:
    result = run(args, env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _version(env: dict[str, str]) -> str:
    return _ok(["shell", "-c", VERSION], env).strip().splitlines()[-1]


def _attachment_files(env: dict[str, str]) -> list[Path]:
    folder = Path(env["MELDPUNT_DATA_DIR"]) / "attachments"
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.mark.parametrize("store", ["files", "database"])
def test_it_restores_every_report_message_and_attachment_into_an_empty_instance(
    instances: Any, tmp_path: Path, store: str
) -> None:
    a, b = instances
    a["MELDPUNT_ATTACHMENT_STORE"] = b["MELDPUNT_ATTACHMENT_STORE"] = store
    _ok(["migrate"], a)
    _ok(["shell", "-c", FILL], a)
    before = _ok(["shell", "-c", CHECK], a)
    assert before.count("MARKER") == 12
    assert len(_attachment_files(a)) == (6 if store == "files" else 0)
    backup = tmp_path / "meldpunt.backup"
    backed_up = _version(a) if ON_POSTGRES else ""
    assert "6 attachments" in _ok(["backup", str(backup)], a)
    assert b"MARKER" not in backup.read_bytes()
    assert "6 attachments" in _ok(["restore", str(backup)], b)
    assert _ok(["shell", "-c", CHECK], b) == before
    assert len(_attachment_files(b)) == len(_attachment_files(a))
    if ON_POSTGRES:
        # Restored, the data carry the version they had; processes that kept answers under
        # it must not take them for the restored data: restore moves it.
        assert _version(b) not in ("None", backed_up)
    refused = run(["restore", str(backup)], b)
    assert refused.returncode != 0
    assert "already holds reports" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_it_never_overwrites_a_file(instances: Any, tmp_path: Path) -> None:
    a, _b = instances
    _ok(["migrate"], a)
    existing = tmp_path / "exists.backup"
    existing.write_bytes(b"keep me")
    result = run(["backup", str(existing)], a)
    assert result.returncode != 0 and "exists already" in result.stderr
    assert existing.read_bytes() == b"keep me"


@pytest.fixture
def backup_file(db: Any, tmp_path: Path) -> Path:
    sent = submit_with_files()
    assert sent
    path = tmp_path / "b.backup"
    write_backup(path)
    return path


def submit_with_files() -> Any:
    from django.test import Client

    sent = submit(Client())
    add_message(sent.report, "finder", "proof", [IncomingFile("p.txt", "text/plain", b"x")])
    return sent


def test_it_refuses_an_altered_backup(backup_file: Path) -> None:
    data = bytearray(backup_file.read_bytes())
    data[-40] ^= 1
    backup_file.write_bytes(bytes(data))
    with pytest.raises(BackupError, match=r"altered|damaged"):
        restore_backup_into_nothing(backup_file)


def test_it_refuses_a_truncated_backup(backup_file: Path) -> None:
    backup_file.write_bytes(backup_file.read_bytes()[:-100])
    with pytest.raises(BackupError, match=r"truncated|altered|damaged"):
        restore_backup_into_nothing(backup_file)


def test_it_refuses_what_is_not_a_backup(tmp_path: Path, db: Any) -> None:
    other = tmp_path / "other"
    other.write_bytes(b"hello")
    with pytest.raises(BackupError, match="not a Meldpunt backup"):
        restore_backup_into_nothing(other)


def restore_backup_into_nothing(path: Path) -> None:
    """Restore checks run before anything is written; an empty report table lets them run."""
    from meldpunt.reports.models import Report

    Report.objects.all().delete()
    restore_backup(path)
