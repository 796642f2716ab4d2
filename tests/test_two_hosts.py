"""Two hosts, one instance: they share only PostgreSQL, the secret key and the key file.

Two `meldpunt serve` processes on two loopback ports, each with its own data directory, and
a `meldpunt worker` beside each, all on one PostgreSQL database (made and dropped here).
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import psycopg
import pyotp
import pytest
import requests
from aiosmtpd.controller import Controller

from tests.conftest import RECEIPT_RE, valid_report
from tests.mailservers import free_port
from tests.test_commands import MELDPUNT, operator_env, run
from tests.test_outbox import Handler

# One worker runs the whole module: its two hosts start once (~35 s), not once per worker.
pytestmark = [pytest.mark.own_instance, pytest.mark.xdist_group("two_hosts")]

PG_SERVER = "postgres://postgres@127.0.0.1:5432"
PASSWORD = "a long enough passphrase 1"
PROOF = b"%PDF-1.4 proof of concept\n" + bytes(range(256)) * 4000  # ~1 MB: several pieces


class _Hidden(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("type") == "hidden" and a.get("name"):
            self.fields[str(a["name"])] = a.get("value") or ""


def hidden(html: str) -> dict[str, str]:
    parser = _Hidden()
    parser.feed(html)
    return parser.fields


@dataclass
class Host:
    base: str
    env: dict[str, str]

    def get(self, session: requests.Session, path: str) -> requests.Response:
        return session.get(self.base + path, timeout=20, allow_redirects=False)

    def post(
        self, session: requests.Session, path: str, form_path: str, data: dict[str, Any], **kw: Any
    ) -> requests.Response:
        """Fetch the form (CSRF token and other hidden fields), then post it like a browser."""
        fields = hidden(self.get(session, form_path).text)
        return session.post(
            self.base + path, data={**fields, **data}, timeout=20, allow_redirects=False, **kw
        )


def _wait(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90  # generous for a loaded machine; seconds when idle
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url} exited: {process.communicate()[0][-2000:]}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@pytest.fixture(scope="module")
def sink() -> Iterator[Handler]:
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory, sink: Handler) -> Iterator[tuple[Host, Host]]:
    name = f"meldpunt_twohosts_{secrets.token_hex(4)}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    root = tmp_path_factory.mktemp("two-hosts")
    shared = {
        "DATABASE_URL": f"{PG_SERVER}/{name}",
        "MELDPUNT_SECRET_KEY": secrets.token_urlsafe(50),
        "MELDPUNT_WORKERS": "1",
        "MELDPUNT_THREADS": "2",
        "MELDPUNT_SMTP_HOST": "127.0.0.1",
        "MELDPUNT_SMTP_PORT": str(sink.port),  # type: ignore[attr-defined]
        "MELDPUNT_SCHEDULE_SECONDS": "5",  # the least allowed
        "MELDPUNT_REMINDER_HOURS": "100",  # every new report is due for its reminder at once
        "MELDPUNT_RECEIPT_CLIENT_LIMIT": "3",
        "MELDPUNT_STAFF_PASSWORD": PASSWORD,
    }
    ports = free_port(), free_port()
    a, b = (
        Host(
            f"http://127.0.0.1:{port}",
            operator_env(root / host, MELDPUNT_BIND=f"127.0.0.1:{port}", **shared),
        )
        for host, port in zip("ab", ports, strict=True)
    )
    processes: list[subprocess.Popen[str]] = []
    try:
        done = run(["init"], a.env)
        assert done.returncode == 0, done.stderr
        # Host B gets a copy of the key file, nothing else of A's data directory.
        keys = Path(a.env["MELDPUNT_DATA_DIR"]) / "keys"
        shutil.copytree(keys, Path(b.env["MELDPUNT_DATA_DIR"]) / "keys")
        for host in (a, b):
            for command in ("serve", "worker"):
                processes.append(
                    subprocess.Popen(
                        [*MELDPUNT, command],
                        env=host.env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                )
        _wait(a.base + "/", processes[0])
        _wait(b.base + "/", processes[2])
        yield a, b
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def alice(hosts: tuple[Host, Host]) -> pyotp.TOTP:
    a, _b = hosts
    made = run(["createstaff", "alice@example.org", "--role", "triager"], a.env)
    assert made.returncode == 0, made.stderr
    secret = re.search(r"otpauth://\S*[?&]secret=([A-Z2-7]+)", made.stdout)
    assert secret
    return pyotp.TOTP(secret.group(1))


def submit(host: Host, session: requests.Session, **fields: Any) -> str:
    data = valid_report(**fields)
    files = {"attachments": ("poc.pdf", PROOF, "application/pdf")}
    answer = host.post(session, "/report/", "/report/", data, files=files)
    assert answer.status_code == 200, answer.text[:2000]
    code = RECEIPT_RE.search(answer.text)
    assert code
    return code.group(1)


def sign_in(host: Host, totp: pyotp.TOTP) -> requests.Session:
    session = requests.Session()
    login = {"username": "alice@example.org", "password": PASSWORD}
    assert host.post(session, "/triage/login/", "/triage/login/", login).status_code == 303
    verify = {"code": totp.now()}
    answer = host.post(session, "/triage/login/verify/", "/triage/login/verify/", verify)
    assert answer.status_code == 303, answer.text[:2000]
    return session


@pytest.fixture(scope="module")
def desk(hosts: tuple[Host, Host], alice: pyotp.TOTP) -> Iterator[requests.Session]:
    """Alice signed in on host B (once: a TOTP code is refused a second time)."""
    session = sign_in(hosts[1], alice)
    yield session
    session.close()  # no kept-alive connection for gunicorn to wait on when it stops


def test_a_report_sent_to_one_host_opens_with_its_attachment_on_the_other(
    hosts: tuple[Host, Host], desk: requests.Session
) -> None:
    a, b = hosts
    submit(a, requests.Session(), email="finder@example.net")
    inbox = b.get(desk, "/triage/").text
    uid = re.search(r"/triage/reports/([0-9a-f-]{36})/", inbox)
    assert uid, inbox[:2000]
    page = b.get(desk, f"/triage/reports/{uid.group(1)}/").text
    link = re.search(rf"/triage/reports/{uid.group(1)}/attachments/[0-9a-f-]{{36}}/", page)
    assert link
    download = b.get(desk, link.group(0))
    assert download.status_code == 200
    assert download.content == PROOF
    # Nothing of it is in either data directory: the attachment is in the database.
    for host in hosts:
        folder = Path(host.env["MELDPUNT_DATA_DIR"]) / "attachments"
        assert not folder.exists() or not any(p.is_file() for p in folder.rglob("*"))


def test_the_receipt_code_and_its_rate_limit_hold_on_both_hosts(
    hosts: tuple[Host, Host],
) -> None:
    a, b = hosts
    code = submit(a, requests.Session())
    finder = requests.Session()
    assert b.post(finder, "/status/", "/status/", {"code": code}).status_code == 303
    assert b.get(finder, "/status/").status_code == 200
    # Three wrong codes (the limit), two on A and one on B: the next try on B is refused.
    guesser = requests.Session()
    for host in (a, a, b):
        wrong = host.post(guesser, "/status/", "/status/", {"code": "AAAA-BBBB-CCCC-DDDD"})
        assert wrong.status_code == 400
    assert b.post(guesser, "/status/", "/status/", {"code": code}).status_code == 429
    assert a.post(guesser, "/status/", "/status/", {"code": code}).status_code == 429


def _count(host: Host, table: str) -> int:
    with psycopg.connect(host.env["DATABASE_URL"]) as conn:
        row = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
    return int(row[0]) if row else 0


def test_two_workers_send_each_reminder_and_each_mail_once(
    hosts: tuple[Host, Host], desk: requests.Session, sink: Handler
) -> None:
    a, b = hosts
    for _ in range(3):
        submit(a, requests.Session(), email="finder@example.net")
    inbox = b.get(desk, "/triage/").text
    uids = sorted(set(re.findall(r"/triage/reports/([0-9a-f-]{36})/", inbox)))
    assert len(uids) >= 3
    for uid in uids:
        path = f"/triage/reports/{uid}/message/"
        sent = b.post(desk, path, f"/triage/reports/{uid}/", {"text": "Thanks, we look at it."})
        assert sent.status_code == 303, sent.text[:2000]
    # Every report is due one reminder, every message to a finder with an address one mail.
    outbound = _count(a, "reports_outboundmail")
    assert outbound >= 3
    expected = len(uids) + outbound
    deadline = time.monotonic() + 60
    while len(sink.mails) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(5.5)  # another round of both workers: nothing may come twice
    subjects = [str(m.parsed["Subject"]) for m in sink.mails]
    assert len(sink.mails) == expected, subjects
    assert _count(a, "reports_reminder") == len(uids)
    assert max(Counter(str(m.parsed["Message-ID"]) for m in sink.mails).values()) == 1
    reminders = [s for s in subjects if "first response due" in s]
    assert len(reminders) == len(set(reminders)) == len(uids)
