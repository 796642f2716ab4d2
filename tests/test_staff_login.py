"""Staff sign in with a password and a second factor; nothing opens with a password alone."""

from __future__ import annotations

import pyotp
import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from meldpunt.accounts.factors import new_recovery_codes
from meldpunt.accounts.models import StaffProfile
from tests.conftest import PASSWORD, make_staff
from tests.test_commands import operator_env, run


def totp(user: User) -> pyotp.TOTP:
    return pyotp.TOTP(StaffProfile.objects.get(user=user).totp["secret"])


def password_step(client: Client, username: str, password: str = PASSWORD):
    return client.post("/triage/login/", {"username": username, "password": password})


def test_it_signs_staff_in_with_password_then_totp(alice):
    client = Client()
    client.get("/triage/login/?next=/triage/")
    response = password_step(client, "alice@example.org")
    assert response.status_code == 303
    assert response["Location"] == "/triage/login/verify/"
    response = client.post("/triage/login/verify/", {"code": totp(alice).now()})
    assert response.status_code == 303
    assert response["Location"] == "/triage/"
    page = client.get("/triage/").content.decode()
    assert "Signed in as alice@example.org (Triager)" in page


def test_it_keeps_staff_pages_closed_after_the_password_alone(alice):
    client = Client()
    password_step(client, "alice@example.org")
    assert client.get("/triage/")["Location"].startswith("/triage/login/")
    assert client.get("/admin/reports/report/").status_code == 302


def test_it_refuses_a_wrong_password_with_one_uniform_message(alice):
    wrong = password_step(Client(), "alice@example.org", "not her password")
    unknown = password_step(Client(), "nobody@example.org")
    for response in (wrong, unknown):
        assert response.status_code == 400
        assert "This user name and password do not match." in response.content.decode()


def test_it_refuses_a_django_user_who_is_not_staff(db):
    User.objects.create_user("charlie", password=PASSWORD)
    assert password_step(Client(), "charlie").status_code == 400


def test_it_refuses_a_replayed_totp_code(alice):
    code = totp(alice).now()
    first = Client()
    password_step(first, "alice@example.org")
    assert first.post("/triage/login/verify/", {"code": code}).status_code == 303
    second = Client()
    password_step(second, "alice@example.org")
    replay = second.post("/triage/login/verify/", {"code": code})
    assert replay.status_code == 400
    assert "used already" in replay.content.decode()


def test_it_accepts_each_recovery_code_once(alice):
    codes = new_recovery_codes(alice)
    client = Client()
    password_step(client, "alice@example.org")
    assert client.post("/triage/login/verify/", {"code": codes[0].lower()}).status_code == 303
    again = Client()
    password_step(again, "alice@example.org")
    assert again.post("/triage/login/verify/", {"code": codes[0]}).status_code == 400
    assert again.post("/triage/login/verify/", {"code": codes[1]}).status_code == 303


@override_settings(MELDPUNT_STAFF_LOGIN_LIMIT=3)
def test_it_rate_limits_password_guessing_per_account_across_clients(alice):
    for i in range(3):
        attacker = Client(REMOTE_ADDR=f"198.51.100.{i + 1}")
        assert password_step(attacker, "alice@example.org", "guess").status_code == 400
    limited = password_step(Client(REMOTE_ADDR="203.0.113.1"), "alice@example.org")
    assert limited.status_code == 429


@override_settings(MELDPUNT_STAFF_LOGIN_LIMIT=3)
def test_it_rate_limits_second_factor_guessing(alice):
    client = Client()
    password_step(client, "alice@example.org")
    for _ in range(3):
        assert client.post("/triage/login/verify/", {"code": "000000"}).status_code == 400
    limited = client.post("/triage/login/verify/", {"code": totp(alice).now()})
    assert limited.status_code == 429


def test_it_enrols_an_account_without_a_second_factor_by_qr_code(db):
    user = make_staff("dora@example.org", "viewer")
    StaffProfile.objects.filter(user=user).update(totp_confirmed=False, totp_blob=b"")
    client = Client()
    assert password_step(client, "dora@example.org")["Location"] == "/triage/login/enrol/"
    page = client.get("/triage/login/enrol/").content.decode()
    assert "<svg" in page
    assert client.get("/triage/").status_code == 302  # not signed in yet
    secret = StaffProfile.objects.get(user=user).totp["secret"]
    assert secret in page
    done = client.post("/triage/login/enrol/", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    assert done.content.decode().count('class="code"') == 10  # the recovery codes, once
    assert StaffProfile.objects.get(user=user).totp_confirmed
    assert client.get("/triage/").status_code == 200


def test_it_does_not_send_staff_to_another_site_after_sign_in(alice):
    client = Client()
    client.get("/triage/login/?next=https://evil.example.net/")
    password_step(client, "alice@example.org")
    response = client.post("/triage/login/verify/", {"code": totp(alice).now()})
    assert response["Location"] == "/triage/"


def test_it_signs_out_only_by_post(alice):
    client = Client()
    password_step(client, "alice@example.org")
    client.post("/triage/login/verify/", {"code": totp(alice).now()})
    assert client.get("/triage/logout/").status_code == 405
    assert client.post("/triage/logout/").status_code == 303
    assert client.get("/triage/").status_code == 302


# The tests of this fixture run on one worker: it is made once (`init`), not once per worker.
OPERATOR = pytest.mark.xdist_group("staff_login_operator")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("operator") / "data"
    first = run(["init"], operator_env(path))
    assert first.returncode == 0, first.stderr
    assert "otpauth://totp/" in first.stdout  # the first admin gets a second factor too
    return path


def createstaff(data_dir, *args: str, password: str | None = "a long enough passphrase 1"):
    env = operator_env(data_dir)
    if password is not None:
        env["MELDPUNT_STAFF_PASSWORD"] = password
    return run(["createstaff", *args], env)


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["eve@example.org", "--role", "root"], "x" * 20, "invalid choice: 'root'"),
        (["not-an-address", "--role", "viewer"], "x" * 20, "is not an e-mail address"),
        (["eve@example.org", "--role", "viewer"], "short", "password refused"),
        (["eve@example.org", "--role", "viewer"], None, "set MELDPUNT_STAFF_PASSWORD"),
    ],
)
@OPERATOR
def test_createstaff_refuses_bad_input_in_one_line(data_dir, args, password, message):
    result = createstaff(data_dir, *args, password=password)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@OPERATOR
def test_createstaff_prints_the_totp_uri_and_recovery_codes(data_dir):
    result = createstaff(data_dir, "erin@example.org", "--role", "triager")
    assert result.returncode == 0, result.stderr
    assert "otpauth://totp/" in result.stdout
    assert "Recovery codes" in result.stdout
    again = createstaff(data_dir, "erin@example.org", "--role", "triager")
    assert again.returncode != 0
    assert "exists already" in again.stderr


def test_it_hashes_staff_passwords_with_argon2_in_production():
    # The tests use a fast hasher; the production settings must not.
    import importlib

    production = importlib.import_module("meldpunt.settings")
    assert production.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_it_names_the_role_in_the_staff_members_language(alice):
    from tests.conftest import sign_in

    client = sign_in(Client(HTTP_ACCEPT_LANGUAGE="nl"), alice)
    assert "(Triagist)" in client.get("/triage/").content.decode()


@override_settings(MELDPUNT_STAFF_LOGIN_GLOBAL_LIMIT=3)
def test_it_rate_limits_password_guessing_for_everyone_together(alice):
    for i in range(3):
        attacker = Client(REMOTE_ADDR=f"198.51.100.{i + 1}")
        assert password_step(attacker, f"user{i}@example.org", "guess").status_code == 400
    limited = password_step(Client(REMOTE_ADDR="203.0.113.1"), "alice@example.org")
    assert limited.status_code == 429
