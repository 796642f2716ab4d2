"""The operator's commands, run as an operator runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client, override_settings

from meldpunt.lib import crypto
from meldpunt.reports.models import Attachment, Report
from meldpunt.reports.services import read_attachment
from tests.conftest import submit
from tests.mailservers import free_port

MELDPUNT = [sys.executable, "-m", "meldpunt"]


def operator_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MELDPUNT_", "DJANGO_")) and k != "DATABASE_URL"
    }
    env.update(MELDPUNT_DATA_DIR=str(data_dir), **extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MELDPUNT, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.own_instance
def test_it_initialises_a_data_directory_once(tmp_path):
    env = operator_env(tmp_path / "data")
    first = run(["init"], env)
    assert first.returncode == 0, first.stderr
    assert "password:" in first.stdout
    key_file = tmp_path / "data" / "keys" / "master-keys.json"
    assert crypto.key_file_is_private(key_file)
    assert (tmp_path / "data" / "meldpunt.sqlite3").exists()
    keys_before = key_file.read_bytes()
    second = run(["init"], env)
    assert second.returncode == 0, second.stderr
    assert "password:" not in second.stdout  # the account exists; nothing shown again
    assert key_file.read_bytes() == keys_before


# The tests of each of these fixtures run on one worker: made once (`init`), not per worker.
INITIALISED = pytest.mark.xdist_group("commands_initialised")
HTTPS = pytest.mark.xdist_group("commands_https")


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory made by `meldpunt init` (keys, database): `check` only reads it."""
    data = tmp_path_factory.mktemp("init") / "data"
    assert run(["init"], operator_env(data)).returncode == 0
    return data


@pytest.mark.own_instance
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MELDPUNT_FIRST_RESPONSE_DAYS", "three", "MELDPUNT_FIRST_RESPONSE_DAYS='three' is not"),
        ("MELDPUNT_FIRST_RESPONSE_DAYS", "0", "must be at least 1"),
        ("MELDPUNT_BASE_URL", "ftp://x", "MELDPUNT_BASE_URL='ftp://x' must look like"),
        ("MELDPUNT_SECURITY_CONTACT", "nobody", "is not an e-mail address"),
        ("MELDPUNT_LANGUAGES", "nl,de", "'de' is not one of nl, en, fr"),
        ("DATABASE_URL", "mysql://x/y", "must point to SQLite or PostgreSQL"),
        ("MELDPUNT_DUPLICATE_CREDIT", "both", "MELDPUNT_DUPLICATE_CREDIT='both' must be"),
        ("MELDPUNT_METRICS", "true", "needs MELDPUNT_METRICS_TOKEN or MELDPUNT_METRICS_ALLOW"),
        ("MELDPUNT_METRICS_ALLOW", "10.0.0.0/33", "'10.0.0.0/33' is not an address or network"),
    ],
)
@INITIALISED
def test_it_explains_a_bad_configuration_in_one_line(initialised, variable, value, message):
    env = operator_env(initialised)
    result = run(["check"], {**env, variable: value})
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if message in ln]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.own_instance
def test_it_explains_a_missing_key_file(tmp_path):
    result = run(["check"], operator_env(tmp_path / "empty"))
    assert result.returncode != 0
    assert "does not exist; run `meldpunt init`" in result.stderr


@pytest.mark.own_instance
def test_it_refuses_a_key_file_others_can_read(tmp_path):
    env = operator_env(tmp_path / "data")
    assert run(["init"], env).returncode == 0
    (tmp_path / "data" / "keys" / "master-keys.json").chmod(0o644)
    result = run(["check"], env)
    assert result.returncode != 0
    assert "readable by other users" in result.stderr


@pytest.mark.own_instance
def test_it_serves_pages_and_static_files_with_gunicorn(tmp_path):
    env = operator_env(tmp_path / "data", MELDPUNT_WORKERS="2")
    assert run(["init"], env).returncode == 0
    port = free_port()
    server = subprocess.Popen(
        [*MELDPUNT, "serve", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        page = ""
        # Start-up runs collectstatic and checks migrations: seconds on a loaded machine.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
                    page = response.read().decode()
                    assert response.headers["Server"].startswith("gunicorn")
                break
            except OSError:
                time.sleep(0.1)
        css = next(
            part.split('"')[0] for part in page.split('href="/static/')[1:] if '.css"' in part
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/{css}") as response:
            assert response.status == 200
            assert "text/css" in response.headers["Content-Type"]
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "Booting worker" in output
    # No MELDPUNT_SMTP_HOST: the operator is told where the mail goes instead.
    sink = (tmp_path / "data" / "mail-sink").resolve()
    assert f"Outbound mail is not sent: mails are written to {sink}" in output
    assert "127.0.0.1 " not in output.split("Listening at")[-1]  # no client address logged


@pytest.mark.own_instance
def test_it_refuses_to_serve_an_unmigrated_database(tmp_path):
    env = operator_env(tmp_path / "data")
    assert run(["init"], env).returncode == 0
    other = {**env, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    result = run(["serve", "--bind", "127.0.0.1:1"], other)
    assert result.returncode != 0
    assert "run `meldpunt migrate` first" in result.stderr


@pytest.fixture
def private_key_file(tmp_path):
    copy = tmp_path / "keys.json"
    shutil.copy(settings.MELDPUNT_KEY_FILE, copy)
    crypto.load_keyring.cache_clear()
    with override_settings(MELDPUNT_KEY_FILE=copy):
        yield copy
    crypto.load_keyring.cache_clear()


def test_it_rotates_master_keys_and_keeps_everything_readable(db, private_key_file):
    sent = submit(
        Client(),
        description="rotate me",
        files={"attachments": [SimpleUploadedFile("a.txt", b"attached")]},
    )
    old = crypto.load_keyring().primary
    call_command("rotate-keys", "--retire-old", stdout=open(os.devnull, "w"))  # noqa: SIM115
    keyring = crypto.load_keyring()
    assert keyring.primary != old
    assert list(keyring.master_keys) == [keyring.primary]
    report = Report.objects.get(pk=sent.report.pk)
    assert keyring.key_id_of(bytes(report.content_blob)) == keyring.primary
    assert report.content["description"] == "rotate me"
    att = Attachment.objects.get(report=report)
    assert read_attachment(att) == b"attached"
    assert att.meta["name"] == "a.txt"
    # The receipt code still works: it is keyed with the index key, which does not rotate.
    assert Client().post("/status/", {"code": sent.code}).status_code == 303


@pytest.mark.own_instance
def test_it_runs_the_worker_once(tmp_path):
    env = operator_env(tmp_path / "data")
    assert run(["init"], env).returncode == 0
    result = run(["worker", "--once"], env)
    assert result.returncode == 0, result.stderr


@pytest.mark.own_instance
def test_it_reports_nothing_on_check_deploy_in_production(tmp_path):
    env = operator_env(
        tmp_path / "data",
        MELDPUNT_BASE_URL="https://security.example.org",
        MELDPUNT_SECRET_KEY="k" * 20 + "-production-secret-" + "x" * 40,
        MELDPUNT_SSL_REDIRECT="1",
        MELDPUNT_TRUSTED_PROXIES="1",
    )
    assert run(["init"], env).returncode == 0
    result = run(["check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.fixture(scope="module")
def https_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised data directory for an https deployment (init makes keys: slow)."""
    data = tmp_path_factory.mktemp("https") / "data"
    env = operator_env(data, MELDPUNT_BASE_URL="https://security.example.org")
    assert run(["init"], env).returncode == 0
    return data


@pytest.mark.own_instance
@HTTPS
def test_it_passes_check_deploy_with_an_https_base_url_by_default(https_data):
    # No MELDPUNT_SSL_REDIRECT: the proxy redirects (README), so W008 does not apply.
    env = operator_env(
        https_data,
        MELDPUNT_BASE_URL="https://security.example.org",
        MELDPUNT_SECRET_KEY="k" * 20 + "-production-secret-" + "x" * 40,
    )
    result = run(["check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "W008" not in result.stdout + result.stderr


@pytest.mark.own_instance
@HTTPS
@pytest.mark.parametrize(
    ("extra", "redirects"),
    [
        ({"MELDPUNT_TRUSTED_PROXIES": "1"}, True),
        ({"MELDPUNT_TRUSTED_PROXIES": "1", "MELDPUNT_SSL_REDIRECT": "0"}, False),
        ({}, False),
    ],
)
def test_it_redirects_plain_http_itself_when_a_trusted_proxy_tells_the_scheme(
    https_data, extra, redirects
):
    env = operator_env(https_data, MELDPUNT_BASE_URL="https://security.example.org", **extra)
    probe = (
        "import django; django.setup(); from django.test import Client; "
        "r = Client().get('/report/', HTTP_X_FORWARDED_PROTO='http', "
        "HTTP_HOST='security.example.org'); print(r.status_code, r.get('Location', ''))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**env, "DJANGO_SETTINGS_MODULE": "meldpunt.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    status, _, location = result.stdout.strip().partition(" ")
    if redirects:
        assert (status, location) == ("301", "https://security.example.org/report/")
    else:
        assert status == "200"
