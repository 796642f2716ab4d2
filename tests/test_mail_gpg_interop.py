from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from meldpunt.intake.mail import process_message
from meldpunt.lib import replyaddr
from meldpunt.policy import keys
from meldpunt.reports.models import Message, Report
from meldpunt.reports.services import read_attachment
from tests.test_mail_intake import SECRET, inner_entity, pgp_mime


def gpg_encrypt(gpg: Any, finder: str, data: bytes, *extra: str) -> bytes:
    gpg.import_key(keys.public_armored())
    result = gpg.run(
        "--trust-model", "always", "--armor", "--encrypt", "--sign",
        "--recipient", keys.fingerprint(), "--local-user", finder, *extra,
        input=data,
    )  # fmt: skip
    out: bytes = result.stdout
    return out


def first_mail_with_key(gpg: Any, finder: str) -> Report:
    msg = EmailMessage()
    msg["From"] = "Rita <rita@example.net>"
    msg["To"] = "security@example.org"
    msg["Message-ID"] = make_msgid(domain="example.net")
    msg.set_content("Here is my key; details follow encrypted.")
    msg.add_attachment(gpg.export(finder).encode(), "application", "pgp-keys", filename="k.asc")
    result = process_message(msg.as_bytes())
    assert result.report is not None and result.report.finder["pgp_key"]
    return result.report


def test_it_turns_a_gpg_encrypted_pgp_mime_mail_into_a_report(org_key: Any, gpg: Any) -> None:
    finder = gpg.make_key("Rita <rita@example.net>")
    encrypted = gpg_encrypt(gpg, finder, inner_entity("Made with GnuPG."))
    assert encrypted.startswith(b"-----BEGIN PGP MESSAGE-----")
    result = process_message(pgp_mime(encrypted))
    assert result.outcome == "report"
    report = Report.objects.get()
    assert report.received_encrypted is True
    assert report.content["description"] == "Made with GnuPG."
    assert read_attachment(report.attachments.get()) == SECRET
    # Signed inside GnuPG's default compressed layer, by a key this first mail did not carry.
    assert report.content["signature"] == "unknown_key"


def test_it_verifies_a_gpg_signature_once_the_finder_key_is_known(org_key: Any, gpg: Any) -> None:
    finder = gpg.make_key("Rita <rita@example.net>")
    report = first_mail_with_key(gpg, finder)
    encrypted = gpg_encrypt(
        gpg, finder, inner_entity("Signed by GnuPG."), "--compress-algo", "none"
    )
    result = process_message(pgp_mime(encrypted, To=replyaddr.reply_address(report.reference)))
    assert (result.outcome, result.report) == ("message", report)
    message = Message.objects.get()
    assert message.body["text"] == "Signed by GnuPG."
    assert message.body["signature"] == "good"
    assert message.body["signers"] == [finder.upper()]
    assert read_attachment(message.attachments.get()) == SECRET


def test_it_says_unknown_key_for_a_gpg_signature_by_a_stranger(org_key: Any, gpg: Any) -> None:
    finder = gpg.make_key("Rita <rita@example.net>")
    report = first_mail_with_key(gpg, finder)
    stranger = gpg.make_key("Mallory <mallory@example.com>")
    encrypted = gpg_encrypt(gpg, stranger, inner_entity(), "--compress-algo", "none")
    process_message(pgp_mime(encrypted, To=replyaddr.reply_address(report.reference)))
    assert Message.objects.get().body["signature"] == "unknown_key"
