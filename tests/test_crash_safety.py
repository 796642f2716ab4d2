"""Killed mid-flight (SIGKILL, no clean-up): every receipt handed out stands, none half-stored.

The web server is killed while many finders submit at once; then every report whose
receipt reached a finder is present and readable with that receipt code, no submission
is stored twice, and no report lacks its hosts, history or attachment files.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import smtplib
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from bench.submit import Browser, FormInputs, multipart, report_fields
from tests.conftest import wait_for_http
from tests.mailservers import free_port
from tests.test_commands import MELDPUNT, operator_env, run

RECEIPT = re.compile(r'id="reference">([^<]+)<.*?id="receipt-code"[^>]*>([0-9A-Z-]+)<', re.S)

CHECK = """
import sys
from django.core.files.storage import default_storage
from meldpunt.lib import receipt
from meldpunt.reports.models import Report
from meldpunt.reports.services import read_attachment
problems = []
for line in sys.stdin.read().split():
    ref, code = line.split(",")
    r = Report.objects.filter(receipt_digest=receipt.digest(receipt.normalise(code))).first()
    if r is None or r.reference != ref:
        problems.append(f"missing {ref}")
        continue
    if "CRASH-MARKER" not in r.content["description"]:
        problems.append(f"unreadable {ref}")
for r in Report.objects.all():
    if not r.events.filter(kind="received").exists() or not r.hosts.exists():
        problems.append(f"half {r.reference}")
    for a in r.attachments.all():
        if read_attachment(a) != b"CRASH-FILE":
            problems.append(f"file {r.reference}")
print("REPORTS", Report.objects.count())
print("PROBLEMS", problems)
"""


def _submit(port: int, n: int) -> tuple[str, str] | None:
    browser = Browser(port)
    try:
        status, page = browser.request("GET", "/report/")
        parser = FormInputs()
        parser.feed(page.decode())
        fields = [
            (k, f"CRASH-MARKER {n}" if k == "description" else v)
            for k, v in report_fields(parser.values)
        ]
        body, ctype = multipart(fields, [("attachments", "poc.txt", "text/plain", b"CRASH-FILE")])
        status, page = browser.request(
            "POST",
            "/report/",
            body,
            {"Content-Type": ctype, "Referer": f"http://127.0.0.1:{port}/report/"},
        )
    except OSError:
        return None  # the server died under this request: no receipt, nothing promised
    found = RECEIPT.search(page.decode()) if status == 200 else None
    return (found[1], found[2]) if found else None


@pytest.mark.own_instance
def test_every_receipt_survives_a_sigkill_of_the_web_server(tmp_path: Path) -> None:
    env = operator_env(
        tmp_path / "data", MELDPUNT_WORKERS="3", MELDPUNT_SUBMIT_CLIENT_LIMIT="10000"
    )
    assert run(["init"], env).returncode == 0
    port = free_port()
    env["MELDPUNT_BASE_URL"] = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*MELDPUNT, "serve", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes every worker
    )
    wait_for_http(f"http://127.0.0.1:{port}/")
    receipts: list[tuple[str, str]] = []
    posts = [0]
    stop = threading.Event()

    def finder(k: int) -> None:
        n = 0
        while not stop.is_set():
            posts[0] += 1
            got = _submit(port, k * 10_000 + n)
            n += 1
            if got:
                receipts.append(got)

    threads = [threading.Thread(target=finder, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(receipts) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(server.pid, signal.SIGKILL)  # mid-flight: several requests are in progress
    server.wait(timeout=30)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert len(receipts) >= 20

    check = subprocess.run(
        [*MELDPUNT, "shell", "-c", CHECK],
        env=env,
        input="\n".join(f"{ref},{code}" for ref, code in receipts),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    assert "PROBLEMS []" in check.stdout, check.stdout
    stored = int(check.stdout.split("REPORTS", 1)[1].split()[0])
    # Each POST makes at most one report; a few may have committed without their answer.
    assert len(receipts) <= stored <= posts[0]
    assert len({ref for ref, _c in receipts}) == len(receipts)


QUEUE_MAILS = """
from django.db import transaction
from meldpunt.reports import outbox
from meldpunt.lib.targets import parse_target
from meldpunt.policy.commitments import current_version
from meldpunt.reports.services import NewReport, submit_report
receipt = submit_report(NewReport(
    channel="web", language="en", policy_version=current_version(), category="xss",
    out_of_scope=False, targets=[parse_target("https://app.example.org/")],
    content={"description": "x"}, finder={"email": "finder@example.net"}))
for _ in range(MAILCOUNT):
    with transaction.atomic():
        print(outbox.queue_news(receipt.report).message_id)
"""


class SlowSink:
    """An SMTP server that takes its time over each mail and remembers every Message-ID."""

    def __init__(self) -> None:
        self.message_ids: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.15)
        raw = envelope.original_content or b""
        found = re.search(rb"^Message-ID:\s*(\S+)", raw, re.M | re.I)
        self.message_ids.append(found[1].decode() if found else "?")
        return "250 OK"


STATES = """
from meldpunt.reports.models import OutboundMail
for m in OutboundMail.objects.all():
    print(m.message_id, m.status, m.attempts, m.handover_at is not None)
"""


def _states(env: dict[str, str]) -> dict[str, tuple[str, int, bool]]:
    found = subprocess.run(
        [*MELDPUNT, "shell", "--no-imports", "-c", STATES],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert found.returncode == 0, found.stderr
    rows = [line.split() for line in found.stdout.splitlines() if line.startswith("<")]
    return {r[0]: (r[1], int(r[2]), r[3] == "True") for r in rows}


def _mail_env(tmp_path: Path, port: int) -> dict[str, str]:
    return operator_env(
        tmp_path / "data",
        MELDPUNT_SMTP_HOST="127.0.0.1",
        MELDPUNT_SMTP_PORT=str(port),
        MELDPUNT_SMTP_TIMEOUT="2",
        MELDPUNT_OUTBOX_LEASE_SECONDS="5",
        MELDPUNT_SCHEDULE_SECONDS="5",
    )


def _queue(env: dict[str, str], count: int) -> list[str]:
    assert run(["init"], env).returncode == 0
    queued = subprocess.run(
        [*MELDPUNT, "shell", "--no-imports", "-c", QUEUE_MAILS.replace("MAILCOUNT", str(count))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert queued.returncode == 0, queued.stderr
    ids = queued.stdout.split()
    assert len(ids) == count
    return ids


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*MELDPUNT, "worker"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.own_instance
def test_no_mail_is_lost_or_sent_twice_when_the_worker_is_killed_while_sending(
    tmp_path: Path,
) -> None:
    sink = SlowSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    env = _mail_env(tmp_path, controller.port)
    try:
        ids = _queue(env, 20)
        worker = _worker(env)
        deadline = time.monotonic() + 60
        while len(sink.message_ids) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(worker.pid, signal.SIGKILL)  # in the middle of a send
        worker.wait(timeout=30)
        assert 5 <= len(sink.message_ids) < 20
        time.sleep(5.5)  # the dead worker's lease runs out
        again = run(["worker", "--once"], env)
        assert again.returncode == 0, again.stderr
    finally:
        controller.stop()
    states = _states(env)
    assert len(sink.message_ids) == len(set(sink.message_ids))  # never twice
    for message_id in ids:
        status = states[message_id][0]
        # Sent and received, or in doubt for staff to decide: none silently lost.
        assert status in ("sent", "unknown"), (message_id, status)
        if status == "sent":
            assert message_id in sink.message_ids
    # A worker sends from two threads (its task runner and its periodic pass), so at most
    # two mails can have been in the server's hands when it died.
    assert sum(status == "unknown" for status, _a, _h in states.values()) <= 2


class HoldingSink:
    """An SMTP server that takes each mail, then holds its "250" until the test lets go."""

    def __init__(self) -> None:
        self.message_ids: list[str] = []
        self.arrived = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or b""
        found = re.search(rb"^Message-ID:\s*(\S+)", raw, re.M | re.I)
        self.message_ids.append(found[1].decode() if found else "?")
        self.arrived.set()
        while not self.release.is_set():
            await asyncio.sleep(0.05)
        return "250 OK"


@pytest.mark.own_instance
def test_a_mail_in_the_servers_hands_when_its_worker_dies_is_never_sent_again(
    tmp_path: Path,
) -> None:
    sink = HoldingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    env = _mail_env(tmp_path, controller.port)
    try:
        [message_id] = _queue(env, 1)
        first = _worker(env)
        assert sink.arrived.wait(timeout=60)
        # The server has the whole mail; worker 1 waits for its answer and dies first.
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        sink.release.set()
        assert _states(env)[message_id] == ("queued", 1, True)
        time.sleep(5.5)  # worker 1's lease runs out
        second = run(["worker", "--once"], env)
        assert second.returncode == 0, second.stderr
        again = run(["worker", "--once"], env)
        assert again.returncode == 0, again.stderr
    finally:
        controller.stop()
    assert sink.message_ids == [message_id]  # exactly once
    assert _states(env)[message_id] == ("unknown", 1, True)


@pytest.mark.own_instance
def test_the_smtp_listener_killed_mid_delivery_loses_nothing_it_accepted(tmp_path: Path) -> None:
    env = operator_env(tmp_path / "data")
    assert run(["init"], env).returncode == 0
    port = free_port()

    def listener() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [*MELDPUNT, "smtpd", "--bind", f"127.0.0.1:{port}"],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                smtplib.SMTP("127.0.0.1", port, timeout=2).quit()
                return proc
            except OSError:
                time.sleep(0.05)
        raise AssertionError("smtpd did not start")

    def deliver(n: int) -> bool:
        mail = (
            f"From: finder{n}@example.net\\r\\nTo: security@example.org\\r\\n"
            f"Subject: finding {n}\\r\\nMessage-ID: <crash-{n}@example.net>\\r\\n\\r\\n"
            f"CRASH-MARKER {n}\\r\\n"
        )
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.sendmail(f"finder{n}@example.net", ["security@example.org"], mail)
            return True
        except (OSError, smtplib.SMTPException):
            return False  # no 250: the sending server keeps it and tries again later

    accepted: set[int] = set()
    server = listener()
    pending = list(range(40))
    results: dict[int, bool] = {}

    def sender(numbers: list[int]) -> None:
        for n in numbers:
            results[n] = deliver(n)

    threads = [threading.Thread(target=sender, args=(pending[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    while sum(results.values()) < 8:
        time.sleep(0.01)
    os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=30)
    for t in threads:
        t.join(timeout=60)
    accepted = {n for n, ok in results.items() if ok}
    assert 8 <= len(accepted) < 40
    # The sending servers retry what got no 250, and may retry some that did.
    server = listener()
    try:
        for n in range(40):
            if n not in accepted or n % 5 == 0:
                assert deliver(n)
    finally:
        server.terminate()
        server.wait(timeout=30)
    count = subprocess.run(
        [
            *MELDPUNT,
            "shell",
            "-c",
            "from meldpunt.reports.models import Report; print(Report.objects.count())",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert count.stdout.split()[-1] == "40"  # every mail once: none lost, none twice
