"""The organisation's OpenPGP key: made by init, shown, rolled over, imported, sealed at rest."""

from __future__ import annotations

import re
from io import BytesIO, StringIO
from pathlib import Path
from types import SimpleNamespace

import pysequoia
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from meldpunt.policy import keys
from meldpunt.policy.models import OrgKey
from tests.conftest import GnuPG
from tests.test_commands import operator_env, run
from tests.test_encryption_at_rest import database_bytes


def keys_command(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("keys", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def export_secret(gpg: GnuPG, fingerprint: str, *extra: str) -> bytes:
    return bytes(gpg.run(*extra, "--armor", "--export-secret-keys", fingerprint).stdout)


def test_it_creates_a_v4_curve25519_key_that_gnupg_reads(db, gpg):
    out, _err = keys_command("create")
    fingerprint = out.split()[1]
    assert out == f"created {fingerprint} (now primary)\n"
    assert keys.fingerprint() == fingerprint
    packets = gpg.run("--list-packets", input=keys.public_armored().encode()).stdout.decode()
    assert re.search(r":public key packet:\n\s+version 4, algo 22", packets)  # Ed25519
    assert re.search(r":public sub key packet:\n\s+version 4, algo 18", packets)  # Cv25519
    assert "version 6" not in packets
    gpg.import_key(keys.public_armored())
    listing = gpg.run("--with-colons", "--list-keys").stdout.decode()
    assert f"fpr:::::::::{fingerprint}:" in listing
    assert "Example Org Security <security@example.org>" in listing


def test_it_shows_the_primary_key_and_keeps_the_old_one_after_a_rollover(org_key):
    assert keys_command("show")[0] == f"{org_key.fingerprint}\n"
    new = keys_command("create")[0].split()[1]
    assert keys_command("show")[0] == (
        f"{new}\n{org_key.fingerprint} (older, kept for decryption)\n"
    )
    assert keys.primary().fingerprint == new
    assert [k.fingerprint for k in keys.all_keys()] == [new, org_key.fingerprint]


def test_it_explains_that_there_is_no_key_yet(db):
    with pytest.raises(
        CommandError, match=r"^no organisation key yet; run `meldpunt keys create`$"
    ):
        keys_command("show")


def test_it_decrypts_mail_sent_to_the_old_key_after_a_rollover(org_key):
    old_mail = pysequoia.encrypt(b"for the old key", recipients=[org_key.cert])
    keys.create_key()
    assert keys.decrypt(old_mail).plaintext == b"for the old key"


@pytest.mark.own_instance
def test_init_creates_the_key_once(tmp_path):
    env = operator_env(tmp_path / "data")
    first = run(["init"], env)
    assert first.returncode == 0, first.stderr
    created = re.search(r"Created the organisation's OpenPGP key ([0-9A-F]{40})", first.stdout)
    assert created
    second = run(["init"], env)
    assert second.returncode == 0, second.stderr
    assert "OpenPGP key" not in second.stdout
    shown = run(["keys", "show"], env)
    assert shown.stdout == f"{created.group(1)}\n"


def test_it_imports_a_secret_key_made_by_gnupg(db, gpg, tmp_path):
    fingerprint = gpg.make_key("Example Org Security <security@example.org>")
    path = tmp_path / "secret.asc"
    path.write_bytes(export_secret(gpg, fingerprint))
    out, err = keys_command("import", str(path))
    assert out == f"imported {fingerprint} (now primary)\n"
    assert err == ""
    assert keys.fingerprint() == fingerprint
    # The imported key both signs (gpg checks it) and decrypts (gpg encrypted to it).
    verified = gpg.run("--verify", input=keys.sign_cleartext("hello\n").encode(), check=False)
    assert verified.returncode == 0, verified.stderr
    mail = gpg.run(
        "--armor", "--trust-model", "always", "--encrypt", "-r", fingerprint, input=b"secret"
    ).stdout
    assert keys.decrypt(mail).plaintext == b"secret"


def test_it_warns_when_the_imported_key_lacks_the_contact_address(db, gpg, tmp_path):
    fingerprint = gpg.make_key("Somebody <somebody@example.net>")
    path = tmp_path / "secret.asc"
    path.write_bytes(export_secret(gpg, fingerprint))
    out, err = keys_command("import", str(path))
    assert out == f"imported {fingerprint} (now primary)\n"
    assert "no user ID of this key carries MELDPUNT_SECURITY_CONTACT" in err


def _public_only(gpg: GnuPG) -> bytes:
    return gpg.export(gpg.make_key("Public <security@example.org>")).encode()


def _with_password(gpg: GnuPG) -> bytes:
    # A cheap key derivation: the agent's default takes seconds, and the strength is moot here.
    Path(gpg.home, "gpg-agent.conf").write_text("s2k-count 65536\n")
    loopback = ("--pinentry-mode", "loopback", "--passphrase", "sekrit")
    gpg.run(*loopback, "--quick-gen-key", "Locked <security@example.org>", "future-default")
    return export_secret(gpg, "Locked <security@example.org>", *loopback)


def _already_imported(gpg: GnuPG) -> bytes:
    data = export_secret(gpg, gpg.make_key("Twice <security@example.org>"))
    keys.import_key(data)
    return data


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_public_only, "the file holds only a public key; export the secret key"),
        (_with_password, "the key is protected by a password; remove it first"),
        (lambda gpg: b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxx\n", "is not an OpenPGP"),
        (lambda gpg: b"\x00garbage" * 10, "the file is not an OpenPGP secret key"),
        (_already_imported, r"key [0-9A-F]{40} is already imported"),
    ],
)
def test_it_refuses_a_key_it_cannot_use_in_one_line(db, gpg, tmp_path, make, reason):
    data = make(gpg)
    before = list(OrgKey.objects.values_list("fingerprint", flat=True))
    path = tmp_path / "key.asc"
    path.write_bytes(data)
    with pytest.raises(CommandError) as refused:
        keys_command("import", str(path))
    message = str(refused.value)
    assert "\n" not in message
    assert re.search(reason, message), message
    assert list(OrgKey.objects.values_list("fingerprint", flat=True)) == before


def test_it_explains_a_missing_file(db, tmp_path):
    with pytest.raises(CommandError, match=r"^cannot read .*nothing\.asc: No such file"):
        keys_command("import", str(tmp_path / "nothing.asc"))


@pytest.mark.django_db(transaction=True)
def test_it_keeps_no_secret_key_material_in_clear_in_the_database():
    stored = keys.create_key()
    tsk = keys.primary().tsk
    secret_lines = [
        line
        for line in str(tsk).splitlines()
        if len(line) == 64 and line not in str(tsk.extract_certificate())
    ]
    assert len(secret_lines) > 5
    dump = database_bytes()
    # The public half is there in clear: proof that we read the right bytes.
    assert stored.public_armored.splitlines()[5].encode() in dump
    assert b"PRIVATE KEY BLOCK" not in dump
    assert not [line for line in secret_lines if line.encode() in dump]
    assert bytes(tsk) not in dump


def test_it_reads_a_key_from_standard_input(db, gpg, monkeypatch):
    fingerprint = gpg.make_key("Example Org Security <security@example.org>")
    data = export_secret(gpg, fingerprint)

    monkeypatch.setattr("sys.stdin", SimpleNamespace(buffer=BytesIO(data)))
    assert keys_command("import", "-")[0] == f"imported {fingerprint} (now primary)\n"
