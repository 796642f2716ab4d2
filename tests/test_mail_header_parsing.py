"""The intake parses each header of a mail once, and keeps nothing of it past that mail."""

from __future__ import annotations

import email.message
import email.policy

import pytest

from meldpunt.intake import mime
from meldpunt.lib.targets import find_targets

MAIL = (
    b"From: Rita <rita@example.net>\r\n"
    b"To: security@example.org\r\n"
    b"Subject: =?utf-8?q?Lek_in_caf=C3=A9?=\r\n"
    b"Message-ID: <<\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee https://shop.example.org/\r\n"
    b'--b\r\nContent-Type: text/plain; name="poc.txt"\r\n'
    b'Content-Disposition: attachment; filename="poc.txt"\r\n\r\nproof\r\n'
    b"--b--\r\n"
)


def test_it_parses_a_header_once_per_mail(settings):
    settings.MELDPUNT_MAIL_MAX_BYTES = 1 << 20
    msg = mime.parse(MAIL)
    # The default policy builds a new header object on every read (40 per mail were
    # Content-Type alone); the intake's policy keeps the first.
    assert msg.get("Content-Type") is msg.get("Content-Type")
    part = msg.get_payload(0)
    assert isinstance(part, email.message.Message)
    assert part.get("Content-Type") is part.get("Content-Type")
    # A second mail with the same header gets its own object: nothing is shared across mails.
    assert mime.parse(MAIL).get("Content-Type") is not msg.get("Content-Type")


def test_it_reads_headers_as_the_default_policy_does(settings):
    settings.MELDPUNT_MAIL_MAX_BYTES = 1 << 20
    ours = mime.parse(MAIL)
    plain = email.message_from_bytes(MAIL, policy=email.policy.default)
    for name in ("From", "To", "Subject", "Content-Type"):
        assert str(ours[name]) == str(plain[name])
    assert ours["Subject"] == "Lek in café"
    content = mime.read(ours, MAIL, [])
    assert content.text == "See https://shop.example.org/"
    assert [(f.name, f.data) for f in content.files] == [("poc.txt", b"proof")]
    # A value the parser raises on still raises on every read, and header() still copes.
    with pytest.raises(IndexError):
        _ = ours["Message-ID"]
    with pytest.raises(IndexError):
        _ = ours["Message-ID"]
    assert mime.header(ours, "Message-ID") == "<<"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain words only, no host", []),
        ("see example\u2024org today", ["example\u2024org"]),  # IDNA reads U+2024 as a dot
        (
            "at [2001:db8::1]:443 and (https://a.example/x).",
            ["[2001:db8::1]:443", "https://a.example/x"],
        ),
    ],
)
def test_it_finds_targets_after_skipping_words_without_dot_or_colon(text, expected):
    assert [t.text for t in find_targets(text, 10)] == expected
