"""Encrypted, consistent backups of the database and the attachments, and restoring them.

A backup is one file: a header line, then a tar stream encrypted in chunks with
AES-256-GCM under a fresh data key that is wrapped by the key file's primary master key
(like every sealed value). Each chunk's nonce and associated data carry its number and
whether it is the last, so a truncated, re-ordered or altered backup fails to restore
instead of restoring part of the data. The key file itself is not in the backup: keep it
apart, as the README says; without it a backup is unreadable, which is the point.

The database is copied first (SQLite's online backup API, or `pg_dump`, both a consistent
snapshot while the service runs), then every attachment file the database names.
Attachments stored in the database (MELDPUNT_ATTACHMENT_STORE=database) are rows like any
other, so the snapshot carries them; attachment files are written before the report that
names them is committed, so every file the snapshot needs already exists when it is copied.
(subprocess runs only pg_dump and pg_restore, with arguments from DATABASE_URL.)
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import struct
import subprocess  # nosec B404
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from meldpunt.lib import changes, crypto
from meldpunt.lib.storage import save_durably

MAGIC = b"MELDPUNT-BACKUP-1\n"
CHUNK = 1024 * 1024
HEADER_AAD = "meldpunt-backup:data-key"
SQLITE_NAME, PG_NAME, ATTACHMENTS = "database.sqlite3", "database.pgdump", "attachments/"


class BackupError(Exception):
    """The backup cannot be written or restored; the message says why in one line."""


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">I?", index, last)  # 7 + 5 = 12 bytes


class EncryptingWriter:
    """A write-only file object that seals what it is given in fixed-size chunks."""

    def __init__(self, out: IO[bytes], data_key: bytes) -> None:
        self.out, self.aead, self.prefix = out, AESGCM(data_key), os.urandom(7)
        self.buffer, self.index = bytearray(), 0
        out.write(self.prefix)

    def write(self, data: bytes) -> int:
        self.buffer += data
        while len(self.buffer) > CHUNK:
            self._emit(bytes(self.buffer[:CHUNK]), last=False)
            del self.buffer[:CHUNK]
        return len(data)

    def close(self) -> None:
        self._emit(bytes(self.buffer), last=True)
        self.buffer.clear()

    def _emit(self, chunk: bytes, last: bool) -> None:
        aad = struct.pack(">I?", self.index, last)
        sealed = self.aead.encrypt(_nonce(self.prefix, self.index, last), chunk, aad)
        self.out.write(struct.pack(">I?", len(sealed), last) + sealed)
        self.index += 1


class DecryptingReader:
    """A read-only file object over an encrypted stream; refuses truncated or altered input."""

    def __init__(self, src: IO[bytes], data_key: bytes) -> None:
        self.src, self.aead = src, AESGCM(data_key)
        self.prefix = self._exactly(7)
        self.buffer, self.index, self.done = bytearray(), 0, False

    def _exactly(self, n: int) -> bytes:
        data = self.src.read(n)
        if len(data) != n:
            raise BackupError("the backup is truncated")
        return data

    def read(self, n: int = -1) -> bytes:
        while not self.done and (n < 0 or len(self.buffer) < n):
            length, last = struct.unpack(">I?", self._exactly(5))
            if length > CHUNK + 16:
                raise BackupError("the backup is damaged (impossible chunk size)")
            aad = struct.pack(">I?", self.index, last)
            try:
                chunk = self.aead.decrypt(
                    _nonce(self.prefix, self.index, last), self._exactly(length), aad
                )
            except InvalidTag as exc:
                raise BackupError("the backup was altered or damaged") from exc
            self.buffer += chunk
            self.index += 1
            self.done = last
        if n < 0:
            n = len(self.buffer)
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data


def _is_sqlite() -> bool:
    return connection.vendor == "sqlite"


def _pg_args() -> list[str]:
    db = settings.DATABASES["default"]
    args = ["--dbname", str(db["NAME"])]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if db.get(key):
            args += [option, str(db[key])]
    return args


def _pg_env() -> dict[str, str]:
    env = dict(os.environ)
    if settings.DATABASES["default"].get("PASSWORD"):
        env["PGPASSWORD"] = str(settings.DATABASES["default"]["PASSWORD"])
    return env


def _sqlite_copy(source_path: Path, target_path: Path) -> None:
    """SQLite's online backup: a consistent copy even while others write (WAL)."""
    source = sqlite3.connect(str(source_path))
    try:
        target = sqlite3.connect(str(target_path))
        with target:
            source.backup(target)
        target.close()
    finally:
        source.close()


def _snapshot_database(work: Path) -> Path:
    if _is_sqlite():
        target = work / SQLITE_NAME
        _sqlite_copy(Path(str(settings.DATABASES["default"]["NAME"])), target)
        return target
    target = work / PG_NAME
    # The arguments come from DATABASE_URL (the operator's own configuration), never from
    # a request; pg_dump is looked up on PATH like psql would be.
    result = subprocess.run(  # noqa: S603  # nosec B603 B607
        ["pg_dump", "--format=custom", "--no-owner", "--file", str(target), *_pg_args()],  # noqa: S607
        env=_pg_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed: {result.stderr.strip().splitlines()[-1:]}")
    return target


def _attachment_names() -> Iterator[str]:
    from meldpunt.reports.models import Attachment

    files = Attachment.objects.filter(in_database=False).order_by("pk")
    yield from files.values_list("storage_name", flat=True).iterator()


def _attachments_in_database() -> int:
    from meldpunt.reports.models import Attachment

    return Attachment.objects.filter(in_database=True).count()


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    attachments: int
    size: int


def write_backup(path: Path) -> BackupSummary:
    """Write a backup to path (never overwriting a file); safe while the service runs."""
    keyring = crypto.load_keyring()
    data_key = AESGCM.generate_key(bit_length=256)
    header = {
        "created": timezone.now().isoformat(),
        "database": "sqlite" if _is_sqlite() else "postgresql",
        "data_key": keyring.seal(data_key, HEADER_AAD).hex(),
    }
    count = 0
    partial = path.with_name(path.name + ".partial")
    in_database = _attachments_in_database()  # before the snapshot: none are counted twice
    try:
        with tempfile.TemporaryDirectory(prefix="meldpunt-backup-") as tmp:
            snapshot = _snapshot_database(Path(tmp))
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(MAGIC + json.dumps(header).encode() + b"\n")
                writer = EncryptingWriter(out, data_key)
                with tarfile.open(fileobj=writer, mode="w|") as tar:  # type: ignore[call-overload]
                    tar.add(snapshot, arcname=snapshot.name)
                    for name in _attachment_names():
                        count += _add_attachment(tar, name)
                writer.close()
                out.flush()
                os.fsync(out.fileno())
        if path.exists():
            raise BackupError(f"{path} exists already; choose another name")
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupSummary(path, count + in_database, path.stat().st_size)


def _add_attachment(tar: tarfile.TarFile, name: str) -> int:
    try:
        with default_storage.open(name, "rb") as fh:
            blob = fh.read()
    except FileNotFoundError:
        return 0  # removed after the snapshot (retention); the restored row shows it missing
    info = tarfile.TarInfo(ATTACHMENTS + name)
    info.size, info.mode = len(blob), 0o600
    tar.addfile(info, _BytesReader(blob))
    return 1


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.pos + n
        chunk, self.pos = self.data[self.pos : end], min(end, len(self.data))
        return chunk


def _read_header(src: IO[bytes]) -> dict[str, Any]:
    if src.read(len(MAGIC)) != MAGIC:
        raise BackupError("this is not a Meldpunt backup")
    line = src.readline(64 * 1024)
    try:
        header: dict[str, Any] = json.loads(line)
    except ValueError as exc:
        raise BackupError("the backup header is damaged") from exc
    return header


def _database_is_empty() -> bool:
    tables = connection.introspection.table_names()
    if "reports_report" not in tables:
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM reports_report")
        row = cursor.fetchone()
    return bool(row and row[0] == 0)


@dataclass(frozen=True)
class RestoreSummary:
    attachments: int


def restore_backup(path: Path) -> RestoreSummary:
    """Restore into an empty instance: its database and attachment storage must hold no reports."""
    if not _database_is_empty():
        raise BackupError("this instance already holds reports; restore into an empty one")
    with open(path, "rb") as src:
        header = _read_header(src)
        if header.get("database") != ("sqlite" if _is_sqlite() else "postgresql"):
            raise BackupError(
                f"the backup is of a {header.get('database')} database; "
                f"this instance uses {connection.vendor}"
            )
        try:
            data_key = crypto.load_keyring().open(bytes.fromhex(header["data_key"]), HEADER_AAD)
        except (crypto.DecryptionError, KeyError, ValueError) as exc:
            raise BackupError(
                "the key file cannot open this backup (a different or rotated-out master key)"
            ) from exc
        reader = DecryptingReader(src, data_key)
        with tempfile.TemporaryDirectory(prefix="meldpunt-restore-") as tmp:
            count = _unpack(reader, Path(tmp))
    return RestoreSummary(count + _attachments_in_database())


def _unpack(reader: DecryptingReader, work: Path) -> int:
    """Decrypt the whole backup into work first: nothing is restored from a damaged one."""
    database: Path | None = None
    staged: list[tuple[str, Path]] = []
    with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
        for member in tar:
            data = tar.extractfile(member) if member.isfile() else None
            if data is None:
                continue
            if member.name in (SQLITE_NAME, PG_NAME):
                database = work / member.name
                target = database
            elif member.name.startswith(ATTACHMENTS):
                name = _safe_name(member.name[len(ATTACHMENTS) :])
                target = work / "files" / str(len(staged))
                staged.append((name, target))
            else:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as fh:
                shutil.copyfileobj(data, fh)
    if not reader.done:
        raise BackupError("the backup is truncated")
    if database is None:
        raise BackupError("the backup holds no database")
    for name, staged_file in staged:
        _restore_attachment(name, staged_file.read_bytes())
    _restore_database(database)
    return len(staged)


def _safe_name(name: str) -> str:
    if not name or name.startswith("/") or ".." in Path(name).parts:
        raise BackupError("the backup names an attachment outside the storage")
    return name


def _restore_attachment(name: str, blob: bytes) -> None:
    if default_storage.exists(name):
        default_storage.delete(name)
    saved = save_durably(default_storage, name, blob)
    if saved != name:
        raise BackupError(f"attachment storage renamed {name}; restore into an empty one")


def _restore_database(dump: Path) -> None:
    connection.close()
    if dump.name == SQLITE_NAME:
        _sqlite_copy(dump, Path(str(settings.DATABASES["default"]["NAME"])))
        return
    # Arguments from DATABASE_URL, as for pg_dump.
    result = subprocess.run(  # noqa: S603  # nosec B603 B607
        [  # noqa: S607
            "pg_restore",
            "--no-owner",
            "--clean",
            "--if-exists",
            "--exit-on-error",
            *_pg_args(),
            str(dump),
        ],
        env=_pg_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip().splitlines()[-1:]}")
    # The restored data version is an old one: a process that kept answers under it must not
    # take them for the restored data (meldpunt/lib/changes.py).
    changes.install()
    changes.bump()
