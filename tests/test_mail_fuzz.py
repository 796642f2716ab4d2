"""Fuzzing the mail intake with malformed MIME and OpenPGP (hypothesis, derandomized).

Whatever arrives, `process_message` returns an outcome (TemporaryFailure is for an
unavailable database and must not happen here), and each mail leaves either a complete
report or a failed/ignored intake row: never an attachment file without its row.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pysequoia
import pytest
from django.core.files.storage import default_storage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meldpunt.intake.mail import process_message
from meldpunt.intake.models import InboundMail
from meldpunt.reports.models import Attachment, Message, Report

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples in every run: CI stays stable
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the database is checked per example instead
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

INNER = (
    b'Content-Type: multipart/mixed; boundary="in"\r\n\r\n--in\r\n'
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe backup bucket is public.\r\n--in\r\n"
    b'Content-Type: application/octet-stream; name="dump.txt"\r\n'
    b'Content-Disposition: attachment; filename="dump.txt"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    + base64.b64encode(b"leaked rows")
    + b"\r\n--in--\r\n"
)


def files() -> set[str]:
    root = Path(default_storage.path(""))
    if not root.exists():
        return set()
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def counts() -> tuple[int, int, int, int]:
    return (
        Report.objects.count(),
        Message.objects.count(),
        InboundMail.objects.count(),
        Attachment.objects.count(),
    )


def check(raw: bytes, files_before: set[str]) -> None:
    """One mail in: an outcome, and rows and files that agree with it."""
    reports, messages, intakes, attachments = counts()
    result = process_message(raw)  # TemporaryFailure would fail the test: it must not occur
    after = counts()
    if result.outcome == "report":
        assert result.report is not None
        assert after[0] == reports + 1 and after[2] == intakes + 1
    elif result.outcome == "message":
        assert after[1] == messages + 1 and after[2] == intakes + 1
    elif result.outcome in ("failed", "ignored"):
        # A crash inside Meldpunt is kept, but it is a bug: the fuzzer must not find one.
        assert result.reason and result.reason != "internal_error", result
        assert after == (reports, messages, intakes + 1, attachments)
    else:
        assert result.outcome == "duplicate"
        assert after == (reports, messages, intakes, attachments)
    # Every attachment file belongs to a row and every new row has its file: no orphans.
    new_files = files() - files_before
    names = set(Attachment.objects.filter(in_database=False).values_list("storage_name", flat=True))
    assert new_files <= names
    assert names - files_before <= new_files
    # And every attachment kept in the database has its pieces.
    assert not Attachment.objects.filter(in_database=True, chunks__isnull=True).exists()


@pytest.fixture
def ciphertext(org_key: Any) -> bytes:
    """A real PGP message to the organisation's key, for the fuzzer to damage."""
    return bytes(pysequoia.encrypt(INNER, recipients=[org_key.cert]))


# --- Strategies -------------------------------------------------------------------------

senders = st.sampled_from(
    [
        b"From: rita@example.net",
        b"From: <>",
        b"From: \xff\xfe@\x00",
        b"From: =?utf-8?b?!!?= <x@y>",
        b"",
    ]
)
charsets = st.sampled_from(
    [b"utf-8", b"bogus-charset", b"utf-7", b"iso-2022-jp", b"utf-16", b'"', b"", b"x-\xff"]
)
encodings = st.sampled_from(
    [b"base64", b"quoted-printable", b"7bit", b"8bit", b"x-uuencode", b"bogus", b""]
)
ctypes = st.sampled_from(
    [
        b"text/plain",
        b"text/html",
        b"application/octet-stream",
        b"application/pgp-keys",
        b"application/pgp-signature",
        b"application/pgp-encrypted",
        b"message/rfc822",
        b"text/",
        b"",
    ]
)
garbage_b64 = st.binary(max_size=200).map(lambda b: base64.b64encode(b)[:-2] + b"!*\r\n==")


def armored(body: bytes, end: bool = True) -> bytes:
    tail = b"\r\n-----END PGP MESSAGE-----\r\n" if end else b""
    return b"-----BEGIN PGP MESSAGE-----\r\n\r\n" + body + tail


garbage_pgp = st.one_of(
    st.binary(max_size=300).map(lambda b: armored(base64.encodebytes(b))),
    st.binary(max_size=300).map(lambda b: armored(base64.encodebytes(b), end=False)),
    st.binary(max_size=100).map(lambda b: armored(b)),
    st.just(armored(b"=AAAA")),
)
payloads = st.one_of(st.binary(max_size=300), garbage_b64, garbage_pgp)


def leaf(ctype: bytes, charset: bytes, cte: bytes, payload: bytes) -> bytes:
    return (
        b"Content-Type: " + ctype + b"; charset=" + charset + b"\r\n"
        b"Content-Transfer-Encoding: " + cte + b"\r\n\r\n" + payload
    )


def multipart(
    parts: list[bytes], subtype: bytes, boundary: bytes, used: bytes, close: bool
) -> bytes:
    body = b"".join(b"\r\n--" + used + b"\r\n" + p for p in parts)
    body += b"\r\n--" + used + b"--\r\n" if close else b""
    return b"Content-Type: multipart/" + subtype + b'; boundary="' + boundary + b'"\r\n\r\n' + body


boundaries = st.sampled_from([b"b1", b"b2", b"", b'"', b"b1\r\nX: y", b"-" * 80])
subtypes = st.sampled_from([b"mixed", b"alternative", b"signed", b"encrypted", b"related", b"x"])
entities = st.recursive(
    st.builds(leaf, ctypes, charsets, encodings, payloads),
    lambda children: st.builds(
        multipart, st.lists(children, max_size=4), subtypes, boundaries, boundaries, st.booleans()
    ),
    max_leaves=12,
)


def message(sender: bytes, extra: list[bytes], entity: bytes) -> bytes:
    head = [sender, b"To: security@example.org", b"Subject: fuzz", b"MIME-Version: 1.0", *extra]
    return b"\r\n".join(h for h in head if h) + b"\r\n" + entity


extra_headers = st.lists(
    st.one_of(
        st.binary(max_size=80).map(lambda b: b"X-Fuzz: " + b.replace(b"\n", b" ")),
        st.integers(1, 60_000).map(lambda n: b"X-Huge: " + b"a" * n),
        st.integers(1, 2_000).map(lambda n: b"\r\n".join([b"Received: from x by y"] * n)),
        st.sampled_from(
            [
                b"Message-ID: <fuzz@example.net>",
                b"Message-ID: " + b"<" * 300,
                b"Subject: =?bogus?q?=FF=FE?=",
                b"Content-Language: \xff",
                b"Auto-Submitted: auto-replied",
                b"In-Reply-To: <nothing@example.org>",
                b"Autocrypt: addr=rita@example.net; keydata=AAAA!!",
            ]
        ),
    ),
    max_size=4,
)


def nested(depth: int, inner: bytes) -> bytes:
    for level in range(depth):
        b = b"n%d" % level
        inner = (
            b'Content-Type: multipart/mixed; boundary="' + b + b'"\r\n\r\n--' + b + b"\r\n" + inner
        )
        inner += b"\r\n--" + b + b"--\r\n"
    return inner


def pgp_mime(control: bytes, data: bytes) -> bytes:
    return multipart(
        [
            b"Content-Type: application/pgp-encrypted\r\n\r\n" + control,
            b"Content-Type: application/octet-stream\r\n\r\n" + data,
        ],
        b'encrypted; protocol="application/pgp-encrypted"',
        b"pgp",
        b"pgp",
        True,
    )


def damage(data: st.DataObject, good: bytes) -> bytes:
    how = data.draw(st.sampled_from(["truncate", "flip", "swap_body", "none"]))
    if how == "truncate":
        return good[: data.draw(st.integers(0, len(good)))]
    if how == "flip":
        at = data.draw(st.integers(0, len(good) - 1))
        return good[:at] + bytes([good[at] ^ data.draw(st.integers(1, 255))]) + good[at + 1 :]
    if how == "swap_body":
        lines = good.split(b"\n")
        middle = data.draw(st.binary(min_size=1, max_size=60))
        return b"\n".join([*lines[:3], base64.b64encode(middle), *lines[-3:]])
    return good


# --- Tests ------------------------------------------------------------------------------


@FUZZ
@given(
    raw=st.one_of(
        st.binary(max_size=3000), st.binary(max_size=500).map(lambda b: b"From: a@b\r\n" + b)
    )
)
def test_it_survives_random_bytes(org_key: Any, raw: bytes) -> None:
    check(raw, files())


@FUZZ
@given(sender=senders, extra=extra_headers, entity=entities)
def test_it_survives_malformed_mime(
    org_key: Any, sender: bytes, extra: list[bytes], entity: bytes
) -> None:
    check(message(sender, extra, entity), files())


@FUZZ
@given(depth=st.integers(1, 150), entity=entities)
def test_it_survives_deep_nesting(org_key: Any, depth: int, entity: bytes) -> None:
    check(message(b"From: rita@example.net", [], nested(depth, entity)), files())


@FUZZ
@given(data=st.data())
def test_it_survives_damaged_pgp(org_key: Any, ciphertext: bytes, data: st.DataObject) -> None:
    damaged = damage(data, ciphertext)
    kind = data.draw(st.sampled_from(["pgp_mime", "inline", "garbage_mime", "bad_control"]))
    if kind == "pgp_mime":
        entity = pgp_mime(b"Version: 1\r\n", damaged)
    elif kind == "inline":
        entity = b"Content-Type: text/plain\r\n\r\nHello,\r\n\r\n" + damaged
    elif kind == "garbage_mime":
        entity = pgp_mime(b"Version: 1\r\n", data.draw(garbage_pgp))
    else:
        entity = pgp_mime(data.draw(st.binary(max_size=40)), damaged)
    check(message(b"From: rita@example.net", data.draw(extra_headers), entity), files())
