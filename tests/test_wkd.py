"""The Web Key Directory (direct method) hands our key to `gpg --locate-keys`.

Here: the file name (checked against GnuPG's own) and the bytes served (imported by the
real gpg). `gpg --locate-keys` itself runs in tests/test_wkd_locate.py.
"""

from __future__ import annotations

import subprocess

import pytest
from django.test import Client, override_settings

from meldpunt.policy import keys
from meldpunt.public.published import wkd_hash

WKS_CLIENT = "/usr/lib/gnupg/gpg-wks-client"


def gnupg_hash(address: str) -> str:
    out = subprocess.run(
        [WKS_CLIENT, "--print-wkd-hash", address], capture_output=True, text=True, check=True
    )
    return out.stdout.split()[0]


def key_url(address: str = "security@example.org") -> str:
    local = address.split("@")[0]
    return f"/.well-known/openpgpkey/hu/{wkd_hash(address)}?l={local}"


@pytest.mark.parametrize(
    "address",
    ["security@example.org", "Security@Example.ORG", "psirt.team@acme.example", "Ünï@x.org"],
)
def test_it_names_the_file_as_gnupg_does(address):
    assert wkd_hash(address) == gnupg_hash(address)


def test_it_tells_different_local_parts_apart():
    assert wkd_hash("security@example.org") != wkd_hash("securitx@example.org")


def test_it_serves_the_binary_key_that_gpg_imports(org_key, gpg):
    response = Client().get(key_url())
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert not response.content.startswith(b"-----BEGIN")  # WKD wants it unarmored
    gpg.import_key(response.content)
    listing = gpg.run("--with-colons", "--list-keys").stdout.decode()
    assert f"fpr:::::::::{org_key.fingerprint}:" in listing
    uids = [line.split(":")[9] for line in listing.splitlines() if line.startswith("uid:")]
    assert uids == ["Example Org Security <security@example.org>"]


def test_it_serves_the_new_key_after_a_rollover(org_key, gpg):
    new = keys.create_key()
    gpg.import_key(Client().get(key_url()).content)
    listing = gpg.run("--with-colons", "--list-keys").stdout.decode()
    assert f"fpr:::::::::{new.fingerprint}:" in listing
    assert org_key.fingerprint not in listing


def test_it_answers_only_for_the_security_contact(org_key):
    client = Client()
    assert client.get(key_url("alice@example.org")).status_code == 404
    assert client.get("/.well-known/openpgpkey/hu/not-a-hash").status_code == 404
    with override_settings(MELDPUNT_SECURITY_CONTACT="psirt@acme.example"):
        assert client.get(key_url("security@example.org")).status_code == 404
        assert client.get(key_url("psirt@acme.example")).status_code == 200


def test_it_answers_404_without_a_key(db):
    assert Client().get(key_url()).status_code == 404


def test_it_publishes_an_empty_policy(db):
    response = Client().get("/.well-known/openpgpkey/policy")
    assert response.status_code == 200
    assert response.content == b""
    assert response["Access-Control-Allow-Origin"] == "*"


def test_it_answers_only_get_and_head_and_sets_no_cookie(org_key):
    client = Client()
    assert client.post(key_url()).status_code == 405
    assert client.post("/.well-known/openpgpkey/policy").status_code == 405
    assert client.head(key_url()).status_code == 200
    assert not client.get(key_url()).cookies
