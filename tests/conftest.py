"""The shared cast and helpers. rita is a finder holding a receipt code."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from meldpunt.policy.commitments import current_version, forget_versions
from meldpunt.reports.models import Report


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-only",
        action="store_true",
        help="only the tests that use the database (bin/test's second pass, on PostgreSQL: "
        "a test without database access gives the same answer on both)",
    )


def _uses_database(item: pytest.Item) -> bool:
    # pytest-django refuses database access to a test that asks for none of these.
    names = set(getattr(item, "fixturenames", ()))
    return (
        bool(names & {"db", "transactional_db"}) or item.get_closest_marker("django_db") is not None
    )


def _light(item: pytest.Item) -> bool:
    # Heavy: an instance of its own, or a group one worker runs as a whole (xdist_group).
    return not (item.get_closest_marker("own_instance") or item.get_closest_marker("xdist_group"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests that start an instance of their own (processes, servers: most of the suite's
    time) and the groups one worker runs whole first, in their usual order, then the rest:
    with two workers the many short tests fill in at the end, instead of one worker
    finishing a long one while the other idles. Deterministic, as pytest-xdist needs every
    worker to collect the same order. --database-only: see pytest_addoption."""
    items.sort(key=_light)
    if config.getoption("database_only"):
        kept: list[pytest.Item] = []
        skipped: list[pytest.Item] = []
        for item in items:
            (kept if _uses_database(item) else skipped).append(item)
        if skipped:
            config.hook.pytest_deselected(items=skipped)
            items[:] = kept


RECEIPT_RE = re.compile(r'id="receipt-code"[^>]*>([0-9A-Z-]+)<')
TOKEN_RE = re.compile(r'name="submission_token" value="([^"]+)"')


def valid_report(**overrides: Any) -> dict[str, Any]:
    data = {
        "affected_systems": "https://portal.example.org/login\n192.0.2.10",
        "category": "xss",
        "description": "Reflected XSS in the q parameter.",
        "steps": "Open /search?q=<script>",
        "impact": "Session theft.",
        "exploited": "no",
        "already_public": "no",
        "references": "",
        "disclosure_date": "",
        "csirt_notified": "no",
        "name": "",
        "email": "",
        "pgp_key": "",
        "credit": "none",
        "accept_policy": "on",
    }
    data.update(overrides)
    return data


@dataclass
class Submitted:
    report: Report
    code: str
    response: Any


def submit(client: Client, files: dict[str, Any] | None = None, **fields: Any) -> Submitted:
    """Fetch the form (for its tokens), post it, and return the report and receipt code."""
    page = client.get("/report/").content.decode()
    token = TOKEN_RE.search(page)
    assert token, "the form has no submission token"
    data = valid_report(**fields)
    data["submission_token"] = token.group(1)
    data["policy_version"] = current_version().number
    if files:
        data.update(files)
    response = client.post("/report/", data)
    assert response.status_code == 200, response.content.decode()[:2000]
    match = RECEIPT_RE.search(response.content.decode())
    assert match, "no receipt code on the page"
    reference = re.search(r'id="reference">(MP-\d{4}-\d{4,})<', response.content.decode())
    assert reference
    report = Report.objects.by_reference(reference.group(1))
    assert report is not None
    return Submitted(report, match.group(1), response)


def form_post(client: Client, **fields: Any) -> Any:
    page = client.get("/report/").content.decode()
    token = TOKEN_RE.search(page)
    assert token
    data = valid_report(**fields)
    data.setdefault("submission_token", token.group(1))
    data.setdefault("policy_version", current_version().number)
    return client.post("/report/", data)


@pytest.fixture(autouse=True)
def _default_language_again() -> Any:
    """Django's LocaleMiddleware activates each request's language for the thread and never
    deactivates it: without this, a test would read text in the language of the last request
    the test before it made on the same worker (tests read English unless they ask)."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_policy_versions() -> Any:
    # Each test's database starts empty; so must the per-process cache of versions.
    forget_versions()
    yield
    forget_versions()


PASSWORD = "correct horse battery staple"


def make_staff(email: str, role: str) -> Any:
    from meldpunt.accounts.staff import create_staff

    return create_staff(email, role, PASSWORD).user


def sign_in(client: Client, user: Any) -> Client:
    """A session that has given password and second factor (the flow has its own tests)."""
    from meldpunt.accounts.gate import SECOND_FACTOR_AT

    client.force_login(user)
    session = client.session
    session[SECOND_FACTOR_AT] = time.time()
    session.save()
    return client


@pytest.fixture
def files_store(settings: Any) -> None:
    """Attachments as files in the data directory, for tests about those files."""
    settings.MELDPUNT_ATTACHMENT_STORE = "files"


@pytest.fixture
def alice(db: Any) -> Any:
    return make_staff("alice@example.org", "triager")


@pytest.fixture
def bob(db: Any) -> Any:
    return make_staff("bob@example.org", "viewer")


@pytest.fixture
def rita(db: Any) -> Submitted:
    return submit(Client())


@pytest.fixture
def rita_client(rita: Submitted) -> Client:
    client = Client()
    response = client.post("/status/", {"code": rita.code})
    assert response.status_code == 303
    return client


@pytest.fixture
def org_key(db: Any) -> Any:
    """The organisation's OpenPGP key, as `meldpunt init` creates it."""
    from meldpunt.policy import keys

    keys.create_key()
    return keys.primary()


@dataclass
class GnuPG:
    """The real gpg binary with a throw-away home directory (no agent outlives the test)."""

    home: str

    def run(self, *args: str, input: bytes | None = None, check: bool = True) -> Any:
        return subprocess.run(
            ["gpg", "--homedir", self.home, "--batch", "--yes", "--no-tty", *args],
            input=input,
            capture_output=True,
            check=check,
            timeout=60,
        )

    def make_key(self, user_id: str) -> str:
        """An Ed25519/Curve25519 key without passphrase; returns its fingerprint."""
        self.run("--passphrase", "", "--quick-gen-key", user_id, "future-default", "default", "1y")
        listing: str = self.run("--with-colons", "--list-secret-keys", user_id).stdout.decode()
        return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))

    def export(self, fingerprint: str) -> str:
        return str(self.run("--armor", "--export", fingerprint).stdout.decode())

    def import_key(self, armored: str | bytes) -> None:
        data = armored.encode() if isinstance(armored, str) else armored
        self.run("--import", input=data)


@pytest.fixture
def gpg() -> Any:
    # A short path: gpg-agent's socket must fit in 108 bytes.
    home = tempfile.mkdtemp(prefix="gpg-", dir="/tmp")
    os.chmod(home, 0o700)
    yield GnuPG(home)
    subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], check=False)
    shutil.rmtree(home, ignore_errors=True)


def wait_for_http(url: str, seconds: float = 60) -> None:
    """Until a server started by the test answers (slowly, on a loaded machine), or fail."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url).close()  # noqa: S310 (a test server on loopback)
            return
        except OSError:
            assert time.monotonic() < deadline, f"nothing answers at {url}"
            time.sleep(0.2)
