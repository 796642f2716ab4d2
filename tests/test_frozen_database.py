"""A database that stops answering (SIGSTOP) costs a bounded wait and a "try again", never a
hung server; pages without the database keep answering; all recovers without a restart.

Runs a throw-away PostgreSQL cluster of its own, so stopping it disturbs nobody else.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection
from django.test import override_settings

from meldpunt.audit import log as audit_log
from meldpunt.audit.models import AuditHead
from tests.mailservers import free_port

MELDPUNT = [sys.executable, "-m", "meldpunt"]
CONNECT_TIMEOUT = 2
STATEMENT_TIMEOUT = 3
# The client cuts a statement off 3 s after the server should have; then some slack.
BOUND = STATEMENT_TIMEOUT + 3 + 3
CONTACT = "security@example.org"


def _pg_bin() -> Path | None:
    versions = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    found = sorted(versions, key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


PG_BIN = _pg_bin()


@dataclass
class Cluster:
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def processes(self) -> list[int]:
        """The postmaster and its children (the backends, the background processes)."""
        postmaster = int((self.directory / "postmaster.pid").read_text().split()[0])
        children = [
            int(pid)
            for pid in os.listdir("/proc")
            if pid.isdigit() and _parent(int(pid)) == postmaster
        ]
        return [postmaster, *children]

    def signal(self, signum: int) -> None:
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):  # a backend that just ended
                os.kill(pid, signum)


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rpartition(")")[2].split()[1])


def _as_postgres(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root (CI runs as root).
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if PG_BIN is None:
        pytest.skip("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    # Not under tmp_path: the postgres user cannot enter root's pytest directory.
    directory = Path(tempfile.mkdtemp(prefix="meldpunt-frozen-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    data, port = directory / "data", free_port()
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )
        options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "start",
                    "-w",
                    "-D",
                    str(data),
                    "-l",
                    str(directory / "log"),
                    "-o",
                    options,
                ]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield Cluster(data, port)
    finally:
        if (data / "postmaster.pid").exists():
            Cluster(data, port).signal(signal.SIGCONT)
            subprocess.run(
                _as_postgres([str(PG_BIN / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate"]),
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(directory, ignore_errors=True)


def _env(data_dir: Path, database_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MELDPUNT_", "DJANGO_")) and k != "DATABASE_URL"
    }
    env.update(
        MELDPUNT_DATA_DIR=str(data_dir),
        DATABASE_URL=database_url,
        MELDPUNT_SECURITY_CONTACT=CONTACT,
        MELDPUNT_DB_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
        MELDPUNT_DB_STATEMENT_TIMEOUT=str(STATEMENT_TIMEOUT),
        MELDPUNT_WORKERS="2",
        MELDPUNT_THREADS="4",
    )
    return env


@dataclass
class Answer:
    status: int
    headers: Any
    body: str
    seconds: float


def get(url: str, timeout: float = BOUND + 5) -> Answer:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  # nosec B310
            status, headers, body = response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, exc.headers, exc.read().decode()
    return Answer(status, headers, body, time.monotonic() - started)


def send_mail(port: int) -> tuple[int, float]:
    """The SMTP answer to DATA, and how long it took."""
    msg = EmailMessage()
    msg["From"] = "finder@example.net"
    msg["To"] = CONTACT
    msg["Subject"] = "Open redirect"
    msg["Message-ID"] = make_msgid()
    msg.set_content("Open redirect on /login?next=.")
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", port, timeout=BOUND + 5) as client:
        try:
            client.send_message(msg)
            code = 250
        except smtplib.SMTPDataError as exc:
            code = exc.smtp_code
    return code, time.monotonic() - started


def _until(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = check()
            if result:
                return result
        except OSError:
            pass
        if time.monotonic() > deadline:
            return check()
        time.sleep(0.2)


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([*MELDPUNT, *args], env=env, stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.own_instance
def test_it_answers_within_a_bound_while_the_database_is_frozen(
    cluster: Cluster, tmp_path: Path
) -> None:
    env = _env(tmp_path / "data", cluster.url)
    init = subprocess.run([*MELDPUNT, "init"], env=env, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    web_port, smtp_port = free_port(), free_port()
    servers = [
        _start(["serve", "--bind", f"127.0.0.1:{web_port}"], env, tmp_path / "serve.log"),
        _start(["smtpd", "--bind", f"127.0.0.1:{smtp_port}"], env, tmp_path / "smtpd.log"),
    ]
    base = f"http://127.0.0.1:{web_port}"
    try:
        form = _until(lambda: get(f"{base}/report/", timeout=5), 30)
        assert form.status == 200
        css = form.body.split('href="/static/')[1].split('"')[0]
        # Several at once, so that most threads hold an open connection when it freezes.
        warm = [
            threading.Thread(target=lambda: get(f"{base}/advisories/", timeout=10))
            for _ in range(8)
        ]
        for thread in warm:
            thread.start()
        for thread in warm:
            thread.join(15)
        assert get(f"{base}/advisories/").status == 200
        assert _until(lambda: send_mail(smtp_port)[0] == 250, 15)

        cluster.signal(signal.SIGSTOP)
        # Requests that need the database, in flight while the others are asked.
        stuck: list[Answer] = []
        waiting = [
            threading.Thread(target=lambda: stuck.append(get(f"{base}/advisories/")))
            for _ in range(3)
        ]
        for thread in waiting:
            thread.start()
        time.sleep(0.5)
        for path in (f"/static/{css}", "/report/"):
            answer = get(f"{base}{path}", timeout=BOUND)
            assert answer.status == 200, path
            assert answer.seconds < 2, (path, answer.seconds)
        for thread in waiting:
            thread.join(BOUND + 5)
        assert [a.status for a in stuck] == [503, 503, 503]
        assert all(a.headers["Retry-After"] == "60" for a in stuck)
        assert all(a.seconds < BOUND for a in stuck), [a.seconds for a in stuck]
        code, seconds = send_mail(smtp_port)
        assert code == 451 and seconds < BOUND, (code, seconds)

        cluster.signal(signal.SIGCONT)
        # The same processes, no restart: they simply use the database again.
        assert _until(lambda: get(f"{base}/advisories/").status == 200, BOUND)
        assert get(f"{base}/report/").status == 200
        assert _until(lambda: send_mail(smtp_port)[0] == 250, BOUND)
        assert all(server.poll() is None for server in servers)
    finally:
        cluster.signal(signal.SIGCONT)
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="the audit chain's lock timeout is PostgreSQL's",
)
@override_settings(MELDPUNT_DB_LOCK_TIMEOUT=1)
def test_it_gives_up_waiting_for_the_audit_chain_quickly(transactional_db: Any) -> None:
    AuditHead.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": audit_log.GENESIS})
    params = connection.get_connection_params()
    allowed = {"host", "port", "user", "password", "dbname"}
    with psycopg.connect(**{k: v for k, v in params.items() if k in allowed}) as holder:
        holder.execute("SELECT 1 FROM audit_auditentry LIMIT 0")  # the tables exist here
        holder.execute("SELECT * FROM audit_audithead WHERE id = 1 FOR UPDATE")
        started = time.monotonic()
        with pytest.raises(OperationalError):
            audit_log.append("test.locked", "alice")
        assert time.monotonic() - started < 3
    audit_log.append("test.free", "alice")  # once the holder is gone, it goes on
    assert audit_log.verify().ok
