"""Where a web submission spends its time: the submit path in-process, one thread.

    .venv/bin/python bench/profile_submit.py [--requests N] [--db sqlite|postgres]
        [--sort cumulative|tottime] [--top K] [--queries]

Makes a throw-away data directory (and, for PostgreSQL, drops and recreates the
database `meldpunt_bench`), runs `meldpunt init` in-process, then drives Django's
test client (CSRF checks enforced, like a browser; the same bodies as
bench/submit.py) after a short warm-up, and prints:

1. mean wall time and SQL query count of POST /bench/baseline/, GET /report/ and
   POST /report/ (no profiler);
2. the same requests split into stages by wall-clock timers patched around the
   view's helpers (no profiler, so the shares are not inflated by it);
3. the top functions of a cProfile run, GETs and POSTs profiled separately.

No concurrency here: lock waits between workers only show in bench/submit.py.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the root, for bench.settings
sys.path.insert(0, str(Path(__file__).resolve().parent))
from submit import (
    ATTACHMENT,
    PG_HOST,
    PG_PORT,
    PG_USER,
    FormInputs,
    multipart,
    report_fields,
)


class Timer:
    """Wall time of every call of one function while it is patched."""

    def __init__(self, owner: Any, attr: str) -> None:
        self.owner, self.attr = owner, attr
        self.original = getattr(owner, attr)
        self.seconds = self.pending = 0.0
        self.count = self.pending_count = 0
        original = self.original

        @functools.wraps(original)
        def timed(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                self.pending += time.perf_counter() - t0
                self.pending_count += 1

        setattr(owner, attr, timed)

    def reset(self) -> None:
        self.seconds = self.pending = 0.0
        self.count = self.pending_count = 0

    def reset_pending(self) -> None:
        self.pending, self.pending_count = 0.0, 0

    def commit(self) -> None:
        self.seconds += self.pending
        self.count += self.pending_count
        self.reset_pending()


def stage_timers() -> dict[str, Timer]:
    from django.core.handlers.base import BaseHandler
    from django.forms.forms import BaseForm
    from django.http import multipartparser

    from meldpunt import ratelimit
    from meldpunt.intake import forms, views
    from meldpunt.lib import crypto
    from meldpunt.reports import services

    # Patch where the callers look the names up; nested stages are indented.
    return {
        "Django handler (middleware + view)": Timer(BaseHandler, "get_response"),
        # (the CSRF middleware's bound methods are captured at load time: not patchable)
        "  multipart body parsing (first read of request.POST)": Timer(
            multipartparser.MultiPartParser, "parse"
        ),
        "  view: client_key": Timer(views, "client_key"),
        "  view: form.full_clean (validation)": Timer(BaseForm, "full_clean"),
        "    clean_policy_version (cached)": Timer(forms.ReportForm, "clean_policy_version"),
        "    clean_submission_token (signature)": Timer(forms.ReportForm, "clean_submission_token"),
        "    ratelimit.first_refused (both counts)": Timer(ratelimit, "first_refused"),
        "    other clean_* (fields, key parsing)": Timer(forms.ReportForm, "_clean_fields"),
        "  view: form.new_report": Timer(forms.ReportForm, "new_report"),
        "  view: submit_report": Timer(views, "submit_report"),
        "    _store_files (seal + write attachment)": Timer(services, "_store_files"),
        "    record_event": Timer(services, "record_event"),
        "  view: _receipt_page (render receipt)": Timer(views, "_receipt_page"),
        "  view: current_version (GET)": Timer(views, "current_version"),
        "  view: new_submission_token (GET)": Timer(views, "new_submission_token"),
        "  view: _form_page (render form, GET)": Timer(views, "_form_page"),
        "all crypto seal calls": Timer(crypto.Keyring, "seal"),
    }


def restore(timers: dict[str, Timer]) -> None:
    for timer in timers.values():
        setattr(timer.owner, timer.attr, timer.original)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", "-n", type=int, default=200)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--sort", default="cumulative", help="pstats sort key (cumulative, tottime)"
    )
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--queries", action="store_true", help="list the SQL of one POST")
    parser.add_argument("--pg-database", default="meldpunt_bench")
    args = parser.parse_args()
    if args.pg_database.startswith("test"):
        parser.error("refusing to use a database whose name starts with 'test'")

    data_dir = Path(tempfile.mkdtemp(prefix=f"meldpunt-profile-{args.db}-"))
    for key in [k for k in os.environ if k.startswith("MELDPUNT_")]:
        del os.environ[key]
    os.environ.update(
        DJANGO_SETTINGS_MODULE="bench.settings",  # the real settings plus the bench views
        MELDPUNT_DATA_DIR=str(data_dir),
        MELDPUNT_SUBMIT_CLIENT_LIMIT="1000000",
        MELDPUNT_LOG_LEVEL="WARNING",
    )
    pg = ["-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER]
    if args.db == "postgres":
        subprocess.run(["dropdb", *pg, "--if-exists", args.pg_database], check=True)
        subprocess.run(["createdb", *pg, args.pg_database], check=True)
        os.environ["DATABASE_URL"] = f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{args.pg_database}"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{data_dir / 'meldpunt.sqlite3'}"
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection, connections
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        call_command("init", stdout=io.StringIO())

        # One client (one handler with its middleware loaded once, as in a gunicorn
        # worker); every form is fetched by a new visitor with an empty cookie jar.
        client = Client(enforce_csrf_checks=True, HTTP_HOST="127.0.0.1", HTTP_ACCEPT_LANGUAGE="en")

        def fetch() -> Any:
            client.cookies = SimpleCookie()
            page = client.get("/report/")
            assert page.status_code == 200
            return page

        def get_form() -> tuple[Client, bytes, str]:
            page = fetch()
            inputs = FormInputs()
            inputs.feed(page.content.decode())
            body, ctype = multipart(
                report_fields(inputs.values),
                [("attachments", "request.txt", "text/plain", ATTACHMENT)],
            )
            return client, body, ctype

        def post(client: Client, body: bytes, ctype: str) -> None:
            response = client.generic("POST", "/report/", body, content_type=ctype)
            assert response.status_code == 200 and b'id="receipt-code"' in response.content, (
                response.content[:3000]
            )

        def baseline() -> None:
            response = client.post("/bench/baseline/")
            assert response.status_code == 200

        for _ in range(10):  # warm-up
            baseline()
            post(*get_form())

        n = args.requests
        # 1. Unprofiled wall time and query counts.
        base_time = get_time = post_time = 0.0
        for _ in range(n):
            t0 = time.perf_counter()
            baseline()
            t1 = time.perf_counter()
            form = get_form()
            t2 = time.perf_counter()
            post(*form)
            base_time += t1 - t0
            get_time += t2 - t1
            post_time += time.perf_counter() - t2
        with CaptureQueriesContext(connection) as base_queries:
            baseline()
        with CaptureQueriesContext(connection) as get_queries:
            form = get_form()
        with CaptureQueriesContext(connection) as post_queries:
            post(*form)
        print(f"{args.db}: in-process (test client), one thread, no profiler, mean of {n}:")
        print(
            f"  POST /bench/baseline/ {base_time / n * 1000:6.2f} ms ({len(base_queries)} queries)"
        )
        print(f"  GET /report/          {get_time / n * 1000:6.2f} ms ({len(get_queries)} queries)")
        print(
            f"  POST /report/         {post_time / n * 1000:6.2f} ms ({len(post_queries)} queries)"
        )
        if args.queries:
            for q in post_queries.captured_queries:
                print("   ", q["time"], q["sql"][:160])

        # 2. Where the time goes: wall-clock timers around the stages (no profiler).
        stages = stage_timers()
        for label in ("GET /report/", "POST /report/"):
            for timer in stages.values():
                timer.reset()
            total = 0.0
            for _ in range(n):
                form = get_form() if label.startswith("POST") else None
                for timer in stages.values():
                    timer.reset_pending()
                t0 = time.perf_counter()
                if form is None:
                    fetch()
                else:
                    post(*form)
                total += time.perf_counter() - t0
                for timer in stages.values():
                    timer.commit()
            print(f"\n=== {label}: ms per request (mean of {n}; nested stages indented) ===")
            print(f"  {'whole request (test client)':<58} {total / n * 1000:6.2f}")
            for name, timer in stages.items():
                if timer.count:
                    share = timer.seconds / total * 100
                    print(
                        f"  {name:<58} {timer.seconds / n * 1000:6.2f}  {share:4.0f} %"
                        f"  ({timer.count / n:g} calls)"
                    )
        restore(stages)

        get_prof, post_prof = cProfile.Profile(), cProfile.Profile()
        get_time = post_time = 0.0
        for _ in range(args.requests):
            t0 = time.perf_counter()
            get_prof.enable()
            form = get_form()
            get_prof.disable()
            t1 = time.perf_counter()
            post_prof.enable()
            post(*form)
            post_prof.disable()
            post_time += time.perf_counter() - t1
            get_time += t1 - t0
        print(
            f"\n{args.db}: in-process, one thread, under cProfile: GET /report/ "
            f"{get_time / n * 1000:.1f} ms, POST /report/ {post_time / n * 1000:.1f} ms"
        )
        for name, prof in (("POST /report/", post_prof), ("GET /report/", get_prof)):
            print(f"\n=== {name}: top {args.top} by {args.sort} (per {n} requests) ===")
            pstats.Stats(prof).strip_dirs().sort_stats(args.sort).print_stats(args.top)
        connections.close_all()
    finally:
        if args.db == "postgres":
            subprocess.run(["dropdb", *pg, "--if-exists", args.pg_database], check=False)
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
