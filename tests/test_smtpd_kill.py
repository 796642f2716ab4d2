"""`meldpunt smtpd` killed (SIGKILL) in the middle of a burst: every mail that got 250 is
a complete report after the restart, and nothing is half-stored.

Several clients send at once, as the organisation's MX does when a flood arrives; the
listener's process group is killed while mails are in flight, then started again. SQLite,
or on a PostgreSQL test run (DATABASE_URL) a fresh PostgreSQL database of its own.
"""

from __future__ import annotations

import os
import secrets
import signal
import smtplib
import subprocess
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import psycopg
import pytest

from tests.mailservers import free_port
from tests.test_commands import MELDPUNT, operator_env, run

CONTACT = "security@example.org"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
BURST = 60
CLIENTS = 4

# Run in the instance after the restart: token of each acknowledged mail on stdin.
CHECK = """
import sys
from pathlib import Path
from django.core.files.storage import default_storage
from meldpunt.intake.models import InboundMail
from meldpunt.reports import orphans
from meldpunt.reports.models import Attachment, Report
from meldpunt.reports.services import read_attachment
acked = set(sys.stdin.read().split())
problems = []
found = {}
for r in Report.objects.all():
    token = r.content["description"].split()[-1]
    if token in found:
        problems.append(f"twice {token}")
    found[token] = r
    if not r.events.filter(kind="received").exists():
        problems.append(f"no event {token}")
    if not InboundMail.objects.filter(report=r).exists():
        problems.append(f"no intake row {token}")
    files = list(r.attachments.all())
    if len(files) != 1 or read_attachment(files[0]) != f"PROOF {token}".encode():
        problems.append(f"attachment {token}")
for token in acked - set(found):
    problems.append(f"lost {token}")
# Attachments sealed into the database (the default on PostgreSQL) have no file to check;
# read_attachment above opened them.
names = set(
    Attachment.objects.filter(in_database=False).values_list("storage_name", flat=True)
)
on_disk = {n for n, _m in orphans._files(Path(default_storage.path("")))}
problems += [f"row without file {n}" for n in names - on_disk]
# A file written for a mail whose transaction died with the process: no row names it, and
# the orphan sweep takes it away (after its grace period; here at once).
print("UNNAMED", len(on_disk - names))
orphans.remove_orphan_files(grace=orphans.timedelta(0))
left = {n for n, _m in orphans._files(Path(default_storage.path("")))}
problems += [f"unnamed file left {n}" for n in left - names]
print("REPORTS", Report.objects.count())
print("PROBLEMS", problems)
"""


def _mail(token: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Finder {token} <finder-{token}@example.net>"
    msg["To"] = CONTACT
    msg["Subject"] = "Burst"
    msg["Message-ID"] = f"<{token}@example.net>"
    msg.set_content(f"Stored XSS in the search box of app.example.org, mail {token}")
    msg.add_attachment(f"PROOF {token}".encode(), "text", "plain", filename="poc.txt")
    return msg.as_bytes(policy=SMTP)


def _smtpd(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [*MELDPUNT, "smtpd", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group: the kill takes all of it
    )
    assert server.stdout is not None
    assert server.stdout.readline().strip() == f"Meldpunt takes mail on 127.0.0.1:{port}"
    return server


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """SQLite in the data directory, or a fresh PostgreSQL database of its own (dropped after).

    Both here: own_instance tests run in bin/test's SQLite pass only.
    """
    if request.param == "sqlite":
        yield {}
        return
    name = f"meldpunt_smtpd_kill_{secrets.token_hex(4)}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"DATABASE_URL": f"{PG_SERVER}/{name}"}
    finally:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.own_instance
def test_every_acknowledged_mail_survives_a_sigkill_of_smtpd(
    tmp_path: Path, database: dict[str, str]
) -> None:
    env = operator_env(tmp_path / "data", MELDPUNT_SECURITY_CONTACT=CONTACT, **database)
    assert run(["init"], env).returncode == 0
    port = free_port()
    server = _smtpd(env, port)
    acked: list[str] = []
    sent = [0]
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                if sent[0] >= BURST:
                    return
                sent[0] += 1
                token = f"m{sent[0]:03d}"
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
                    smtp.sendmail(f"finder-{token}@example.net", [CONTACT], _mail(token))
            except (OSError, smtplib.SMTPException):
                continue  # no 250: nothing was promised for this one
            with lock:
                acked.append(token)

    try:
        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(acked) < BURST // 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(server.pid, signal.SIGKILL)  # mid-burst: several mails are in flight
        server.wait(timeout=10)
        for t in threads:
            t.join(timeout=30)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert BURST // 3 <= len(acked) < BURST, len(acked)

    # Started again on the same data: it takes mail, and a sender's retry of a mail that
    # got no answer becomes one report.
    server = _smtpd(env, port)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
            smtp.sendmail("finder-after@example.net", [CONTACT], _mail("after"))
        acked.append("after")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    check = subprocess.run(
        [*MELDPUNT, "shell", "--no-imports", "-c", CHECK],
        env=env,
        input="\n".join(acked),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    assert "PROBLEMS []" in check.stdout, check.stdout
    stored = int(check.stdout.split("REPORTS", 1)[1].split()[0])
    # Acknowledged ones all stored; a few may have committed without their 250 reaching us.
    assert len(acked) <= stored <= sent[0] + 1
