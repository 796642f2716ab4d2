"""An instance filled by an earlier version of Meldpunt still opens after the upgrade.

The earlier version is a fixed commit of main (there are no release tags yet), taken from
this repository's own history with `git archive`. It runs in a virtualenv of its own whose
site-packages are the current virtualenv's (a .pth line): the earlier commit pins the same
dependencies, which the test checks, so nothing is downloaded. If a later UPGRADE_FROM pins
others, they are installed into that virtualenv (pip's cache under .cache/) and shadow the
current ones. The old code runs as `python -m meldpunt` with PYTHONPATH=<old tree>: the
current checkout is nowhere on its path, which the fill script proves by printing where it
imported meldpunt from.

Old code: `meldpunt init`, `createstaff`, and a script that fills through its own services
(reports with attachments, a finder's and a staff message, an advisory draft; the audit log
is written by them). Current code, on the same data directory and database: `migrate`, then
every report, attachment, message and receipt code opens as stored, the audit chain
verifies, and `backup`/`restore` into an empty instance brings back the same.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.test_commands import MELDPUNT, operator_env

# The commit upgraded from: main as it was before upgrades were tested (2026-12-05). Move it
# forward when a release is cut; docs/upgrading.md says which versions may be skipped.
UPGRADE_FROM = "f057d981f8b0095fa39c754f846869504be779be"

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
PASSWORD = "correct horse battery staple"

FILL = r"""
import hashlib, json, meldpunt
from meldpunt.accounts.staff import find_staff
from django.utils import timezone
from meldpunt.advisories.models import Advisory
from meldpunt.lib.targets import parse_target
from meldpunt.lib.uploads import IncomingFile
from meldpunt.policy.commitments import current_version
from meldpunt.reports.messages import send_message
from meldpunt.reports.services import NewReport, add_message, submit_report

alice = find_staff("alice@example.org")
out = {"imported_from": meldpunt.__file__, "reports": []}
for i in range(3):
    poc = f"PROOF {i} \u00e9\u00e8 ".encode() * 200 + bytes(range(256))
    receipt = submit_report(NewReport(
        channel="web", language="nl", policy_version=current_version(), category="xss",
        out_of_scope=False, targets=[parse_target(f"https://app{i}.example.org/login")],
        content={"description": f"Stored XSS number {i} \u2013 <script>", "steps": "1. open"},
        finder={"email": f"finder{i}@example.net", "name": f"Finder {i}"},
        files=[IncomingFile(f"poc{i}.bin", "application/octet-stream", poc)]))
    more = f"more evidence {i}".encode()
    add_message(receipt.report, "finder", f"Finder writes again {i}",
                [IncomingFile(f"more{i}.txt", "text/plain", more)])
    send_message(receipt.report, alice, f"Thank you, we look into it ({i}).")
    out["reports"].append({
        "uid": str(receipt.report.uid), "reference": receipt.report.reference,
        "code": receipt.code, "description": receipt.report.content["description"],
        "email": receipt.report.finder["email"],
        "files": sorted([hashlib.sha256(poc).hexdigest(), hashlib.sha256(more).hexdigest()]),
        "messages": [f"Finder writes again {i}", f"Thank you, we look into it ({i})."],
    })
# An advisory as drafting leaves it (the workflow wants a fixed report; its rows are these).
now = timezone.now()
advisory = Advisory(identifier="MP-SA-2026-001", created_at=now, updated_at=now, language="en")
advisory.draft = {"title": "Stored XSS \u2013 fixed", "summary": "Escaped now.", "products": []}
advisory.save()
advisory.reports.set([receipt.report])
out["advisory"] = [advisory.identifier, advisory.draft["title"], [receipt.report.reference]]
print(json.dumps(out))
"""

CHECK = r"""
import hashlib, json, os
from meldpunt.advisories.models import Advisory
from meldpunt.portal.forms import ReceiptForm
from meldpunt.reports.models import Report
from meldpunt.reports.services import read_attachment

codes = json.loads(os.environ["UPGRADE_CODES"])
out = {"reports": [], "advisories": [
    [a.identifier, a.draft["title"], [r.reference for r in a.reports.all()]]
    for a in Advisory.objects.all()
]}
for report in Report.objects.order_by("pk"):
    form = ReceiptForm(data={"code": codes[str(report.uid)]}, client="upgrade-test")
    out["reports"].append({
        "uid": str(report.uid), "reference": report.reference,
        "signs_in": form.is_valid() and form.report.pk == report.pk,
        "description": report.content["description"], "email": report.finder["email"],
        "files": sorted(hashlib.sha256(read_attachment(a)).hexdigest()
                        for a in report.attachments.all()),
        "messages": [m.body["text"] for m in report.messages.order_by("pk")],
    })
print(json.dumps(out))
"""


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, check=False)


def _dependencies(pyproject: Path) -> list[str]:
    return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])


def _old_tree() -> Path:
    """The earlier commit's files, extracted once per commit under .cache/."""
    cache = ROOT / ".cache" / f"upgrade-{UPGRADE_FROM}"
    tree = cache / "tree"
    if (tree / "pyproject.toml").exists():
        return tree
    if _git("cat-file", "-e", f"{UPGRADE_FROM}^{{commit}}").returncode != 0:
        pytest.fail(
            f"commit {UPGRADE_FROM} (UPGRADE_FROM) is not in this repository's history: "
            "the upgrade test needs a full clone of main (git fetch --unshallow)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=cache, prefix="tree-"))
    archive = _git("archive", UPGRADE_FROM)
    assert archive.returncode == 0, archive.stderr
    subprocess.run(["tar", "-x", "-C", str(partial)], input=archive.stdout, check=True)
    try:
        partial.rename(tree)  # atomic: a parallel run either wins or finds it done
    except OSError:
        shutil.rmtree(partial)
    return tree


def _old_venv(tree: Path) -> Path:
    """A virtualenv for the old code that reuses the current one's packages (same pins)."""
    venv = tree.parent / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        partial = Path(tempfile.mkdtemp(dir=tree.parent, prefix="venv-"))
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(partial)], check=True)
        try:
            partial.rename(venv)
        except OSError:
            shutil.rmtree(partial)
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # Rewritten each run: it names the current virtualenv, which may move between checkouts.
    current = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "meldpunt-current-venv.pth").write_text("".join(f"{p}\n" for p in sorted(current)))
    old, new = _dependencies(tree / "pyproject.toml"), _dependencies(ROOT / "pyproject.toml")
    if old != new:
        # Other pins: the old ones go into this venv's own site-packages, ahead of the .pth.
        pip_cache = ROOT / ".cache" / "pip"
        subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
             "--cache-dir", str(pip_cache), *old],
            check=True,
        )  # fmt: skip
    return python


def _ok(command: list[str], env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, f"{command[2:]} failed:\n{result.stderr[-3000:]}"
    return result.stdout


def _printed_json(output: str) -> Any:
    """The JSON line a script printed (`shell` may print a line of its own before it)."""
    return json.loads(output.strip().splitlines()[-1])


def _database(name: str) -> str:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_SERVER}/{name}"


@pytest.fixture(scope="module")
def old_python() -> tuple[Path, Path]:
    tree = _old_tree()
    assert (tree / "meldpunt" / "__main__.py").exists()
    return _old_venv(tree), tree


@pytest.fixture(params=["sqlite", "postgres"])
def databases(request: pytest.FixtureRequest) -> Any:
    """Database settings for the upgraded instance and the one its backup is restored into."""
    if request.param == "sqlite":
        yield {}, {}
        return
    names = [f"meldpunt_upgrade_{os.getpid()}", f"meldpunt_upgrade_{os.getpid()}_restored"]
    urls = [_database(name) for name in names]
    yield {"DATABASE_URL": urls[0]}, {"DATABASE_URL": urls[1]}
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.own_instance
@pytest.mark.xdist_group("upgrade")  # one worker: the earlier version's tree and venv once
def test_it_opens_everything_an_earlier_version_stored(
    old_python: tuple[Path, Path], databases: Any, tmp_path: Path
) -> None:
    python, tree = old_python
    db, restored_db = databases
    data = tmp_path / "data"
    # The old code sees only its own tree; the current code runs from this checkout.
    old_env = {**operator_env(data, **db), "PYTHONPATH": str(tree)}
    old = [str(python), "-m", "meldpunt"]
    _ok([*old, "init"], old_env, tmp_path)
    _ok([*old, "createstaff", "alice@example.org", "--role", "triager"],
        {**old_env, "MELDPUNT_STAFF_PASSWORD": PASSWORD}, tmp_path)  # fmt: skip
    filled = _printed_json(_ok([*old, "shell", "-c", FILL], old_env, tmp_path))
    assert Path(filled["imported_from"]).is_relative_to(tree)

    new_env = {**operator_env(data, **db), "PYTHONPATH": str(ROOT)}
    _ok([*MELDPUNT, "migrate"], new_env, ROOT)
    codes = json.dumps({r["uid"]: r["code"] for r in filled["reports"]})
    expected = {
        "advisories": [filled["advisory"]],
        "reports": [
            {**{k: v for k, v in r.items() if k != "code"}, "signs_in": True}
            for r in filled["reports"]
        ],
    }
    check = [*MELDPUNT, "shell", "-c", CHECK]
    assert _printed_json(_ok(check, {**new_env, "UPGRADE_CODES": codes}, ROOT)) == expected
    assert "audit log intact" in _ok([*MELDPUNT, "audit", "verify"], new_env, ROOT)

    backup = tmp_path / "upgraded.backup"
    _ok([*MELDPUNT, "backup", str(backup)], new_env, ROOT)
    restored_env = {
        **operator_env(tmp_path / "restored", **restored_db),
        "PYTHONPATH": str(ROOT),
        "MELDPUNT_KEY_FILE": str(data / "keys" / "master-keys.json"),
    }
    assert "6 attachments" in _ok([*MELDPUNT, "restore", str(backup)], restored_env, ROOT)
    assert _printed_json(_ok(check, {**restored_env, "UPGRADE_CODES": codes}, ROOT)) == expected
    assert "audit log intact" in _ok([*MELDPUNT, "audit", "verify"], restored_env, ROOT)
