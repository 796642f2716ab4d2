from __future__ import annotations

import pytest
from django.test import Client

from meldpunt.lib import crypto
from meldpunt.reports.models import Report
from tests.conftest import submit


def test_it_refuses_a_ciphertext_moved_to_another_row(db):
    a, b = submit(Client(), description="first"), submit(Client(), description="second")
    Report.objects.filter(pk=b.report.pk).update(content_blob=a.report.content_blob)
    moved = Report.objects.get(pk=b.report.pk)
    with pytest.raises(crypto.DecryptionError):
        moved.content  # noqa: B018


def test_it_refuses_a_ciphertext_moved_to_another_field(db):
    sent = submit(Client())
    Report.objects.filter(pk=sent.report.pk).update(finder_blob=sent.report.content_blob)
    with pytest.raises(crypto.DecryptionError):
        Report.objects.get(pk=sent.report.pk).finder  # noqa: B018


def test_it_detects_a_flipped_bit(db):
    keyring = crypto.load_keyring()
    blob = bytearray(keyring.seal(b"secret", "x"))
    blob[-1] ^= 1
    with pytest.raises(crypto.DecryptionError):
        keyring.open(bytes(blob), "x")


def test_it_uses_a_fresh_data_key_and_nonce_each_time(db):
    keyring = crypto.load_keyring()
    assert keyring.seal(b"same", "x") != keyring.seal(b"same", "x")


def test_it_reports_a_missing_master_key_clearly(tmp_path):
    path = tmp_path / "keys.json"
    crypto.create_key_file(path)
    blob = crypto.parse_key_file(path).seal(b"x", "a")
    other = tmp_path / "other.json"
    crypto.create_key_file(other)
    with pytest.raises(crypto.DecryptionError, match="not in the key file"):
        crypto.parse_key_file(other).open(blob, "a")


def test_it_creates_the_key_file_private_and_never_overwrites_it(tmp_path):
    path = tmp_path / "keys.json"
    crypto.create_key_file(path)
    assert crypto.key_file_is_private(path)
    with pytest.raises(FileExistsError):
        crypto.create_key_file(path)
