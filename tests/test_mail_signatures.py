from __future__ import annotations

import base64
import email.policy
from email.encoders import encode_7or8bit
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid
from typing import Any

import pysequoia
from django.test import Client

from meldpunt.intake.mail import process_message
from meldpunt.lib import replyaddr
from meldpunt.reports.models import Message, Report
from tests.conftest import sign_in
from tests.test_mail_intake import inner_entity, pgp_mime, plain_mail


def autocrypt(cert: pysequoia.Cert) -> str:
    return f"addr=rita@example.net; keydata={base64.b64encode(bytes(cert)).decode()}"


def finder() -> pysequoia.Tsk:
    return pysequoia.Tsk.generate("Rita <rita@example.net>")


def report_with_key(cert: pysequoia.Cert) -> Report:
    result = process_message(plain_mail(headers={"Autocrypt": autocrypt(cert)}))
    assert result.report is not None
    assert result.report.finder["pgp_key"]  # the key the finder sent (TOFU)
    return result.report


def signed_mail(tsk: pysequoia.Tsk, text: str, *, tamper: bool = False, **headers: str) -> bytes:
    body = MIMEText(text, "plain", "utf-8")
    canonical = body.as_bytes(policy=email.policy.SMTP)
    signature = pysequoia.sign(tsk.signer(), canonical, mode=pysequoia.SignatureMode.DETACHED)
    if tamper:
        body.set_payload(base64.b64encode(b"Changed on the way.\n").decode())
    outer = MIMEMultipart("signed", micalg="pgp-sha256", protocol="application/pgp-signature")
    outer.attach(body)
    outer.attach(MIMEApplication(signature, "pgp-signature", encode_7or8bit))
    outer["From"] = "rita@example.net"
    outer["Message-ID"] = make_msgid(domain="example.net")
    for name, value in headers.items():
        outer[name] = value
    return outer.as_bytes(policy=email.policy.SMTP)


def encrypted_reply(report: Report, org_key: Any, signer: pysequoia.Tsk) -> Message:
    data = pysequoia.encrypt(inner_entity(files=False), [org_key.cert], signer=signer.signer())
    result = process_message(pgp_mime(data, To=replyaddr.reply_address(report.reference)))
    assert result.outcome == "message"
    return Message.objects.get()


def test_it_finds_a_good_signature_by_the_key_the_finder_sent_before(org_key: Any) -> None:
    rita = finder()
    report = report_with_key(rita.extract_certificate())
    message = encrypted_reply(report, org_key, rita)
    assert message.body["signature"] == "good"
    assert message.body["signers"] == [rita.extract_certificate().fingerprint.upper()]
    assert message.received_encrypted is True


def test_it_reports_a_signature_by_another_key_as_unknown(org_key: Any) -> None:
    report = report_with_key(finder().extract_certificate())
    message = encrypted_reply(report, org_key, finder())
    assert message.body["signature"] == "unknown_key"
    assert message.body["signers"] == []


def test_it_verifies_a_detached_multipart_signed_mail(org_key: Any) -> None:
    rita = finder()
    report = report_with_key(rita.extract_certificate())
    to = replyaddr.reply_address(report.reference)
    assert process_message(signed_mail(rita, "Signed update.\n", To=to)).outcome == "message"
    message = Message.objects.get()
    assert message.body["text"] == "Signed update."
    assert (message.body["signature"], message.received_encrypted) == ("good", False)


def test_it_says_bad_when_a_signed_mail_was_changed(org_key: Any) -> None:
    rita = finder()
    report = report_with_key(rita.extract_certificate())
    raw = signed_mail(
        rita, "Original.\n", tamper=True, To=replyaddr.reply_address(report.reference)
    )
    assert process_message(raw).outcome == "message"
    assert Message.objects.get().body["signature"] == "bad"


def test_it_checks_a_first_mail_against_the_key_it_carries(org_key: Any) -> None:
    rita = finder()
    raw = signed_mail(rita, "First, signed.\n", Autocrypt=autocrypt(rita.extract_certificate()))
    result = process_message(raw)
    assert result.report is not None
    assert result.report.content["signature"] == "good"


def test_it_shows_the_signature_and_missing_encryption_to_the_team(
    org_key: Any, alice: Any
) -> None:
    rita = finder()
    raw = signed_mail(
        rita, "First <b>signed</b>.\n", Autocrypt=autocrypt(rita.extract_certificate())
    )
    report = process_message(raw).report
    assert report is not None
    process_message(
        signed_mail(finder(), "Other key.\n", To=replyaddr.reply_address(report.reference))
    )
    page = sign_in(Client(), alice).get(f"/triage/reports/{report.uid}/").content.decode()
    assert 'id="unencrypted"' in page
    assert "good signature by the finder&#x27;s key" in page
    assert rita.extract_certificate().fingerprint.upper() in page
    assert "signed by a key we do not know for this finder" in page
    assert "First &lt;b&gt;signed&lt;/b&gt;." in page
