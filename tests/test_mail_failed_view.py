from __future__ import annotations

from typing import Any

from django.test import Client

from meldpunt.intake.mail import process_message
from meldpunt.intake.models import InboundMail
from tests.conftest import make_staff, sign_in

PAYLOAD = "<script>alert('x')</script>"


def failed_mail(db: Any) -> InboundMail:
    raw = (
        "From: Mallory <mallory@example.net>\r\nMessage-ID: <bad@example.net>\r\n"
        f"Subject: {PAYLOAD}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"\r\n'
        f"\r\n--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
        f"--b\r\nContent-Type: application/octet-stream\r\n\r\n{PAYLOAD}\r\n--b--\r\n"
    ).encode()
    assert process_message(raw).reason == "bad_pgp"
    return InboundMail.objects.get()


def test_it_lists_failed_mail_for_a_viewer(org_key: Any, bob: Any) -> None:
    mail = failed_mail(org_key)
    page = sign_in(Client(), bob).get("/triage/mail/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"/triage/mail/{mail.uid}/" in html
    assert "The OpenPGP part could not be decrypted" in html
    assert "mallory" not in html  # the list shows no personal data
    assert page["Cache-Control"].startswith("max-age=0")


def test_it_shows_the_raw_mail_escaped(org_key: Any, bob: Any) -> None:
    mail = failed_mail(org_key)
    page = sign_in(Client(), bob).get(f"/triage/mail/{mail.uid}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert PAYLOAD not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "mallory@example.net" in html
    assert '<pre class="raw-mail" id="raw">From: Mallory' in html


def test_it_keeps_failed_mail_from_outsiders(org_key: Any, db: Any) -> None:
    mail = failed_mail(org_key)
    anonymous = Client().get(f"/triage/mail/{mail.uid}/")
    assert anonymous.status_code == 302
    assert "/triage/mail/" not in Client().get("/triage/mail/").content.decode()
    outsider = Client()
    from django.contrib.auth import get_user_model

    charlie = get_user_model().objects.create_user("charlie", "charlie@example.net", "pw")
    outsider.force_login(charlie)
    assert outsider.get(f"/triage/mail/{mail.uid}/").status_code == 404
    assert outsider.get("/triage/mail/").status_code == 404


def test_it_answers_404_for_a_mail_that_became_a_report(org_key: Any, db: Any) -> None:
    process_message(b"From: rita@example.net\r\nMessage-ID: <ok@example.net>\r\n\r\nXSS\r\n")
    mail = InboundMail.objects.get()
    assert mail.outcome == "report"
    alice = make_staff("alice@example.org", "triager")
    assert sign_in(Client(), alice).get(f"/triage/mail/{mail.uid}/").status_code == 404


def test_it_refuses_other_methods(org_key: Any, bob: Any) -> None:
    assert sign_in(Client(), bob).post("/triage/mail/").status_code == 405
