"""Mail to a finder with a key: PGP/MIME that the real gpg decrypts and verifies as ours."""

from __future__ import annotations

import email
import glob
import os
from email import policy
from email.message import EmailMessage
from typing import Any

import pysequoia
import pytest
from django.core import mail
from django.db import transaction
from django.test import Client

from meldpunt.policy import keys
from meldpunt.reports import outbox
from meldpunt.reports.models import OutboundMail, Report
from tests.conftest import GnuPG, Submitted, sign_in, submit

SECRET = "The admin password is hunter2"
FINDER = "finder@example.net"
RECEIPT_CODE = "ABCD-EFGH-JKLM-NPQR-STUV"


@pytest.fixture
def finder_fpr(gpg: GnuPG) -> str:
    return gpg.make_key(f"Finder <{FINDER}>")


@pytest.fixture
def finder(org_key: Any, gpg: GnuPG, finder_fpr: str) -> Submitted:
    return submit(Client(), email=FINDER, pgp_key=gpg.export(finder_fpr))


def delivered() -> tuple[bytes, EmailMessage]:
    """The one mail the outbox sent (locmem backend), as the bytes that went out."""
    assert outbox.deliver_due() == 1
    [sent] = mail.outbox
    raw: bytes = sent.message().as_bytes(linesep="\r\n")
    parsed: EmailMessage = email.message_from_bytes(raw, policy=policy.default)
    return raw, parsed


def open_with_gpg(gpg: GnuPG, parsed: EmailMessage) -> tuple[EmailMessage, str]:
    """RFC 3156 checked part by part, then gpg's decryption (the inner entity) and status."""
    assert parsed.get_content_type() == "multipart/encrypted"
    assert parsed.get_param("protocol") == "application/pgp-encrypted"
    version, payload = parsed.iter_parts()
    assert version.get_content_type() == "application/pgp-encrypted"
    assert str(version.get_payload()).strip() == "Version: 1"
    assert payload.get_content_type() == "application/octet-stream"
    armored = str(payload.get_payload())
    assert armored.startswith("-----BEGIN PGP MESSAGE-----")
    gpg.import_key(keys.public_armored())
    result = gpg.run("--status-fd", "2", "--decrypt", input=armored.encode())
    inner: EmailMessage = email.message_from_bytes(result.stdout, policy=policy.default)
    return inner, result.stderr.decode("utf-8", "replace")


def signed_by_us(status: str) -> bool:
    lines = [line.split() for line in status.splitlines() if line.startswith("[GNUPG:] ")]
    good = any(words[1] == "GOODSIG" for words in lines)
    # VALIDSIG names the signing subkey first and the primary key last.
    valid = any(words[1] == "VALIDSIG" and words[-1] == keys.fingerprint() for words in lines)
    return good and valid


def test_it_mails_a_staff_message_encrypted_and_signed(finder, alice, gpg):
    response = sign_in(Client(), alice).post(
        f"/triage/reports/{finder.report.uid}/message/", {"text": SECRET, "template": ""}
    )
    assert response.status_code == 303
    raw, parsed = delivered()
    reference = finder.report.reference
    assert parsed["Subject"] == f"[{reference}] Encrypted message"
    assert SECRET.encode() not in raw and b"hunter2" not in raw
    inner, status = open_with_gpg(gpg, parsed)
    assert signed_by_us(status), status
    assert "DECRYPTION_OKAY" in status
    assert inner.get_content_type() == "text/plain"
    assert inner.get_content_charset() == "utf-8"
    text = inner.get_content()
    assert SECRET in text and reference in text
    assert OutboundMail.objects.get(report=finder.report).encrypted is True


def test_it_fails_to_verify_when_the_signature_is_not_ours(finder, alice, gpg):
    # The check above can fail: a message signed by another key gives no VALIDSIG of ours.
    other = pysequoia.Tsk.generate("Mallory <mallory@example.net>")
    finder_cert = pysequoia.Cert.from_bytes(
        gpg.export(gpg.make_key("Other <o@example.net>")).encode()
    )
    forged = pysequoia.encrypt(b"hi", recipients=[finder_cert], signer=other.signer())
    gpg.import_key(keys.public_armored())
    result = gpg.run("--status-fd", "2", "--decrypt", input=forged, check=False)
    assert not signed_by_us(result.stderr.decode())


def revoke(gpg: GnuPG, fingerprint: str) -> str:
    """The finder revokes their key with the certificate gpg made for it; returns the export."""
    [path] = glob.glob(os.path.join(gpg.home, "openpgp-revocs.d", f"{fingerprint}.rev"))
    with open(path) as fh:
        certificate = fh.read().replace(":-----BEGIN PGP", "-----BEGIN PGP")
    gpg.import_key(certificate)
    return gpg.export(fingerprint)


def test_it_falls_back_to_a_bare_notice_when_the_key_no_longer_works(finder, finder_fpr, gpg):
    report = Report.objects.get(pk=finder.report.pk)
    report.finder = {**report.finder, "pgp_key": revoke(gpg, finder_fpr)}
    report.save()
    with transaction.atomic():
        outbox.queue_news(report)
    raw, parsed = delivered()
    assert parsed.get_content_type() == "text/plain"
    assert parsed["Subject"] == f"[{report.reference}] News about your report"
    assert b"status of your report" not in raw  # the news itself stays on /status/


def test_it_sends_our_key_with_the_receipt_to_a_plain_mail(finder, gpg):
    with transaction.atomic():
        outbox.queue_receipt(
            finder.report,
            to=FINDER,
            receipt_code=RECEIPT_CODE,
            languages=["en"],
            in_reply_to="<first@finder.example>",
            encrypt_to=None,
            include_key=True,
        )
    _raw, parsed = delivered()
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["In-Reply-To"] == "<first@finder.example>"
    assert parsed["Subject"] == f"[{finder.report.reference}] We received your report"
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    fingerprint = keys.fingerprint()
    grouped = " ".join(fingerprint[i : i + 4] for i in range(0, 40, 4))
    assert grouped in text and "http://127.0.0.1:8000/report/" in text
    assert "http://127.0.0.1:8000/status/" in text and RECEIPT_CODE in text
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_content_type() == "application/pgp-keys"
    assert attachment.get_filename() == "our-key.asc"
    gpg.run("--import", input=attachment.get_content())
    listing = gpg.run("--with-colons", "--list-keys", fingerprint).stdout.decode()
    assert f"fpr:::::::::{fingerprint}:" in listing


def test_it_encrypts_the_receipt_to_a_finder_who_wrote_encrypted(finder, finder_fpr, gpg):
    cert = pysequoia.Cert.from_bytes(gpg.export(finder_fpr).encode())
    with transaction.atomic():
        outbox.queue_receipt(
            finder.report,
            to=FINDER,
            receipt_code=RECEIPT_CODE,
            languages=["en"],
            in_reply_to=None,
            encrypt_to=cert,
            include_key=False,
        )
    raw, parsed = delivered()
    assert RECEIPT_CODE.encode() not in raw
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert "In-Reply-To" not in parsed
    inner, status = open_with_gpg(gpg, parsed)
    assert signed_by_us(status), status
    assert RECEIPT_CODE in inner.get_content()


def test_it_sends_a_bare_notice_while_we_have_no_key_to_sign_with(db, gpg, finder_fpr):
    sent = submit(Client(), email=FINDER, pgp_key=gpg.export(finder_fpr))  # no org_key
    with transaction.atomic():
        outbox.queue_news(sent.report)
    raw, parsed = delivered()
    assert parsed.get_content_type() == "text/plain"
    assert parsed["Subject"] == f"[{sent.report.reference}] News about your report"
    assert b"status of your report" not in raw
