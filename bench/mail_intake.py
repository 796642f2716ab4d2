"""Mail intake: encrypted mails taken in per second, against parsing the same bytes alone.

Run from the project root with the project's virtualenv:

    .venv/bin/python bench/mail_intake.py                       # SQLite, N=200, 3 rounds
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/mail_intake.py
    .venv/bin/python bench/mail_intake.py --db sqlite -n 50 --rounds 1      # quick

For each database: a fresh temporary data directory and `meldpunt init` in-process (key
file, migrations, the organisation's OpenPGP key). PostgreSQL is measured when
DATABASE_URL points to a PostgreSQL server: the script creates its own database
`meldpunt_bench_mail` there (dropped before and after; names starting with `test` are
refused) and never touches the database the URL names.

The mails: PGP/MIME (RFC 3156), made once with pysequoia and encrypted to the
organisation's key, each from its own finder address with its own Message-ID; inside,
a text/plain description of ~1 KB and a 2 KB attachment. The same bytes go through:

- baseline: `email.message_from_bytes(raw, policy=email.policy.default)` (the parse
  alone, no decryption, no storage);
- decrypt: `keys.decrypt` of the encrypted part (reported, not the target);
- floor: what no version of the intake can skip, done as cheaply as it can be (open the
  mail, store its attachment durably, commit a transaction of as many rows and bytes);
- report: `submit_report` of the same report from the already opened mail: the domain's
  one write for a new report, the web form's too (no receipt, no parsing);
- intake: `meldpunt.intake.mail.process_message(raw)`: parse, decrypt, seal, store the
  report with its attachment, queue the signed receipt, commit. Each must come out as
  a "report" with `received_encrypted`; anything else counts as a failure (exit 1).

Each round runs them interleaved in slices, so load from other tenants hits all
alike. Throughput = mails / summed wall time; latency per mail; p50/p99 nearest rank.
The Markdown table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import io
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Another name (MAIL_BENCH_PG_DATABASE) lets two checkouts be measured side by side.
PG_DATABASE = os.environ.get("MAIL_BENCH_PG_DATABASE", "meldpunt_bench_mail")
if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", PG_DATABASE) or PG_DATABASE.startswith("test"):
    raise SystemExit("MAIL_BENCH_PG_DATABASE: lower-case letters, digits, _; not test*")

DESCRIPTION = (
    "The password reset form at https://portal.example.org/reset accepts a token that "
    "never expires and is not bound to the account. Requesting a reset for my own "
    "account and replacing the user id in the link lets me set the password of any "
    "account. Steps: 1. request a reset for your own account; 2. open the link; "
    "3. change the hidden field user_id to the victim's id; 4. submit. The response "
    "confirms the change and the victim's old password no longer works. Impact: "
    "account takeover of every portal user, including administrators. I stopped after "
    "testing on two accounts of my own and changed nothing else. "
) * 2
ATTACHMENT = (
    b"POST /reset HTTP/1.1\r\nHost: portal.example.org\r\n\r\ntoken=abc&user_id=2\r\n"
) * 40


# Rows an intake of one mail report inserts or updates (intake row, report, host, attachment,
# event, audit entry and head, ledger, receipt, its task, two rate-limit buckets, intake row).
FLOOR_ROWS = 12


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def run(self, items: list[bytes], job: Callable[[bytes], bool]) -> None:
        t0 = time.perf_counter()
        for raw in items:
            t = time.perf_counter()
            ok = job(raw)
            self.latencies.append(time.perf_counter() - t)
            self.failures += 0 if ok else 1
        self.seconds += time.perf_counter() - t0


# --- one database, in its own process ----------------------------------------------------


def setup_django(data_dir: Path, database_url: str) -> None:
    for key in [k for k in os.environ if k.startswith("MELDPUNT_")]:
        del os.environ[key]
    os.environ.update(
        DJANGO_SETTINGS_MODULE="meldpunt.settings",
        MELDPUNT_DATA_DIR=str(data_dir),
        MELDPUNT_LOG_LEVEL="WARNING",
        MELDPUNT_ADMIN_EMAIL="admin@example.org",
        DATABASE_URL=database_url,
    )
    import django

    django.setup()


def make_mail(cert: Any, number: int, run: str) -> bytes:
    import pysequoia

    inner = MIMEMultipart("mixed")
    inner.attach(MIMEText(DESCRIPTION, "plain", "utf-8"))
    part = MIMEApplication(ATTACHMENT, Name="request.txt")
    part["Content-Disposition"] = 'attachment; filename="request.txt"'
    inner.attach(part)
    outer = MIMEMultipart("encrypted", protocol="application/pgp-encrypted")
    control = MIMEBase("application", "pgp-encrypted")
    control.set_payload("Version: 1\n")
    outer.attach(control)
    data = MIMEBase("application", "octet-stream", name="encrypted.asc")
    data.set_payload(pysequoia.encrypt(inner.as_bytes(), recipients=[cert]).decode())
    outer.attach(data)
    outer["From"] = f"Finder {number} <finder{number}@example.net>"
    outer["To"] = "security@example.org"
    outer["Subject"] = "..."
    outer["Message-ID"] = f"<bench-{run}-{number}@example.net>"
    return outer.as_bytes(policy=email.policy.SMTP)


def measure(args: argparse.Namespace, db: str) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    from meldpunt.intake.mail import process_message
    from meldpunt.policy import keys
    from meldpunt.reports.models import Report

    call_command("init", stdout=io.StringIO())
    cert = keys.primary().cert
    total = args.requests * args.rounds + args.warmup
    t = time.perf_counter()
    mails = [make_mail(cert, i, "r") for i in range(total)]
    say(f"[{db}] {total} encrypted mails made in {time.perf_counter() - t:.1f} s")
    encrypted_parts = [
        email.message_from_bytes(raw, policy=email.policy.default).get_payload()[1].get_payload()
        for raw in mails
    ]
    part_of = dict(zip(mails, encrypted_parts, strict=True))

    def baseline(raw: bytes) -> bool:
        return email.message_from_bytes(raw, policy=email.policy.default) is not None

    def decrypt(raw: bytes) -> bool:
        return bool(keys.decrypt(part_of[raw].encode(), []).plaintext)

    # The floor: what no version of the intake can skip, done as cheaply as it can be. Parse
    # and open the mail (mime.read: decrypt, text, files), store its attachment durably as
    # the intake's store does (sealed; a file and two fsyncs, or a row), and commit one
    # transaction of as many rows and bytes as an intake writes, into a bare table (no ORM,
    # no indexes but the key).
    from django.conf import settings
    from django.core.files.storage import default_storage
    from django.db import transaction

    from meldpunt.intake import mime
    from meldpunt.lib import crypto
    from meldpunt.lib.storage import save_durably

    blob = "bytea" if connection.vendor == "postgresql" else "blob"
    with connection.cursor() as c:
        c.execute(f"CREATE TABLE bench_floor (id bigint PRIMARY KEY, body {blob} NOT NULL)")
    floor_ids = iter(range(1, 10**9))

    # Where the intake puts the attachment: a file (two fsyncs) or rows of the same transaction.
    in_files = settings.MELDPUNT_ATTACHMENT_STORE == "files"

    def floor(raw: bytes) -> bool:
        content = mime.read(mime.parse(raw), raw, [])
        keyring = crypto.load_keyring()
        sealed = []
        for file in content.files:
            name = f"floor/{next(floor_ids)}"
            blob = keyring.seal(file.data, name)
            if in_files:
                save_durably(default_storage, name, blob)
            else:
                sealed.append(blob)
        chunk = max(1, len(raw) // FLOOR_ROWS)
        rows = [(next(floor_ids), raw[i * chunk : (i + 1) * chunk]) for i in range(FLOOR_ROWS)]
        rows += [(next(floor_ids), blob) for blob in sealed]
        with transaction.atomic(), connection.cursor() as c:
            c.executemany("INSERT INTO bench_floor (id, body) VALUES (%s, %s)", rows)
        return bool(content.text)

    # The domain's own write of the same report, as the web form makes it too: submit_report
    # (report, sealed content, hosts, attachment, event, audit entry, ledger, the intake
    # checks' listeners) with the mail already opened (outside the timing), no receipt.
    from meldpunt.lib.targets import find_targets
    from meldpunt.policy.commitments import current_version
    from meldpunt.reports.services import NewReport, submit_report

    opened = {raw: mime.read(mime.parse(raw), raw, []) for raw in mails}

    def report(raw: bytes) -> bool:
        content = opened[raw]
        targets = find_targets(content.text, 20)
        new = NewReport(
            channel="email",
            language="en",
            policy_version=current_version(),
            category="other",
            out_of_scope=False,
            targets=targets,
            content={"subject": "...", "description": content.text, "steps": "", "impact": ""},
            finder={"name": "", "email": "finder@example.net", "pgp_key": ""},
            files=content.files,
            received_encrypted=True,
        )
        return submit_report(new).report.pk is not None

    def intake(raw: bytes) -> bool:
        result = process_message(raw)
        return (
            result.outcome == "report"
            and result.report is not None
            and result.report.received_encrypted is True
        )

    warm = mails[: args.warmup]
    for raw in warm:
        baseline(raw), decrypt(raw), floor(raw), report(raw), intake(raw)
    rounds = []
    rest = mails[args.warmup :]
    for number in range(args.rounds):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        batch = rest[number * args.requests : (number + 1) * args.requests]
        phases = {
            name: Phase(name) for name in ("baseline", "decrypt", "floor", "report", "intake")
        }
        step = max(1, len(batch) // args.slices)
        for start in range(0, len(batch), step):
            chunk = batch[start : start + step]
            phases["baseline"].run(chunk, baseline)
            phases["decrypt"].run(chunk, decrypt)
            phases["floor"].run(chunk, floor)
            phases["report"].run(chunk, report)
            phases["intake"].run(chunk, intake)
        rounds.append(
            {
                "round": number + 1,
                "load": load,
                "phases": {
                    name: {
                        "mails": len(p.latencies),
                        "failures": p.failures,
                        "rate": p.rate,
                        "p50": pct(p.latencies, 50) * 1000,
                        "p99": pct(p.latencies, 99) * 1000,
                    }
                    for name, p in phases.items()
                },
            }
        )
        r = rounds[-1]["phases"]
        say(
            f"[{db}] round {number + 1}: baseline {r['baseline']['rate']:.0f}/s, "
            f"intake {r['intake']['rate']:.1f}/s, failures {r['intake']['failures']}"
        )
    if args.profile:
        profile(rest[-args.requests :], process_message, args.profile, db)
        total += args.requests
    with connection.cursor() as c:
        c.execute(
            "SHOW server_version"
            if connection.vendor == "postgresql"
            else "SELECT sqlite_version()"
        )
        version = str(c.fetchone()[0])
    # The intake's reports, beside the "report" measurement's own.
    reports = Report.objects.count() - args.warmup - args.requests * args.rounds
    if reports != total:
        say(f"[{db}] {reports} reports for {total} mails")
    return {"db": db, "version": version, "rounds": rounds, "reports": reports, "mails": total}


def profile(mails: list[bytes], process: Callable[[bytes], Any], top: int, db: str) -> None:
    """Take in the mails again under cProfile (as duplicates they would stop early: new ids)."""
    import cProfile
    import pstats

    fresh = [raw.replace(b"<bench-r-", b"<bench-p-", 1) for raw in mails]
    profiler = cProfile.Profile()
    t = time.perf_counter()
    profiler.enable()
    for raw in fresh:
        process(raw)
    profiler.disable()
    say(f"[{db}] profiled {len(fresh)} intakes, {time.perf_counter() - t:.2f} s under cProfile")
    if dump := os.environ.get("MAIL_BENCH_PSTATS"):
        profiler.dump_stats(f"{dump}.{db}")  # for pstats' callers/callees views
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    say(out.getvalue())


def pg_url(base: str, database: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{database}"))


def pg_admin(base: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(base.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(sql)


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"meldpunt-bench-mail-{args.db}-"))
    base = os.environ.get("DATABASE_URL", "")
    try:
        if args.db == "postgres":
            pg_admin(base, f'DROP DATABASE IF EXISTS "{PG_DATABASE}"')
            pg_admin(base, f'CREATE DATABASE "{PG_DATABASE}"')
            url = pg_url(base, PG_DATABASE)
        else:
            url = f"sqlite:///{data_dir / 'meldpunt.sqlite3'}"
        setup_django(data_dir, url)
        return measure(args, args.db)
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(data_dir, ignore_errors=True)
        if args.db == "postgres":
            pg_admin(base, f'DROP DATABASE IF EXISTS "{PG_DATABASE}"')


# --- reporting ---------------------------------------------------------------------------


def revision() -> str:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, env=env, capture_output=True, text=True
        ).stdout
    except OSError:
        return "unknown"
    changed = [ln for ln in dirty.splitlines() if " bench/" not in ln]
    return f"git {head}" + (" plus uncommitted changes" if changed else "")


def table(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"N={args.requests} mails per measurement and round, {args.rounds} round(s), "
        f"{args.slices} interleaved slices per round, {args.warmup} warm-up mails",
        "",
        f"- date: {date.today().isoformat()}, code: {revision()}",
        f"- CPUs (nproc): {os.cpu_count()}, {platform.platform()}, "
        f"Python {platform.python_version()}",
        *[f"- {r['db']}: {r['version']}" for r in results],
        "",
        "| DB | round | measurement | mails | failures | mails/s | p50 ms | p99 ms "
        "| ratio to baseline | load avg at start |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for rnd in r["rounds"]:
            base = rnd["phases"]["baseline"]["rate"]
            for name, p in rnd["phases"].items():
                ratio = p["rate"] / base if base else 0.0
                shown = f"**{ratio:.4f}**" if name == "intake" else f"{ratio:.4f}"
                lines.append(
                    f"| {r['db']} | {rnd['round']} | {name} | {p['mails']} | {p['failures']} "
                    f"| {p['rate']:.1f} | {p['p50']:.2f} | {p['p99']:.2f} | {shown} "
                    f"| {rnd['load']} |"
                )
    lines += [
        "",
        "Medians over rounds:",
        "",
        "| DB | baseline mails/s | decrypt mails/s | floor mails/s | report /s "
        "| floor + report /s | **intake mails/s** "
        "| intake p50 / p99 ms | **ratio** | intake / decrypt | intake / floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rounds = r["rounds"]

        def med(name: str, key: str, rounds: list[dict[str, Any]] = rounds) -> float:
            return statistics.median(rnd["phases"][name][key] for rnd in rounds)

        def ratio(to: str, rounds: list[dict[str, Any]] = rounds) -> float:
            return statistics.median(
                rnd["phases"]["intake"]["rate"] / rnd["phases"][to]["rate"] for rnd in rounds
            )

        lines.append(
            f"| {r['db']} | {med('baseline', 'rate'):.0f} | {med('decrypt', 'rate'):.0f} "
            f"| {med('floor', 'rate'):.0f} | {med('report', 'rate'):.0f} "
            f"| {1 / (1 / med('floor', 'rate') + 1 / med('report', 'rate')):.0f} "
            f"| **{med('intake', 'rate'):.1f}** "
            f"| {med('intake', 'p50'):.1f} / {med('intake', 'p99'):.1f} "
            f"| **{ratio('baseline'):.4f}** | {ratio('decrypt'):.4f} | {ratio('floor'):.3f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", "-n", type=int, default=200, help="mails per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--db", choices=["sqlite", "postgres", "auto"], default="auto")
    parser.add_argument(
        "--profile", type=int, metavar="K", default=0, help="cProfile the intake; print top K"
    )
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)  # child → parent
    args = parser.parse_args()
    if not (1 <= args.requests <= 20_000 and 1 <= args.rounds <= 20 and args.slices >= 1):
        parser.error("keep --requests in 1..20000 and --rounds in 1..20")
    url = os.environ.get("DATABASE_URL", "")
    if args.db == "postgres" and not url.startswith(("postgres://", "postgresql://")):
        parser.error("--db postgres needs DATABASE_URL=postgres://user@host:port/any")
    if args.db != "auto":
        result = run_one(args)
        if args.json:
            args.json.write_text(json.dumps(result))
        else:
            print(table([result], args))
        return 1 if failures([result]) else 0

    # Settings are per process: each database is measured in its own child process.
    dbs = ["sqlite"] + (["postgres"] if url.startswith(("postgres://", "postgresql://")) else [])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for db in dbs:
            out = Path(tmp) / f"{db}.json"
            cmd = [sys.executable, __file__, "--db", db, "--json", str(out)]
            cmd += ["-n", str(args.requests), "--rounds", str(args.rounds)]
            cmd += ["--slices", str(args.slices), "--warmup", str(args.warmup)]
            cmd += ["--profile", str(args.profile)]
            subprocess.run(cmd, check=False, stdout=sys.stderr)
            if out.exists():
                results.append(json.loads(out.read_text()))
    print(table(results, args))
    return 1 if failures(results) or len(results) < len(dbs) else 0


def failures(results: list[dict[str, Any]]) -> int:
    bad = sum(p["failures"] for r in results for rnd in r["rounds"] for p in rnd["phases"].values())
    bad += sum(1 for r in results if r["reports"] != r["mails"])
    return bad


if __name__ == "__main__":
    sys.exit(main())
