"""`meldpunt serve` logs no client address, not even for a request it cannot parse."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from meldpunt.lib.gunicorn_log import mask_addresses
from tests.mailservers import free_port

MELDPUNT = [sys.executable, "-m", "meldpunt"]
FORWARDED_FOR = "203.0.113.77"
MALFORMED = [
    b"GET /report/ HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n",
    b"\x16\x03\x01 not http at all\r\n\r\n",
    b"GET /report/ HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
]


def _env(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MELDPUNT_", "DJANGO_")) and k != "DATABASE_URL"
    }
    env.update(MELDPUNT_DATA_DIR=str(data_dir), MELDPUNT_WORKERS="1", MELDPUNT_THREADS="2")
    return env


def _raw(port: int, request: bytes) -> tuple[int, bytes]:
    """Send one request as bytes; the client port it came from and the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = sock.recv(4096)
        return int(sock.getsockname()[1]), answer


@pytest.mark.own_instance
def test_it_logs_no_client_address_for_malformed_requests(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    init = subprocess.run([*MELDPUNT, "init"], env=env, capture_output=True, timeout=120)
    assert init.returncode == 0, init.stderr
    port = free_port()
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    # The bind by setting, so the links agree with it and start-up prints no warning.
    env["MELDPUNT_BIND"] = f"127.0.0.1:{port}"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        server = subprocess.Popen(
            [*MELDPUNT, "serve"],
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    client_ports = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until it listens
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/report/", timeout=5).close()  # nosec B310
                break
            except OSError:
                time.sleep(0.2)
        for request in MALFORMED:
            client_port, answer = _raw(port, request)
            client_ports.append(client_port)
            assert answer.startswith(b"HTTP/1.1 400"), answer[:40]
        client_port, answer = _raw(
            port,
            b"GET /report/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"User-Agent: finder-browser/1.0\r\n"
            + f"X-Forwarded-For: {FORWARDED_FOR}\r\n\r\n".encode(),
        )
        client_ports.append(client_port)
        assert answer.startswith(b"HTTP/1.1 200")
    finally:
        server.terminate()
        server.wait(timeout=30)
    errors, access = err.read_text(), out.read_text()
    assert "Invalid request from ip=-" in errors  # gunicorn did log them, without the address
    assert "127.0.0.1" not in errors
    assert "GET /report/" in access  # the access log is on, without who asked
    for text in (errors, access):
        assert FORWARDED_FOR not in text and "finder-browser" not in text
        for client_port in client_ports:
            assert f":{client_port}" not in text and f" {client_port}" not in text


def test_it_masks_addresses_but_not_times_or_versions() -> None:
    line = "Invalid request from ip=192.0.2.1 ([2001:db8::1]:51234) at 14:29:19, gunicorn 23.0.0"
    assert (
        mask_addresses(line) == "Invalid request from ip=- ([-]:51234) at 14:29:19, gunicorn 23.0.0"
    )
