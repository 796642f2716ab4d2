"""Throughput and latency of a web submission, against a minimal baseline on the same server.

Run from the project root with the project's virtualenv:

    .venv/bin/python bench/submit.py [--requests N] [--concurrency C] [--db sqlite|postgres|both]

For each database this script makes a fresh data directory, runs `meldpunt init`,
starts `meldpunt serve` (gunicorn, a fixed number of workers) on a free loopback
port, warms every worker up and then, per round, repeats in --slices slices of
N/slices requests each (interleaving, so that noise from other tenants of a shared
machine hits all three alike):

1. baseline: C client threads POST to /bench/baseline/ (a CSRF-exempt view that
   inserts one row);
2. forms: C client threads GET /report/, each as a new browser (own cookie jar,
   keeping the csrftoken cookie; the hidden csrfmiddlewaretoken,
   submission_token and policy_version inputs are parsed from the HTML);
3. floors: the same forms, posted to /bench/floor-parse/ (CSRF check and multipart
   parsing, nothing else) and to /bench/floor-page/ (that plus rendering the
   receipt page). They store nothing: no implementation of the submission can be
   faster, so they show how much of the baseline the target leaves for the work
   itself;
4. submissions: C client threads POST those forms as multipart/form-data with
   every field and one small attachment. Only these POSTs (validation,
   encryption, storage, receipt page) count for the submission figures.

Fetching a slice's forms first and posting them afterwards mirrors reality (a
finder takes minutes between opening the form and sending it) and keeps the POST
throughput free of GET work; the GETs are reported on their own line. Throughput
is requests / wall time of the phase, summed over slices; latency is per request,
connect to last byte. Every response is checked (baseline: 200 "ok"; form: 200,
csrftoken cookie and the three hidden inputs; submission: 200 with
id="receipt-code" and a reference no other submission got). The server is always
stopped, also on errors: its whole process group is killed. The exit status is 1
if any request failed.

Standard library only; loopback only; bounded request counts.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MELDPUNT = Path(sys.executable).parent / "meldpunt"
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
TIMEOUT = 60.0  # seconds, per request
REFERENCE_RE = re.compile(r'id="reference">(MP-\d{4}-\d{4,})<')

DESCRIPTION = (
    "The search box on the login page reflects the q parameter into the page without "
    "escaping it. A value such as <script>alert(document.domain)</script> is executed in the "
    "context of app.example.org, which gives an attacker access to the session of anyone who "
    "follows a crafted link. The parameter is echoed inside a div, not inside an attribute, so "
    "no quote breaking is needed. Tested with Firefox 140 and Chromium 141 on 2026-11-20."
)
STEPS = (
    "1. Open https://app.example.org/login?q=%3Cscript%3Ealert(document.domain)%3C/script%3E "
    "in a browser that is not logged in.\n2. Observe the alert box showing app.example.org.\n"
    "3. Log in in a second tab and open the same link again: the script runs with the session "
    "cookie available, because the cookie is not HttpOnly.\n4. Nothing was stored on the server."
)
IMPACT = (
    "An attacker who gets a user to follow a link can act as that user: read their messages, "
    "change their e-mail address and take over the account. Administrators use the same login "
    "page, so an administrator's session is exposed in the same way, which would give access "
    "to every customer record. No user interaction beyond following the link is needed."
)
ATTACHMENT = (
    b"GET /login?q=<script>alert(document.domain)</script> HTTP/1.1\r\n"
    b"Host: app.example.org\r\n\r\n"
) * 3


# --- results ------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    requests: int = 0
    failures: int = 0
    seconds: float = 0.0  # wall time of the phase
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: list[str] = field(default_factory=list)  # a few examples

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def merge(self, other: Phase) -> None:
        self.requests += other.requests
        self.failures += other.failures
        self.seconds += other.seconds
        self.latencies += other.latencies
        self.errors += other.errors

    def pct(self, p: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.4999)))
        return ordered[rank - 1] * 1000


@dataclass
class Round:
    db: str
    number: int
    baseline: Phase
    forms: Phase
    floor_parse: Phase
    floor_page: Phase
    submissions: Phase
    load: str = ""  # /proc/loadavg (1, 5, 15 min) when the round started

    @property
    def ratio(self) -> float:
        return self.submissions.rps / self.baseline.rps if self.baseline.rps else 0.0

    @property
    def failures(self) -> int:
        return sum(p.failures for p in self.phases)

    @property
    def phases(self) -> tuple[Phase, ...]:
        return (self.baseline, self.forms, self.floor_parse, self.floor_page, self.submissions)

    def of(self, phase: Phase) -> float:
        """A phase's throughput as a share of the baseline's."""
        return phase.rps / self.baseline.rps if self.baseline.rps else 0.0


# --- HTTP helpers -------------------------------------------------------------------------


class Browser:
    """One visitor: a cookie jar and the loopback server. A new connection per request
    (gunicorn's sync workers close the connection after every response anyway)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            hdrs = {"Accept-Language": "en", **(headers or {})}
            if self.cookies:
                hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            for raw in resp.headers.get_all("Set-Cookie") or []:
                jar: SimpleCookie = SimpleCookie()
                jar.load(raw)
                for name, morsel in jar.items():
                    self.cookies[name] = morsel.value
            return resp.status, data
        finally:
            conn.close()


class FormInputs(HTMLParser):
    """The named inputs of the form that posts to /report/."""

    def __init__(self) -> None:
        super().__init__()
        self.in_form = False
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.in_form = a.get("action", "").rstrip("/").endswith("/report")
        elif tag == "input" and self.in_form and a.get("name"):
            self.values.setdefault(a["name"], a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False


def multipart(
    fields: list[tuple[str, str]], files: list[tuple[str, str, str, bytes]]
) -> tuple[bytes, str]:
    boundary = "----meldpuntbench" + secrets.token_hex(12)
    out: list[bytes] = []
    for name, value in fields:
        out.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for name, filename, ctype, data in files:
        out.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


@dataclass
class FilledForm:
    browser: Browser
    body: bytes
    content_type: str


def report_fields(hidden: dict[str, str]) -> list[tuple[str, str]]:
    return [
        ("csrfmiddlewaretoken", hidden["csrfmiddlewaretoken"]),
        ("policy_version", hidden["policy_version"]),
        ("submission_token", hidden["submission_token"]),
        ("affected_systems", "https://app.example.org/login"),
        ("category", "xss"),
        ("description", DESCRIPTION),
        ("steps", STEPS),
        ("impact", IMPACT),
        ("exploited", "no"),
        ("already_public", "no"),
        ("references", ""),
        ("disclosure_date", ""),
        ("csirt_notified", "no"),
        ("name", ""),
        ("email", ""),
        ("pgp_key", ""),
        ("credit", "none"),
        ("accept_policy", "on"),
    ]


# --- load generation ----------------------------------------------------------------------


def run_load(name: str, n: int, c: int, job: Callable[[int], tuple[bool, float, str]]) -> Phase:
    """Run job(0..n-1) on c threads; each call returns (ok, seconds, error)."""
    phase = Phase(name)
    lock = threading.Lock()
    indexes: Iterator[int] = iter(range(n))
    start = threading.Barrier(c + 1)

    def worker() -> None:
        start.wait()
        while True:
            with lock:
                i = next(indexes, None)
            if i is None:
                return
            try:
                ok, seconds, error = job(i)
            except Exception as exc:  # connection refused, timeout, parse error …
                ok, seconds, error = False, 0.0, f"{exc.__class__.__name__}: {exc}"
            with lock:
                phase.requests += 1
                if ok:
                    phase.latencies.append(seconds)
                else:
                    phase.failures += 1
                    if len(phase.errors) < 5:
                        phase.errors.append(error)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(c)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    phase.seconds = time.perf_counter() - began
    return phase


def baseline_job(port: int) -> Callable[[int], tuple[bool, float, str]]:
    def job(_i: int) -> tuple[bool, float, str]:
        browser = Browser(port)
        t0 = time.perf_counter()
        status, body = browser.request("POST", "/bench/baseline/", b"", {"Content-Length": "0"})
        elapsed = time.perf_counter() - t0
        if status == 200 and body == b"ok":
            return True, elapsed, ""
        return False, elapsed, f"baseline: HTTP {status} {body[:200]!r}"

    return job


def form_job(port: int, forms: list[FilledForm | None]) -> Callable[[int], tuple[bool, float, str]]:
    def job(i: int) -> tuple[bool, float, str]:
        browser = Browser(port)  # a new visitor: empty cookie jar
        t0 = time.perf_counter()
        status, body = browser.request("GET", "/report/")
        elapsed = time.perf_counter() - t0
        if status != 200:
            return False, elapsed, f"GET /report/: HTTP {status} {body[:200]!r}"
        parser = FormInputs()
        parser.feed(body.decode())
        hidden = parser.values
        missing = [
            k
            for k in ("csrfmiddlewaretoken", "submission_token", "policy_version")
            if not hidden.get(k)
        ]
        if missing or "csrftoken" not in browser.cookies:
            return False, elapsed, f"GET /report/: missing {missing or 'csrftoken cookie'}"
        data, ctype = multipart(
            report_fields(hidden), [("attachments", "request.txt", "text/plain", ATTACHMENT)]
        )
        forms[i] = FilledForm(browser, data, ctype)
        return True, elapsed, ""

    return job


def floor_job(
    forms: list[FilledForm | None], path: str, expect: str
) -> Callable[[int], tuple[bool, float, str]]:
    def job(i: int) -> tuple[bool, float, str]:
        form = forms[i]
        if form is None:
            return False, 0.0, f"POST {path}: no form (its GET failed)"
        t0 = time.perf_counter()
        status, body = form.browser.request(
            "POST", path, form.body, {"Content-Type": form.content_type}
        )
        elapsed = time.perf_counter() - t0
        if status != 200 or expect.encode() not in body:
            return False, elapsed, f"POST {path}: HTTP {status} {body[:200]!r}"
        return True, elapsed, ""

    return job


FLOORS = (
    ("floor: parse", "/bench/floor-parse/", "parsed "),
    ("floor: parse + page", "/bench/floor-page/", 'id="receipt-code"'),
)


def submit_job(
    forms: list[FilledForm | None], references: list[str | None]
) -> Callable[[int], tuple[bool, float, str]]:
    def job(i: int) -> tuple[bool, float, str]:
        form = forms[i]
        if form is None:
            return False, 0.0, "POST /report/: no form (its GET failed)"
        t0 = time.perf_counter()
        status, body = form.browser.request(
            "POST", "/report/", form.body, {"Content-Type": form.content_type}
        )
        elapsed = time.perf_counter() - t0
        text = body.decode(errors="replace")
        if status != 200 or 'id="receipt-code"' not in text:
            snippet = re.sub(r"\s+", " ", text)
            errs = re.findall(r'class="errorlist[^"]*"[^>]*>(.{0,200})', snippet)
            return False, elapsed, f"POST /report/: HTTP {status} {errs[:3] or snippet[:300]!r}"
        match = REFERENCE_RE.search(text)
        references[i] = match.group(1) if match else None
        return True, elapsed, ""

    return job


# --- server lifecycle -----------------------------------------------------------------------


def slice_sizes(n: int, slices: int) -> list[int]:
    slices = max(1, min(slices, n))
    return [n // slices + (1 if i < n % slices else 0) for i in range(slices)]


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path, database_url: str, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MELDPUNT_") and k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    # bench.settings: the real settings plus the bench views (bench/urls.py). The server
    # runs in the data directory, so the project root goes on its path for `bench`.
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        PYTHONPATH=pythonpath,
        MELDPUNT_DATA_DIR=str(data_dir),
        DATABASE_URL=database_url,
        MELDPUNT_SUBMIT_CLIENT_LIMIT="1000000",
        MELDPUNT_SUBMIT_GLOBAL_LIMIT="1000000",
        MELDPUNT_BASE_URL=f"http://127.0.0.1:{port}",
        MELDPUNT_LOG_LEVEL="WARNING",
    )
    return env


def pg(cmd: str, db: str) -> None:
    """createdb/dropdb on the local server; quiet about a database that is not there."""
    extra = ["--if-exists"] if cmd == "dropdb" else []
    subprocess.run(
        [cmd, "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, *extra, db],
        check=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"},
    )


def wait_ready(proc: subprocess.Popen[bytes], log: Path, port: int, workers: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"meldpunt serve exited with {proc.returncode}:\n{tail(log)}")
        booted = log.read_text(errors="replace").count("Booting worker")
        if booted >= workers:
            with contextlib.suppress(OSError):
                status, _ = Browser(port).request("GET", "/")
                if status == 200:
                    return
        time.sleep(0.2)
    raise RuntimeError(f"meldpunt serve did not answer within 90 s:\n{tail(log)}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=25)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def bench_database(db: str, args: argparse.Namespace) -> list[Round]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"meldpunt-bench-{db}-"))
    port = free_port()
    if db == "postgres":
        pg("dropdb", args.pg_database)
        pg("createdb", args.pg_database)
        url = f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{args.pg_database}"
    else:
        url = f"sqlite:///{data_dir / 'meldpunt.sqlite3'}"
    env = server_env(data_dir, url, port)
    log = data_dir / "serve.log"
    proc: subprocess.Popen[bytes] | None = None
    rounds: list[Round] = []
    try:
        init = subprocess.run(
            [str(MELDPUNT), "init"], env=env, cwd=data_dir, capture_output=True, text=True
        )
        if init.returncode:
            raise RuntimeError(f"meldpunt init failed:\n{init.stdout}\n{init.stderr}")
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                [
                    str(MELDPUNT),
                    "serve",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    str(args.workers),
                ],
                env=env,
                cwd=data_dir,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, killed as a whole
            )
        wait_ready(proc, log, port, args.workers)
        say(f"[{db}] server up on 127.0.0.1:{port} ({args.workers} workers), data dir {data_dir}")

        # One request alone first: the baseline view creates its table on first use, and
        # this keeps its CREATE TABLE out of the measured requests.
        first = run_load("first baseline request", 1, 1, baseline_job(port))
        if first.failures:
            raise RuntimeError(f"[{db}] first baseline request failed: {first.errors}")
        # Warm-up: every worker imports templates, opens connections, loads the keyring.
        warm = max(args.workers * 4, args.concurrency * 4)
        warm_forms: list[FilledForm | None] = [None] * warm
        for phase in (
            run_load("warm-up baseline", warm, args.concurrency, baseline_job(port)),
            run_load("warm-up forms", warm, args.concurrency, form_job(port, warm_forms)),
            *(
                run_load(f"warm-up {name}", warm, args.concurrency, floor_job(warm_forms, p, e))
                for name, p, e in FLOORS
            ),
            run_load(
                "warm-up posts", warm, args.concurrency, submit_job(warm_forms, [None] * warm)
            ),
        ):
            if phase.failures:
                raise RuntimeError(f"[{db}] {phase.name} failed: {phase.errors}")

        seen: set[str] = set()  # every reference handed out on this server
        for number in range(1, args.rounds + 1):
            load = loadavg()
            baseline, got, posted = Phase("baseline"), Phase("GET /report/"), Phase("POST /report/")
            floors = [Phase(name) for name, _path, _expect in FLOORS]
            # Interleave in slices so that noise from other tenants hits both alike.
            for size in slice_sizes(args.requests, args.slices):
                c = args.concurrency
                baseline.merge(run_load("baseline", size, c, baseline_job(port)))
                forms: list[FilledForm | None] = [None] * size
                got.merge(run_load("GET /report/", size, c, form_job(port, forms)))
                for floor, (name, path, expect) in zip(floors, FLOORS, strict=True):
                    floor.merge(run_load(name, size, c, floor_job(forms, path, expect)))
                references: list[str | None] = [None] * size
                posted.merge(run_load("POST /report/", size, c, submit_job(forms, references)))
                for ref in references:
                    if ref is None:
                        continue
                    if ref in seen:
                        posted.failures += 1
                        posted.errors.append(f"reference {ref} handed out twice")
                    seen.add(ref)
            result = Round(db, number, baseline, got, floors[0], floors[1], posted, load)
            rounds.append(result)
            say(
                f"[{db}] round {number}: baseline {baseline.rps:.1f} req/s, "
                f"submissions {posted.rps:.1f} req/s, ratio {result.ratio:.2f} "
                f"(floors {result.of(floors[0]):.2f}, {result.of(floors[1]):.2f}), "
                f"failures {result.failures}, load average before {load}"
            )
            for phase in result.phases:
                for error in phase.errors[:5]:
                    say(f"[{db}]   {phase.name}: {error}")
    finally:
        if proc is not None:
            stop(proc)
        if db == "postgres" and not args.keep:
            with contextlib.suppress(subprocess.CalledProcessError):
                pg("dropdb", args.pg_database)
        if args.keep:
            say(f"[{db}] kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return rounds


# --- reporting ------------------------------------------------------------------------------


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def revision() -> str:
    """The commit measured (read-only git; no optional index lock taken)."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        changed = [ln for ln in git("status", "--porcelain").splitlines() if " bench/" not in ln]
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return f"git {head}" + (" plus uncommitted changes" if changed else "")


def machine() -> list[str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pg_version = "n/a"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        pg_version = subprocess.run(
            ["psql", "-h", PG_HOST, "-U", PG_USER, "-d", "postgres", "-tAc", "show server_version"],
            capture_output=True,
            text=True,
            check=True,
            stdin=subprocess.DEVNULL,
        ).stdout.strip()
    return [
        f"- date: {date.today().isoformat()}, code: {revision()}",
        f"- CPUs (nproc): {os.cpu_count()} ({cpu})",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"PostgreSQL {pg_version}",
    ]


def row(r: Round, phase: Phase, ratio: str) -> str:
    return (
        f"| {r.db} | {r.number} | {phase.name} | {phase.requests} | {phase.failures} | "
        f"{phase.rps:.1f} | {phase.pct(50):.1f} | {phase.pct(99):.1f} | {ratio} | {r.load} |"
    )


def table(rounds: list[Round], args: argparse.Namespace) -> str:
    lines = [
        f"N={args.requests} requests per measurement, C={args.concurrency} client threads, "
        f"{args.workers} gunicorn workers, {args.rounds} round(s) per database, "
        f"{args.slices} interleaved slices per round",
        "",
        *machine(),
        "",
        "| DB | round | measurement | requests | failures | req/s | p50 ms | p99 ms "
        "| ratio to baseline | load avg at start |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rounds:
        lines.append(row(r, r.baseline, "1.00"))
        lines.append(row(r, r.forms, f"({r.of(r.forms):.2f}, not the target)"))
        lines.append(row(r, r.floor_parse, f"({r.of(r.floor_parse):.2f}, stores nothing)"))
        lines.append(row(r, r.floor_page, f"({r.of(r.floor_page):.2f}, stores nothing)"))
        lines.append(row(r, r.submissions, f"**{r.ratio:.2f}**"))
    if args.rounds > 1:
        lines += [
            "",
            "Median over rounds:",
            "",
            "| DB | baseline req/s | baseline p50 / p99 ms | GET /report/ req/s "
            "| floor: parse (ratio) | floor: parse + page (ratio) "
            "| submission req/s | submission p50 / p99 ms | ratio (median of rounds) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for db in dict.fromkeys(r.db for r in rounds):
            rs = [r for r in rounds if r.db == db]

            def med(values: Iterator[float]) -> float:
                return statistics.median(values)

            lines.append(
                f"| {db} | {med(r.baseline.rps for r in rs):.1f} "
                f"| {med(r.baseline.pct(50) for r in rs):.1f} / "
                f"{med(r.baseline.pct(99) for r in rs):.1f} "
                f"| {med(r.forms.rps for r in rs):.1f} "
                f"| {med(r.floor_parse.rps for r in rs):.1f} "
                f"({med(r.of(r.floor_parse) for r in rs):.2f}) "
                f"| {med(r.floor_page.rps for r in rs):.1f} "
                f"({med(r.of(r.floor_page) for r in rs):.2f}) "
                f"| {med(r.submissions.rps for r in rs):.1f} "
                f"| {med(r.submissions.pct(50) for r in rs):.1f} / "
                f"{med(r.submissions.pct(99) for r in rs):.1f} "
                f"| {med(r.ratio for r in rs):.2f} |"
            )
    return "\n".join(lines)


def interrupted(signum: int, _frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", "-n", type=int, default=400, help="requests per measurement")
    parser.add_argument("--concurrency", "-c", type=int, default=4, help="client threads")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--rounds", type=int, default=1, help="baseline+submission rounds per DB")
    parser.add_argument(
        "--slices",
        type=int,
        default=4,
        help="interleave baseline/forms/submissions in this many slices per round",
    )
    parser.add_argument(
        "--pg-database",
        default="meldpunt_bench",
        help="PostgreSQL database to drop and recreate (never test_*)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data dir and database")
    args = parser.parse_args()
    if not (
        1 <= args.requests <= 100_000 and 1 <= args.concurrency <= 64 and 1 <= args.rounds <= 20
    ):
        parser.error("keep --requests in 1..100000, --concurrency in 1..64, --rounds in 1..20")
    if args.pg_database.startswith("test"):
        parser.error("refusing to use a database whose name starts with 'test'")
    if not MELDPUNT.exists():
        parser.error(f"{MELDPUNT} not found: run this with the project's .venv/bin/python")

    # Ctrl-C, kill and a closed terminal all unwind through the finally blocks that stop
    # the server (SIGINT is also re-armed: a background job may start with it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupted)
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    rounds: list[Round] = []
    try:
        for db in dbs:
            rounds += bench_database(db, args)
    finally:
        if rounds:
            print(table(rounds, args), flush=True)
    failures = sum(r.failures for r in rounds)
    low = [r for r in rounds if r.ratio < 0.5]
    if failures:
        say(f"{failures} failed requests")
    if low:
        say(f"ratio below 0.5 in {len(low)} of {len(rounds)} rounds")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
