"""MELDPUNT_BIND: where `meldpunt serve` listens, and the links that follow from it."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.mailservers import free_port
from tests.test_commands import MELDPUNT, operator_env, run

# One worker runs the whole module: its initialised data directory is made once.
pytestmark = [pytest.mark.own_instance, pytest.mark.xdist_group("bind_address")]

SHOW_URLS = (
    "from django.conf import settings; print(settings.MELDPUNT_BASE_URL, settings.ALLOWED_HOSTS)"
)


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("bind") / "data"
    assert run(["init"], operator_env(data)).returncode == 0
    return data


def fetch(port: int, path: str) -> str:
    for _ in range(150):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as response:
                return str(response.read().decode())
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{path} never answered")


def test_it_serves_on_the_bind_address_and_links_to_it(tmp_path):
    port = free_port()
    env = operator_env(tmp_path / "data", MELDPUNT_BIND=f"127.0.0.1:{port}", MELDPUNT_WORKERS="1")
    first = run(["init"], env)
    assert first.returncode == 0, first.stderr
    assert f"sign in at: http://127.0.0.1:{port}/triage/login/" in first.stdout
    server = subprocess.Popen(
        [*MELDPUNT, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        text = fetch(port, "/.well-known/security.txt")
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert f"Canonical: http://127.0.0.1:{port}/.well-known/security.txt" in text
    assert ":8000" not in text
    assert f"links name http://127.0.0.1:{port}/" in output
    assert "Warning" not in output


@pytest.mark.parametrize(
    ("bind", "base_url", "allowed"),
    [
        ("[::1]:8123", "http://[::1]:8123", "[::1]"),
        ("[2001:db8::5]:8123", "http://[2001:db8::5]:8123", "[2001:db8::5]"),
        ("0.0.0.0:8124", "http://127.0.0.1:8124", "127.0.0.1"),
        ("localhost:8125", "http://localhost:8125", "localhost"),
    ],
)
def test_it_derives_the_base_url_from_the_bind(initialised, bind, base_url, allowed):
    result = run(["shell", "-c", SHOW_URLS], operator_env(initialised, MELDPUNT_BIND=bind))
    assert result.returncode == 0, result.stderr
    shown_url, _, hosts = result.stdout.strip().splitlines()[-1].partition(" ")
    assert shown_url == base_url
    assert f"'{allowed}'" in hosts


def test_it_warns_when_the_base_url_names_this_machine_at_another_port(initialised):
    env = operator_env(
        initialised, MELDPUNT_BIND="127.0.0.1:8123", MELDPUNT_BASE_URL="http://127.0.0.1:8000"
    )
    result = run(["check"], env)
    assert result.returncode == 0, result.stderr  # a warning, not an error
    lines = [ln for ln in result.stderr.splitlines() if "meldpunt.W001" in ln]
    assert len(lines) == 1, result.stderr
    assert "Meldpunt listens on 127.0.0.1:8123" in lines[0]
    # A proxy's name, or the same address spelled otherwise, is no mistake.
    for base_url in ["https://security.example.org", "http://localhost:8123/"]:
        result = run(["check"], {**env, "MELDPUNT_BASE_URL": base_url})
        assert result.returncode == 0, result.stderr
        assert "meldpunt.W00" not in result.stderr


def test_it_warns_that_a_wildcard_bind_needs_a_base_url(initialised):
    result = run(["check"], operator_env(initialised, MELDPUNT_BIND="0.0.0.0:8123"))
    assert result.returncode == 0, result.stderr
    assert "meldpunt.W002" in result.stderr
    assert "set MELDPUNT_BASE_URL" in result.stderr


def test_it_explains_a_bad_bind_in_one_line(initialised):
    result = run(["check"], operator_env(initialised, MELDPUNT_BIND="127.0.0.1:http"))
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if "MELDPUNT_BIND='127.0.0.1:http'" in ln]
    assert len(lines) == 1, result.stderr


def test_it_warns_when_serve_binds_elsewhere_than_the_links(initialised):
    port = free_port()
    env = operator_env(initialised, MELDPUNT_BASE_URL="http://127.0.0.1:8000", MELDPUNT_WORKERS="1")
    server = subprocess.Popen(
        [*MELDPUNT, "serve", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        fetch(port, "/")
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    warning = [ln for ln in output.splitlines() if ln.startswith("Warning:")]
    assert len(warning) == 1, output
    assert f"listens on 127.0.0.1:{port}" in warning[0]
