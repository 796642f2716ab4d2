"""Mail that GnuPG signs with its defaults gets a verdict: compressed PGP/MIME and inline PGP."""

from __future__ import annotations

from typing import Any

from meldpunt.intake.mail import process_message
from meldpunt.lib import replyaddr
from meldpunt.reports.models import Message, Report
from meldpunt.reports.services import read_attachment
from tests.test_mail_gpg_interop import first_mail_with_key, gpg_encrypt
from tests.test_mail_intake import SECRET, inner_entity, pgp_mime, plain_mail

TEXT = "The login form leaks the session id.\n- a line that gpg dash-escapes\n"


def reply(report: Report, body: bytes | str) -> Message:
    to = replyaddr.reply_address(report.reference)
    raw = pgp_mime(body, To=to) if isinstance(body, bytes) else plain_mail(body, to=to)
    result = process_message(raw)
    assert (result.outcome, result.report) == ("message", report)
    return Message.objects.get()


def clearsign(gpg: Any, signer: str, text: str) -> str:
    return str(gpg.run("--clearsign", "--local-user", signer, input=text.encode()).stdout.decode())


def test_it_verifies_a_signature_in_gnupgs_default_compressed_layer(org_key: Any, gpg: Any) -> None:
    finder = gpg.make_key("Rita <rita@example.net>")
    report = first_mail_with_key(gpg, finder)
    message = reply(report, gpg_encrypt(gpg, finder, inner_entity("Signed with defaults.")))
    assert message.body["text"] == "Signed with defaults."
    assert (message.body["signature"], message.body["signers"]) == ("good", [finder.upper()])
    assert message.received_encrypted is True
    assert read_attachment(message.attachments.get()) == SECRET


def test_it_says_unknown_key_for_a_default_gpg_mail_by_a_stranger(org_key: Any, gpg: Any) -> None:
    report = first_mail_with_key(gpg, gpg.make_key("Rita <rita@example.net>"))
    stranger = gpg.make_key("Mallory <mallory@example.com>")
    message = reply(report, gpg_encrypt(gpg, stranger, inner_entity()))
    assert (message.body["signature"], message.body["signers"]) == ("unknown_key", [])


def test_it_verifies_inline_signed_and_encrypted_text(org_key: Any, gpg: Any) -> None:
    finder = gpg.make_key("Rita <rita@example.net>")
    report = first_mail_with_key(gpg, finder)
    armored = gpg_encrypt(gpg, finder, TEXT.encode()).decode()
    message = reply(report, armored)
    assert message.body["text"].startswith("The login form leaks")
    assert (message.body["signature"], message.body["signers"]) == ("good", [finder.upper()])
    assert message.received_encrypted is True


def test_a_signed_block_does_not_vouch_for_the_text_around_it(org_key: Any, gpg: Any) -> None:
    finder = gpg.make_key("Rita <rita@example.net>")
    report = first_mail_with_key(gpg, finder)
    armored = gpg_encrypt(gpg, finder, TEXT.encode()).decode()
    message = reply(report, f"Unsigned words first.\n\n{armored}")
    assert message.body["text"].startswith("Unsigned words first.\n\nThe login form leaks")
    assert (message.body["signature"], message.body["signers"]) == ("partial", [finder.upper()])
    Message.objects.all().delete()
    message = reply(report, clearsign(gpg, finder, TEXT) + "\nAdded by someone else.\n")
    assert message.body["text"].endswith("Added by someone else.")
    assert message.body["signature"] == "partial"


def test_it_verifies_a_clearsigned_mail_and_shows_its_text(org_key: Any, gpg: Any) -> None:
    finder = gpg.make_key("Rita <rita@example.net>")
    report = first_mail_with_key(gpg, finder)
    message = reply(report, clearsign(gpg, finder, TEXT))
    assert message.body["text"] == TEXT.strip()  # no armor, no dash-escaping
    assert (message.body["signature"], message.body["signers"]) == ("good", [finder.upper()])
    assert message.received_encrypted is False


def test_it_says_bad_for_a_changed_clearsigned_mail(org_key: Any, gpg: Any) -> None:
    finder = gpg.make_key("Rita <rita@example.net>")
    report = first_mail_with_key(gpg, finder)
    changed = clearsign(gpg, finder, TEXT).replace("session id", "password")
    message = reply(report, changed)
    assert "leaks the password" in message.body["text"]
    assert (message.body["signature"], message.body["signers"]) == ("bad", [])


def test_it_says_unknown_key_for_a_clearsigned_mail_by_a_stranger(org_key: Any, gpg: Any) -> None:
    report = first_mail_with_key(gpg, gpg.make_key("Rita <rita@example.net>"))
    stranger = gpg.make_key("Mallory <mallory@example.com>")
    message = reply(report, clearsign(gpg, stranger, TEXT))
    assert (message.body["signature"], message.body["signers"]) == ("unknown_key", [])
