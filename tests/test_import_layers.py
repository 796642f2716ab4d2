"""The import contracts in pyproject.toml hold, and a broken one fails the test command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        ROOT / "meldpunt",
        tmp_path / "meldpunt",
        ignore=shutil.ignore_patterns("__pycache__", "locale", "static", "templates"),
    )
    return tmp_path


def test_it_keeps_every_contract() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_it_fails_when_lib_imports_the_domain(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    crypto = project / "meldpunt" / "lib" / "crypto.py"
    crypto.write_text(crypto.read_text() + "\nfrom meldpunt.reports import models  # noqa\n")
    done = lint(project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "lib imports nothing from meldpunt outside lib BROKEN" in done.stdout
    assert "meldpunt.lib.crypto -> meldpunt.reports.models" in done.stdout


def test_it_fails_when_the_domain_imports_an_audience(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    lifecycle = project / "meldpunt" / "reports" / "lifecycle.py"
    lifecycle.write_text(lifecycle.read_text() + "\nfrom meldpunt.triage import inbox  # noqa\n")
    done = lint(project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "The domain core imports no audience BROKEN" in done.stdout
