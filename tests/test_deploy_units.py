"""deploy/systemd: hardened units that start real `meldpunt` commands, and deploy/'s limits."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import get_commands, load_command_class

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
ENV_FILE = DEPLOY / "systemd" / "meldpunt.env.example"
SETTINGS_SOURCE = Path(settings.BASE_DIR / "settings.py").read_text()
BINARY = "/opt/meldpunt/.venv/bin/meldpunt"
HARDENING = {
    "User": "meldpunt",
    "Group": "meldpunt",
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "RestrictSUIDSGID": "yes",
    "SystemCallArchitectures": "native",
    "Restart": "on-failure",
    "UMask": "0077",
    "EnvironmentFile": "/etc/meldpunt/meldpunt.env",
}


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values in order]}} (systemd allows repeated keys)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r} is no KEY=value"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def env_file() -> dict[str, str]:
    lines = [ln for ln in ENV_FILE.read_text().splitlines() if ln and not ln.startswith("#")]
    return dict(ln.split("=", 1) for ln in lines)


def test_it_ships_a_unit_per_long_running_command() -> None:
    assert [u.name for u in UNITS] == [
        "meldpunt-fetchmail.service",
        "meldpunt-serve.service",
        "meldpunt-smtpd.service",
        "meldpunt-worker.service",
    ]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_it_hardens_every_unit(unit: Path) -> None:
    service = parse_unit(unit)["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == [value], f"{unit.name}: {key}={service.get(key)}"
    # Writable: the data directory the environment file names, and nothing else.
    assert service["ReadWritePaths"] == [env_file()["MELDPUNT_DATA_DIR"]]
    assert service["WorkingDirectory"] == [env_file()["MELDPUNT_DATA_DIR"]]
    # No capability at all (the last assignment wins; empty means none).
    assert service["CapabilityBoundingSet"][-1] == ""
    assert service["AmbientCapabilities"][-1] == ""
    assert service["SystemCallFilter"][0] == "@system-service"


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_it_starts_a_real_meldpunt_command_with_valid_options(unit: Path) -> None:
    (exec_start,) = parse_unit(unit)["Service"]["ExecStart"]
    binary, name, *args = shlex.split(exec_start)
    assert binary == BINARY
    assert unit.name == f"meldpunt-{name}.service"
    commands = get_commands()
    assert name in commands, f"{unit.name}: `meldpunt {name}` does not exist"
    # The command's own parser accepts the arguments (it exits on an unknown option).
    command = load_command_class(commands[name], name)
    command.create_parser("meldpunt", name).parse_args(args)


def test_its_environment_file_sets_only_real_settings() -> None:
    env = env_file()
    for name in env:
        assert f'"{name}"' in SETTINGS_SOURCE, f"meldpunt/settings.py does not read {name}"
    assert env["MELDPUNT_BASE_URL"].startswith("https://")
    assert env["MELDPUNT_TRUSTED_PROXIES"] == "1"
    # The TLS fronts forward to where `meldpunt serve` listens.
    assert f"server {env['MELDPUNT_BIND']};" in (DEPLOY / "nginx" / "meldpunt.conf").read_text()
    assert f"reverse_proxy {env['MELDPUNT_BIND']}" in (DEPLOY / "Caddyfile").read_text()


def test_the_fronts_take_request_bodies_as_large_as_meldpunt_does() -> None:
    limit = settings.MELDPUNT_MAX_REQUEST_BYTES
    assert limit == 10 * 10 * 1024 * 1024 + 16 * 50_000 + 200_000  # the defaults, as documented
    nginx = (DEPLOY / "nginx" / "meldpunt.conf").read_text()
    assert re.findall(r"^\s*client_max_body_size (\d+);", nginx, re.MULTILINE) == [str(limit)]
    caddy = (DEPLOY / "Caddyfile").read_text()
    assert re.findall(r"^\s*max_size (\d+)$", caddy, re.MULTILINE) == [str(limit)]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is missing")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    # The units name the installed binary; verify checks that it exists, so point them at
    # this environment's.
    meldpunt = Path(sys.executable).parent / "meldpunt"
    assert meldpunt.exists()
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text().replace(BINARY, str(meldpunt)))
    result = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # An unknown key or a bad value is only a warning to systemd, but a mistake here.
    assert result.returncode == 0 and result.stderr == "", result.stderr
