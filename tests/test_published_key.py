"""/pgp-key.asc and the policy page give finders our current key and its fingerprint."""

from __future__ import annotations

import re

from django.test import Client

from meldpunt.policy import keys


def test_it_serves_the_armored_primary_key_gpg_imports(org_key, gpg):
    response = Client().get("/pgp-key.asc")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pgp-keys"
    assert response["Content-Disposition"] == 'inline; filename="example-org-security.asc"'
    assert "max-age=300" in response["Cache-Control"]
    assert response.content.startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert b"PRIVATE" not in response.content
    gpg.import_key(response.content)
    listing = gpg.run("--with-colons", "--list-keys").stdout.decode()
    assert f"fpr:::::::::{org_key.fingerprint}:" in listing
    assert "<security@example.org>" in listing


def test_it_serves_the_new_key_after_a_rollover_and_still_reads_old_mail(org_key, gpg):
    gpg.import_key(Client().get("/pgp-key.asc").content)
    old_mail = gpg.run(
        "--armor",
        "--trust-model",
        "always",
        "--encrypt",
        "-r",
        org_key.fingerprint,
        input=b"sent before the rollover",
    ).stdout
    new = keys.create_key()
    served = Client().get("/pgp-key.asc").content.decode()
    assert served == new.public_armored
    assert org_key.fingerprint not in served.replace(" ", "")
    assert keys.decrypt(old_mail).plaintext == b"sent before the rollover"


def test_it_answers_503_without_a_key(db):
    response = Client().get("/pgp-key.asc")
    assert response.status_code == 503
    assert response["Content-Type"] == "text/plain; charset=utf-8"


def test_it_answers_only_get_and_head_and_sets_no_cookie(org_key):
    client = Client()
    assert client.post("/pgp-key.asc").status_code == 405
    assert client.head("/pgp-key.asc").status_code == 200
    assert not client.get("/pgp-key.asc").cookies


def test_it_shows_the_fingerprint_in_blocks_of_four_on_the_policy_page(org_key):
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get("/").content.decode()
    shown = re.search(r'<code id="key-fingerprint">([0-9A-F ]+)</code>', page)
    assert shown
    assert shown.group(1).split(" ") == re.findall(".{4}", org_key.fingerprint)
    assert 'href="/pgp-key.asc"' in page
    assert 'href="/.well-known/security.txt"' in page


def test_it_shows_the_policy_page_without_a_key(db):
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get("/")
    assert response.status_code == 200
    assert "key-fingerprint" not in response.content.decode()
    assert "/pgp-key.asc" not in response.content.decode()
