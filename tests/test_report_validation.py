"""Bad input re-renders the form with field errors, keeps what was typed, stores nothing."""

from __future__ import annotations

import subprocess
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from meldpunt.reports.models import Attachment, Report
from tests.conftest import form_post, submit


def assert_rejected(response, *fragments: str) -> str:
    page: str = response.content.decode()
    assert response.status_code == 400
    assert 'class="error-summary"' in page
    for fragment in fragments:
        assert fragment in page, fragment
    assert Report.objects.count() == 0
    assert Attachment.objects.count() == 0
    return page


def test_it_rejects_an_affected_system_that_is_no_url_host_or_ip(db):
    page = assert_rejected(
        form_post(Client(), affected_systems="https://ok.example.org\nnot a host\n999.1.1.1"),
        "Not a URL, host name or IP address",
    )
    assert "not a host" in page  # what was typed is kept
    assert "Reflected XSS in the q parameter." in page


def test_it_gives_back_what_was_typed_as_inert_text(db):
    # A finder may send attack payloads on purpose; the re-rendered form must not run them.
    payload = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    typed = {
        "description": payload,
        "steps": payload,
        "impact": payload,
        "name": payload,
        "references": payload,
        "pgp_key": payload,
    }
    page = assert_rejected(form_post(Client(), category="", email=f"a{payload}@x", **typed))
    assert "<script>" not in page and "<img" not in page and 'onerror=alert(2)>"' not in page
    escaped = "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
    # Kept in every field, as text ("&#34;" and "&quot;" are the same quote).
    assert page.replace("&#34;", "&quot;").count(escaped) >= len(typed)


def test_it_requires_an_affected_system_a_category_and_a_description(db):
    page = assert_rejected(form_post(Client(), affected_systems="", category="", description=""))
    assert page.count('class="errorlist"') >= 3


def test_it_warns_before_accepting_an_out_of_scope_category(db):
    assert_rejected(form_post(Client(), category="social_engineering"), "excludes this kind")
    sent = submit(Client(), category="social_engineering", confirm_out_of_scope="on")
    assert sent.report.out_of_scope


def test_it_requires_a_name_when_the_finder_asks_for_credit(db):
    assert_rejected(form_post(Client(), credit="name", name=""), "name or pseudonym to credit")
    assert submit(Client(), credit="pseudonym", name="r1ta").report.credit == "pseudonym"


def test_it_rejects_a_disclosure_date_in_the_past(db):
    yesterday = (date.today() - timedelta(days=2)).isoformat()
    assert_rejected(form_post(Client(), disclosure_date=yesterday), "in the past")


def test_it_rejects_references_that_are_not_links(db):
    assert_rejected(form_post(Client(), references="javascript:alert(1)"), "http(s) links")


def test_it_requires_accepting_the_policy(db):
    data_without = form_post(Client(), accept_policy="")
    assert_rejected(data_without)


def test_it_refuses_a_forged_or_expired_submission_token(db):
    page = assert_rejected(form_post(Client(), submission_token="forged"), "expired")
    # A fresh token is handed out so that the next submit works.
    assert 'name="submission_token" value="forged"' not in page


def test_it_refuses_an_unknown_policy_version(db):
    assert_rejected(form_post(Client(), policy_version=999), "Unknown policy version")


@override_settings(MELDPUNT_MAX_ATTACHMENTS=2)
def test_it_limits_the_number_of_attachments(db):
    files = [SimpleUploadedFile(f"f{i}.txt", b"x") for i in range(3)]
    assert_rejected(form_post(Client(), attachments=files), "at most 2 files")


@override_settings(MELDPUNT_MAX_ATTACHMENT_BYTES=1024)
def test_it_limits_the_size_of_an_attachment(db):
    big = SimpleUploadedFile("big.bin", b"x" * 2048)
    assert_rejected(form_post(Client(), attachments=[big]), "big.bin is larger than")


def test_it_rejects_a_text_that_is_not_a_pgp_key(db):
    assert_rejected(form_post(Client(), pgp_key="hello"), "not an OpenPGP public key")


@pytest.fixture(scope="module")
def gpg_keys(tmp_path_factory):
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    gpg = [
        "gpg",
        "--homedir",
        str(home),
        "--batch",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
    ]

    def run(*args: str) -> str:
        return subprocess.run([*gpg, *args], check=True, capture_output=True, text=True).stdout

    run("--quick-gen-key", "rita <rita@example.net>", "future-default", "default", "never")
    # A key that can only sign: nobody can encrypt to it.
    run("--quick-gen-key", "signer <signer@example.net>", "ed25519", "sign", "never")
    return {
        "public": run("--armor", "--export", "rita@example.net"),
        "secret": run("--armor", "--export-secret-keys", "rita@example.net"),
        "sign_only": run("--armor", "--export", "signer@example.net"),
    }


def test_it_accepts_a_public_key_made_by_gnupg(db, gpg_keys):
    sent = submit(Client(), pgp_key=gpg_keys["public"])
    assert sent.report.has_pgp_key
    assert "BEGIN PGP PUBLIC KEY BLOCK" in sent.report.finder["pgp_key"]


def test_it_refuses_a_secret_key_and_says_why(db, gpg_keys):
    assert_rejected(form_post(Client(), pgp_key=gpg_keys["secret"]), "SECRET key")


def test_it_refuses_a_key_nobody_can_encrypt_to(db, gpg_keys):
    assert_rejected(form_post(Client(), pgp_key=gpg_keys["sign_only"]), "cannot encrypt")


def test_it_refuses_two_keys_pasted_at_once(db, gpg_keys):
    both = gpg_keys["public"] + gpg_keys["sign_only"]
    assert_rejected(form_post(Client(), pgp_key=both), "exactly one public key")


def test_it_refuses_a_request_body_over_the_limit(db, settings):
    settings.MELDPUNT_MAX_REQUEST_BYTES = 1000
    response = Client().post("/report/", {"description": "x" * 5000})
    assert response.status_code == 413
    assert "Nothing was stored" in response.content.decode()
    assert Report.objects.count() == 0
