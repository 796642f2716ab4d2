"""Under `meldpunt serve` the request counts of all gunicorn workers add up in one scrape."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.mailservers import free_port
from tests.test_log_privacy import MELDPUNT, _env

TOKEN = "metrics-token-for-tests-0123456789"
REQUESTS = 40


def _get(url: str, token: str = "") -> bytes:
    # Our own server on loopback, over http:// only.
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        body: bytes = answer.read()
        return body


def _healthz_count(body: bytes) -> float:
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            wanted = {"view": "healthz", "method": "GET", "status": "2xx"}
            if s.name == "meldpunt_http_requests_total" and s.labels == wanted:
                return s.value
    return 0.0


@pytest.mark.own_instance
def test_a_scrape_adds_up_every_workers_requests(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = _env(data)
    init = subprocess.run([*MELDPUNT, "init"], env=env, capture_output=True, timeout=120)
    assert init.returncode == 0, init.stderr
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env.update(
        MELDPUNT_BIND=f"127.0.0.1:{port}",
        MELDPUNT_WORKERS="2",
        MELDPUNT_METRICS="true",
        MELDPUNT_METRICS_TOKEN=TOKEN,
    )
    server = subprocess.Popen(
        [*MELDPUNT, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(f"{base}/metrics", TOKEN)
                break
            except OSError:
                assert time.monotonic() < deadline, "meldpunt serve did not answer"
                time.sleep(0.2)
        before = _healthz_count(_get(f"{base}/metrics", TOKEN))
        with ThreadPoolExecutor(8) as pool:  # at once, so that several workers answer
            list(pool.map(_get, [f"{base}/healthz"] * REQUESTS))
        scrapes = [_healthz_count(_get(f"{base}/metrics", TOKEN)) for _ in range(5)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    # Whichever worker answers the scrape, it reports all of them: each worker writes its
    # counts to its own file in the data directory (prometheus-client's multiprocess mode).
    assert scrapes == [before + REQUESTS] * 5
    assert list((data / "metrics").glob("counter_*.db"))
