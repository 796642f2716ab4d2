"""Mail policies that make each header class once (meldpunt.lib.mailpolicy)."""

from __future__ import annotations

from email import policy
from email.headerregistry import HeaderRegistry, UniqueUnstructuredHeader
from email.message import EmailMessage
from typing import Any

from meldpunt.intake import mime
from meldpunt.lib import mailpolicy, pgpmime


def test_each_kind_of_header_gets_one_class() -> None:
    headers = mailpolicy.HEADERS
    assert headers["Subject"] is headers["subject"]
    assert headers["To"] is headers["Cc"]  # both address lists
    assert headers["X-Invented-1"] is headers["X-Invented-2"]  # unknown names share one
    assert headers["To"] is not headers["Subject"]
    # The standard registry makes a new class every time: what this saves.
    stock = HeaderRegistry()
    assert stock["Subject"] is not stock["Subject"]


def test_a_mail_with_thousands_of_invented_headers_adds_no_classes() -> None:
    names = "".join(f"X-Made-Up-{n}: value {n}\r\n" for n in range(2000))
    raw = f"From: a@example.org\r\nSubject: hi\r\n{names}\r\nbody\r\n".encode()
    mime.parse(raw)
    before = len(mailpolicy.HEADERS._made)
    msg = mime.parse(raw)
    assert [str(msg[f"X-Made-Up-{n}"]) for n in (0, 1999)] == ["value 0", "value 1999"]
    assert len(mailpolicy.HEADERS._made) == before <= len(mailpolicy.HEADERS.registry) + 1


def test_a_registered_kind_made_later_is_used() -> None:
    headers = mailpolicy.Headers()
    before = headers["X-Special"]
    headers.map_to_type("x-special", UniqueUnstructuredHeader)
    assert headers["X-Special"] is not before
    assert headers["X-Special"] is headers["Subject"]


def test_mail_built_with_it_has_the_standard_librarys_bytes() -> None:
    def build(make: Any) -> bytes:
        mail = EmailMessage(policy=make)
        mail["From"] = "Security team <security@example.org>"
        mail["To"] = ["Fïnder <finder@example.net>", "b@example.net"]
        mail["Subject"] = "[MP-2026-0042] Wé received your report " + "long " * 20
        mail.set_content("Dank u.\n" * 3, charset="utf-8", cte="quoted-printable")
        mail.add_attachment(b"\x00\x01" * 40, maintype="application", subtype="octet-stream")
        return mail.as_bytes(policy=make.clone(linesep="\r\n"))

    ours, theirs = build(mailpolicy.DEFAULT), build(policy.default)

    def boundary(raw: bytes) -> bytes:
        return raw.split(b'boundary="', 1)[1].split(b'"', 1)[0]

    assert ours.replace(boundary(ours), b"B") == theirs.replace(boundary(theirs), b"B")
    assert pgpmime.INNER_POLICY.linesep == "\r\n"
