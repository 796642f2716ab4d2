"""Webhook fan-out: how many signed deliveries per second reach a local receiver.

Run from the project root with the project's virtualenv:

    .venv/bin/python bench/webhooks.py                       # PostgreSQL, 1,000 events
    .venv/bin/python bench/webhooks.py --workers 2 --events 2000
    .venv/bin/python bench/webhooks.py --reuse DATA_DIR --pg-database NAME   # on kept data,
        # e.g. the million reports that `bench/triage.py --db postgres --keep` left

What happens, on PostgreSQL (the database `meldpunt_bench_webhooks`, dropped and recreated
per run and dropped afterwards; names starting with `test` are refused) or on kept data:

1. A receiver in its own process on 127.0.0.1 (`http.server`, threaded) answers every POST
   with 204 and keeps the headers and body; it counts them and notes the time of each.
2. One endpoint for `report.state_changed`, created as an administrator does
   (`meldpunt.webhooks.endpoints.create`, secret and all), pointed at the receiver
   (`MELDPUNT_WEBHOOK_ALLOW_PRIVATE=true`: the SSRF guard refuses loopback otherwise).
3. W real `meldpunt worker` processes are started and given a warm-up event each; once
   those arrived, N events are queued in one transaction through the one path every
   report event takes (`meldpunt.webhooks.events.queue`, as `record_event` does), one per
   report over the newest reports: N deliveries and N queued tasks after the commit.
4. **Fan-out rate** = N ÷ (time of the N-th arrival - the commit). Every body must arrive
   exactly once (by `webhook-id`) and every signature must verify with the
   `standardwebhooks` library and the endpoint's secret, else the exit status is 1.
5. **Floor**, in the same run, against the same receiver: the same N signed bodies posted
   by one client thread through `meldpunt.webhooks.transport.post` (a new connection per
   request, as the worker does), no database at all. The ratio fan-out ÷ floor says what
   the queue, the claim and the delivery log cost on top of the HTTP itself.

The target (issue 16): at least 200 deliveries per second to a local receiver. The
workers are stopped (SIGTERM, then SIGKILL after 20 s) in every case: Ctrl-C, SIGTERM and
SIGHUP to this script unwind through the same path.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from triage import pg_admin  # noqa: E402  (one copy for every benchmark)

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
TARGET_PER_SECOND = 200


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the receiver, in its own process ---------------------------------------------------


def _receiver(conn: Any) -> None:
    seen: list[tuple[float, dict[str, str], bytes]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                seen.append((time.time(), dict(self.headers.items()), body))
            self.send_response(204)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        # socketserver's default backlog is 5: parallel senders would wait for SYN retries
        # (1 s each), which no real receiver (nginx: 511) makes them do.
        request_queue_size = 128
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_address[1])
    while True:
        command = conn.recv()
        if command == "count":
            with lock:
                conn.send(len(seen))
        elif command == "take":
            with lock:
                taken, seen[:] = list(seen), []
            conn.send(taken)
        elif command == "stop":
            server.shutdown()
            return


class Receiver:
    def __init__(self) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_receiver, args=(child,), daemon=True)
        self.process.start()
        self.port = int(self.conn.recv())

    def count(self) -> int:
        self.conn.send("count")
        return int(self.conn.recv())

    def take(self) -> list[tuple[float, dict[str, str], bytes]]:
        self.conn.send("take")
        return list(self.conn.recv())

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(5)

    def wait_for(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() >= n:
                return True
            time.sleep(0.01)
        return False


# --- set-up ---------------------------------------------------------------------------------


def environment(data_dir: Path, pg_database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MELDPUNT_")}
    env.update(
        DJANGO_SETTINGS_MODULE="meldpunt.settings",
        MELDPUNT_DATA_DIR=str(data_dir),
        MELDPUNT_LOG_LEVEL="WARNING",
        MELDPUNT_ADMIN_EMAIL="admin@example.org",
        MELDPUNT_WEBHOOK_ALLOW_PRIVATE="true",
        # The periodic jobs run once at start, then not again during the run.
        MELDPUNT_SCHEDULE_SECONDS="3600",
        DATABASE_URL=f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{pg_database}",
        PYTHONPATH=str(ROOT),
    )
    return env


def setup(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    env = environment(data_dir, args.pg_database)
    os.environ.update(env)
    import django

    django.setup()
    if not args.reuse:
        import io

        from django.core.management import call_command

        call_command("init", stdout=io.StringIO())
    return env


def reports(n: int) -> list[Any]:
    """The newest n reports (made through the web intake's function if there are too few)."""
    from meldpunt.reports.models import Report

    have = list(Report.objects.order_by("-pk")[:n])
    if len(have) >= min(n, 50):
        return have
    from meldpunt.lib.targets import Target
    from meldpunt.policy.commitments import current_version
    from meldpunt.reports.services import NewReport, submit_report

    for i in range(50 - len(have)):
        host = f"app{i}.example.org"
        new = NewReport(
            channel="web",
            language="en",
            policy_version=current_version(),
            category="xss",
            out_of_scope=False,
            targets=[Target(text=f"https://{host}/", host=host)],
            content={
                "affected_systems": [f"https://{host}/"],
                "description": "A reflected script in the search box.",
                "steps": "Open the page with the payload in q.",
                "impact": "Session theft.",
                "exploited": "no",
                "already_public": "no",
                "references": "",
                "csirt_notified": "no",
            },
            finder={"name": "", "email": "", "pgp_key": ""},
        )
        submit_report(new)
    return list(Report.objects.order_by("-pk")[:n])


def admin() -> Any:
    from django.contrib.auth import get_user_model

    from meldpunt.accounts.staff import create_staff

    found = get_user_model().objects.filter(username="bench-admin@example.org").first()
    return found or create_staff("bench-admin@example.org", "admin", "correct horse battery").user


# --- the run --------------------------------------------------------------------------------


def start_workers(n: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    meldpunt = str(Path(sys.executable).parent / "meldpunt")
    return [
        subprocess.Popen(
            [meldpunt, "worker"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        for _ in range(n)
    ]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        if w.poll() is None:
            os.killpg(w.pid, signal.SIGTERM)
    for w in workers:
        try:
            w.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(w.pid, signal.SIGKILL)
            w.wait()


def check(received: list[tuple[float, dict[str, str], bytes]], secret: str, n: int) -> list[str]:
    from standardwebhooks.webhooks import Webhook

    problems = []
    ids = [h.get("webhook-id", "") for _t, h, _b in received]
    if len(set(ids)) != n or len(ids) != n:
        problems.append(f"{len(ids)} arrivals, {len(set(ids))} distinct ids, wanted {n}")
    hook = Webhook(secret)
    bad = 0
    for _t, headers, body in received:
        try:
            hook.verify(body, {k.lower(): v for k, v in headers.items()})
        except Exception:
            bad += 1
    if bad:
        problems.append(f"{bad} signatures did not verify")
    return problems


def run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    env = setup(args, data_dir)
    from django.db import connection, transaction
    from django.utils import timezone

    from meldpunt.webhooks import endpoints, events, signing, transport
    from meldpunt.webhooks.models import Endpoint

    receiver = Receiver()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        Endpoint.objects.filter(name__startswith="bench").delete()
        endpoint, secret = endpoints.create(
            admin(),
            name="bench receiver",
            url=f"http://127.0.0.1:{receiver.port}/hook",
            kinds=["report.state_changed"],
            format=Endpoint.Format.GENERIC,
            trusted=False,
        )
        targets = reports(args.events)
        say(f"{len(targets)} reports to fan out over; starting {args.workers} worker(s)")
        workers = start_workers(args.workers, env)
        # Warm-up: one event per worker must arrive before the clock starts.
        with transaction.atomic():
            for i in range(args.workers * 4):
                events.queue("report.state_changed", targets[i % len(targets)], {"warm": 1})
        if not receiver.wait_for(args.workers * 4, 120):
            raise RuntimeError("warm-up deliveries did not arrive within 120 s")
        receiver.take()

        t0 = time.time()
        with transaction.atomic():
            for i in range(args.events):
                report = targets[i % len(targets)]
                events.queue("report.state_changed", report, {"from": "received", "to": "triaged"})
        committed = time.time()
        arrived = receiver.wait_for(args.events, args.timeout)
        received = receiver.take()
        if not arrived:
            for w in workers:
                say(f"worker {w.pid} alive: {w.poll() is None}")
            times = [round(t - committed, 2) for t, _h, _b in sorted(received)]
            say(f"arrivals (s after commit): {times[:10]} ... {times[-10:]}")
            raise RuntimeError(f"only {len(received)} of {args.events} arrived in {args.timeout} s")
        last = max(t for t, _h, _b in received)
        fan_out = args.events / (last - committed)
        problems = check(received, secret, args.events)

        # The floor: the same bodies, signed, posted by one thread, no database.
        bodies = [b for _t, _h, b in received]
        t1 = time.monotonic()
        for i, body in enumerate(bodies):
            headers = signing.headers(secret, f"msg_floor{i}", timezone.now(), body)
            headers["Content-Type"] = "application/json"
            transport.post(endpoint.url, body, headers, timeout=10, allow_private=True)
        floor = len(bodies) / (time.monotonic() - t1)
        receiver.take()
        with connection.cursor() as c:
            c.execute("SELECT COUNT(*) FROM reports_report")
            n_reports = int(c.fetchone()[0])
        return {
            "events": args.events,
            "workers": args.workers,
            "reports_in_database": n_reports,
            "queue_seconds": committed - t0,
            "fan_out_per_second": fan_out,
            "floor_per_second": floor,
            "ratio": fan_out / floor,
            "problems": problems,
            "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        }
    finally:
        stop_workers(workers)
        receiver.stop()
        from django.db import connections

        connections.close_all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", "-n", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="`meldpunt worker` processes")
    parser.add_argument("--pg-database", default="meldpunt_bench_webhooks")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--reuse", type=Path, metavar="DATA_DIR", help="run on kept data")
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    args = parser.parse_args()
    # SIGTERM and SIGHUP unwind like Ctrl-C, so the workers and the receiver are stopped.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda number, _frame: sys.exit(128 + number))
    if args.pg_database.startswith("test"):
        parser.error("refusing to use a database whose name starts with 'test'")
    if args.reuse:
        result = run(args, args.reuse)
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="meldpunt-webhooks-"))
        pg_admin("dropdb", "--if-exists", "--force", args.pg_database)
        pg_admin("createdb", args.pg_database)
        try:
            result = run(args, data_dir)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
            pg_admin("dropdb", "--if-exists", "--force", args.pg_database)
    ok = not result["problems"]
    met = result["fan_out_per_second"] >= TARGET_PER_SECOND
    print(
        "| reports in database | events | workers | fan-out /s | floor /s (bare POSTs) "
        f"| fan-out ÷ floor | ≥ {TARGET_PER_SECOND}/s | all arrived once, signed | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {result['reports_in_database']:,} | {result['events']:,} | {result['workers']} "
        f"| {result['fan_out_per_second']:.0f} | {result['floor_per_second']:.0f} "
        f"| {result['ratio']:.2f} | {'yes' if met else '**no**'} "
        f"| {'yes' if ok else '; '.join(result['problems'])} | {result['loadavg']} |"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
