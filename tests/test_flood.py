"""Rate limits hold under a flood, in the database or in Redis, without shutting others out."""

from __future__ import annotations

import subprocess
import threading
import uuid
from pathlib import Path

import pytest
import redis
from django.test import Client, override_settings

from bench.submit import Browser, FormInputs, multipart, report_fields
from meldpunt import ratelimit
from meldpunt.models import RateLimitBucket
from meldpunt.reports.models import Report
from tests.conftest import submit, wait_for_http
from tests.mailservers import free_port
from tests.test_commands import MELDPUNT, operator_env, run

REDIS = "redis://127.0.0.1:6379/15"
pytestmark = pytest.mark.django_db


@pytest.fixture
def window() -> ratelimit.Limit:
    # A scope of its own per test: Redis is shared by every test run on this machine.
    from datetime import timedelta

    return ratelimit.Limit(f"test-{uuid.uuid4().hex}", 3, timedelta(minutes=5))


def test_it_counts_in_redis_when_configured(window: ratelimit.Limit) -> None:
    with override_settings(MELDPUNT_REDIS_URL=REDIS):
        assert [ratelimit.hit(window, "198.51.100.7") for _ in range(3)] == [True] * 3
        ratelimit.refund(window, "198.51.100.7")  # a correct code gives its attempt back
        assert [ratelimit.hit(window, "198.51.100.7") for _ in range(2)] == [True, False]
        assert ratelimit.hit(window, "203.0.113.1")  # another client has its own count
    assert not RateLimitBucket.objects.exists()
    keys = redis.Redis.from_url(REDIS).keys("meldpunt:rl:*")
    assert keys and all(redis.Redis.from_url(REDIS).ttl(k) > 0 for k in keys)


def test_it_falls_back_to_the_database_when_redis_is_down(window: ratelimit.Limit) -> None:
    ratelimit._redis.cache_clear()
    with override_settings(MELDPUNT_REDIS_URL="redis://127.0.0.1:1/0"):
        assert [ratelimit.hit(window, "198.51.100.7") for _ in range(4)] == [True] * 3 + [False]
    assert RateLimitBucket.objects.exists()


def test_a_refused_attempt_does_not_count_against_the_later_limits(
    window: ratelimit.Limit,
) -> None:
    everyone = ratelimit.Limit(f"{window.scope}-all", 100, window.window)
    results = [
        ratelimit.first_refused((window, "198.51.100.7"), (everyone, "all")) for _ in range(5)
    ]
    assert results == [None] * 3 + [window] * 2
    # Only the three attempts within the client's own limit used the shared one.
    assert [ratelimit.hit(everyone, "all") for _ in range(2)] == [True, True]
    bucket = RateLimitBucket.objects.get(key=ratelimit._bucket_key(everyone, "all"))
    assert bucket.count == 5


@override_settings(MELDPUNT_SUBMIT_GLOBAL_LIMIT=3)
def test_it_has_a_global_brake_on_submissions() -> None:
    for n in range(3):
        submit(Client(REMOTE_ADDR=f"198.51.100.{n + 1}"))
    from tests.conftest import form_post

    response = form_post(Client(REMOTE_ADDR="203.0.113.50"), description="fourth")
    assert response.status_code == 429
    assert "unusual number of reports" in response.content.decode()
    assert Report.objects.count() == 3


def _post_report(port: int, client_ip: str) -> int:
    browser = Browser(port)
    headers = {"X-Forwarded-For": client_ip}
    status, page = browser.request("GET", "/report/", headers=headers)
    if status != 200:
        return status
    parser = FormInputs()
    parser.feed(page.decode())
    body, ctype = multipart(report_fields(parser.values), [])
    status, _page = browser.request(
        "POST",
        "/report/",
        body,
        {**headers, "Content-Type": ctype, "Referer": f"http://127.0.0.1:{port}/report/"},
    )
    return status


@pytest.mark.own_instance
@pytest.mark.parametrize("backend", ["database", "redis"])
def test_legitimate_finders_get_through_while_one_client_floods(
    backend: str, tmp_path: Path
) -> None:
    extra = {
        "MELDPUNT_WORKERS": "3",
        "MELDPUNT_TRUSTED_PROXIES": "1",
        "MELDPUNT_SUBMIT_CLIENT_LIMIT": "10",
        "MELDPUNT_BASE_URL": "http://127.0.0.1:8000",
    }
    if backend == "redis":
        # No flush: this instance's fresh key file makes its counter names its own.
        extra["MELDPUNT_REDIS_URL"] = REDIS
    env = operator_env(tmp_path / "data", **extra)
    assert run(["init"], env).returncode == 0
    port = free_port()
    env["MELDPUNT_BASE_URL"] = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*MELDPUNT, "serve", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/report/")
        flood: list[int] = []
        legit: list[int] = []

        def flooder() -> None:
            for _ in range(15):
                flood.append(_post_report(port, "198.51.100.66"))

        def finder(n: int) -> None:
            legit.append(_post_report(port, f"203.0.113.{n + 1}"))

        threads = [threading.Thread(target=flooder) for _ in range(3)]
        threads += [threading.Thread(target=finder, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert legit == [200] * 8
    assert flood.count(200) == 10 and flood.count(429) == 35
