"""Where the inbox page spends its time: GET /triage/ in-process, one thread, on kept data.

    .venv/bin/python bench/profile_inbox.py DATA_DIR --pg-database NAME [-n 40]
        [--path /triage/] [--sort tottime|cumulative] [--top 30] [--commit report|heartbeat]

DATA_DIR and the database come from `bench/triage.py --db postgres --keep` (any
--reports; 20,000 is enough for the page's own work). Signs in as triager1 as
bench/triage.py does, warms up, then prints the page's and the floor page's p50/p95
wall time without the profiler, the SQL statements of one request, and the top
functions of a cProfile run over the same number of requests. A path under /api/ is
asked with a read token instead, beside the bare API floor (bench/views.py `floor_api`).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the root, for bench.settings
sys.path.insert(0, str(Path(__file__).resolve().parent))
import triage


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--pg-database", default="meldpunt_bench_triage")
    parser.add_argument("--requests", "-n", type=int, default=40)
    parser.add_argument("--path", default="/triage/")
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--commit",
        choices=["report", "heartbeat"],
        help="before each request, commit a report's row (nothing kept can be used) or a "
        "heartbeat elsewhere",
    )
    args = parser.parse_args()
    triage.setup_django("postgres", args.data_dir, args.pg_database)

    from django.contrib.auth import get_user_model
    from django.test import Client

    from meldpunt.accounts.gate import SECOND_FACTOR_AT

    user = get_user_model().objects.get(username="triager1@example.org")
    floor = "/bench/floor-staff-page/"
    if args.path.startswith("/api/"):  # the API: a read token, and the bare API as the floor
        token = triage.api_token(user)
        client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
        floor = "/bench/floor-api/reports"
    else:
        client = Client(HTTP_HOST="127.0.0.1", HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        session = client.session
        session[SECOND_FACTOR_AT] = time.time() + 86400
        session.save()

    def prepare() -> None:
        if args.commit:
            triage.commit_elsewhere(args.commit)

    def get(path: str) -> None:
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}")

    for path in (args.path, floor):
        for _ in range(5):
            get(path)
        times = []
        for _ in range(args.requests):
            prepare()
            t = time.perf_counter()
            get(path)
            times.append((time.perf_counter() - t) * 1000)
        print(f"{path}: p50 {triage.pct(times, 50):.1f} / p95 {triage.pct(times, 95):.1f} ms")

    captured: list[tuple[float, str, object]] = []
    prepare()
    with triage.capture_sql(captured):
        get(args.path)
    print(f"\n{len(captured)} statements, {sum(q[0] for q in captured):.1f} ms:")
    for ms, sql, _params in captured:
        print(f"  {ms:7.2f}  {sql if os.environ.get('FULL_SQL') else sql[:160]}")

    profile = cProfile.Profile()
    for _ in range(args.requests):
        prepare()
        profile.enable()
        get(args.path)
        profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
