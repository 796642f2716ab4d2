"""`meldpunt staff`: the operator's way back in after a lost password or second factor."""

from __future__ import annotations

import io
import json
import subprocess

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from meldpunt.accounts.factors import new_recovery_codes
from meldpunt.accounts.models import Passkey
from meldpunt.audit.models import AuditEntry
from tests.conftest import sign_in
from tests.test_commands import MELDPUNT, operator_env, run
from tests.test_staff_login import password_step, totp

NEW_PASSWORD = "a brand new passphrase 42"


def staff(
    *args: str, stdin: str | None = None, monkeypatch: pytest.MonkeyPatch | None = None
) -> str:
    if stdin is not None and monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("staff", *args, stdout=out)
    return out.getvalue()


def last_audit(action: str) -> AuditEntry:
    entry = AuditEntry.objects.filter(action=action).order_by("-seq").first()
    assert entry is not None, f"no {action} in the audit log"
    return entry


def test_it_sets_a_new_password_and_ends_the_users_sessions(alice, monkeypatch):
    signed_in = sign_in(Client(), alice)
    half_way = Client()
    assert password_step(half_way, "alice@example.org").status_code == 303
    out = staff(
        "set-password",
        "ALICE@example.org",
        "--stdin",
        stdin=NEW_PASSWORD + "\n",
        monkeypatch=monkeypatch,
    )
    assert "New password set for alice@example.org; 2 sessions ended." in out
    assert signed_in.get("/triage/")["Location"].startswith("/triage/login/")
    assert half_way.post("/triage/login/verify/", {"code": totp(alice).now()})[
        "Location"
    ].startswith("/triage/login/")
    assert password_step(Client(), "alice@example.org").status_code == 400  # the old one
    assert password_step(Client(), "alice@example.org", NEW_PASSWORD).status_code == 303
    entry = last_audit("staff_password_set")
    assert entry.actor == "operator"
    assert entry.data == {"account": f"staff:{alice.pk}", "sessions_ended": 2}
    everything = json.dumps(list(AuditEntry.objects.values_list("data", flat=True)))
    assert NEW_PASSWORD not in everything


def test_it_refuses_a_weak_password_and_keeps_the_old_one(alice, monkeypatch):
    signed_in = sign_in(Client(), alice)
    with pytest.raises(CommandError, match="password refused: This password is too short"):
        staff(
            "set-password", "alice@example.org", "--stdin", stdin="short\n", monkeypatch=monkeypatch
        )
    with pytest.raises(CommandError, match="run it in a terminal, or pass --stdin"):
        staff("set-password", "alice@example.org", stdin="", monkeypatch=monkeypatch)
    assert password_step(Client(), "alice@example.org").status_code == 303
    assert signed_in.get("/triage/").status_code == 200
    assert not AuditEntry.objects.filter(action="staff_password_set").exists()


def test_it_resets_the_second_factor_so_the_next_sign_in_enrols(alice):
    codes = new_recovery_codes(alice)
    Passkey.objects.create(user=alice, name="Lost phone", credential_id=b"1", public_key=b"k")
    signed_in = sign_in(Client(), alice)
    out = staff("reset-second-factor", "alice@example.org")
    assert "Second factor of alice@example.org removed; 1 session ended." in out
    assert signed_in.get("/triage/")["Location"].startswith("/triage/login/")
    client = Client()
    assert password_step(client, "alice@example.org")["Location"] == "/triage/login/enrol/"
    assert client.post("/triage/login/verify/", {"code": codes[0]}).status_code == 400  # gone
    assert client.get("/triage/").status_code == 302
    assert "<svg" in client.get("/triage/login/enrol/").content.decode()  # a new QR code
    entry = last_audit("staff_second_factor_reset")
    assert entry.actor == "operator"
    assert entry.data == {
        "account": f"staff:{alice.pk}",
        "recovery_codes_removed": 10,
        "passkeys_removed": 1,
        "sessions_ended": 1,
    }
    assert not Passkey.objects.filter(user=alice).exists()


def test_it_deactivates_and_activates_an_account(alice):
    signed_in = sign_in(Client(), alice)
    assert "alice@example.org deactivated; 1 session ended." in staff(
        "deactivate", "alice@example.org"
    )
    assert signed_in.get("/triage/")["Location"].startswith("/triage/login/")
    assert password_step(Client(), "alice@example.org").status_code == 400
    assert "alice@example.org may sign in again." in staff("activate", "alice@example.org")
    assert password_step(Client(), "alice@example.org").status_code == 303
    actions = list(
        AuditEntry.objects.filter(action__startswith="staff_").values_list("action", "actor")
    )
    assert actions == [("staff_deactivated", "operator"), ("staff_activated", "operator")]


def test_it_lists_staff_with_role_state_and_second_factor(alice, bob):
    staff("deactivate", "bob@example.org")
    client = Client()
    password_step(client, "alice@example.org")
    client.post("/triage/login/verify/", {"code": totp(alice).now()})
    lines = staff("list").splitlines()
    assert lines[0].split() == ["user", "role", "active", "second", "factor", "last", "sign-in"]
    alice_line, bob_line = lines[1].split(), lines[2].split()
    assert alice_line[:6] == ["alice@example.org", "triager", "yes", "yes", "(10", "recovery"]
    assert len(alice_line[-2]) == 10 and alice_line[-2][:2] == "20"  # a date: signed in
    assert bob_line[:4] == ["bob@example.org", "viewer", "no", "yes"]
    assert bob_line[-1] == "never"


def test_it_names_an_unknown_user_for_every_action(db):
    for action in ["set-password", "reset-second-factor", "deactivate", "activate"]:
        with pytest.raises(CommandError, match=r"^no staff account 'nobody@example\.org'$"):
            staff(action, "nobody@example.org")


@pytest.mark.own_instance
def test_it_answers_an_operator_in_one_line_and_reads_stdin(tmp_path):
    env = operator_env(tmp_path / "data")
    assert run(["init"], env).returncode == 0
    result = run(["staff", "deactivate", "nobody@example.org"], env)
    assert result.returncode == 1
    assert result.stderr.strip() == "CommandError: no staff account 'nobody@example.org'"
    changed = subprocess.run(
        [*MELDPUNT, "staff", "set-password", "admin@localhost", "--stdin"],
        env=env,
        input=NEW_PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert changed.returncode == 0, changed.stderr
    assert "New password set for admin@localhost" in changed.stdout
    assert NEW_PASSWORD not in changed.stdout + changed.stderr
