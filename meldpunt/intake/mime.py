"""Reading a received mail defensively: headers, text, attachments, OpenPGP (RFC 3156).

Everything here treats the mail as hostile: sizes, nesting and part counts are capped,
unknown charsets decode with replacement, and every problem is a `MailError` with a
short reason code the team sees, never an exception that escapes the intake.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import re
from dataclasses import dataclass, field
from email.headerregistry import Address, AddressHeader
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import EmailPolicy
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any

import pysequoia
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.html import strip_tags

from meldpunt.lib import mailpolicy, pgp
from meldpunt.lib.uploads import IncomingFile, safe_file_name
from meldpunt.policy import keys

MAX_DEPTH = 10
MAX_PARTS = 200
HEADER_SCAN_BYTES = 256 * 1024
PGP_BLOCK = re.compile(
    rb"-----BEGIN PGP MESSAGE-----\r?\n.*?\r?\n-----END PGP MESSAGE-----", re.DOTALL
)
MESSAGE_ID = re.compile(r"<([^<>\s]{1,250})>")
MAX_SENDER_CHARS = 500
_LINE_BREAK = re.compile(r"\n|\r")


if TYPE_CHECKING:  # typeshed's policies are generic in their message class; Python's are not
    _Policy = EmailPolicy[EmailMessage]
else:
    _Policy = EmailPolicy


class _ParseOnce(_Policy):
    """`email.policy.default`, but each header of a mail is parsed once, not on every read.

    The default policy builds a new header object on each `msg.get(...)`: 65 per mail in
    the benchmark, 40 of them Content-Type while walking the parts (a third of intake's
    time). Parsed headers are immutable and depend only on (name, value), so a repeated read
    gets the same object. The cache belongs to one parsed mail (`parse` makes a policy per
    mail) and goes with it: no header of one mail, decrypted or not, outlives its intake.
    A value the parser raises on is not kept: it raises again on the next read, as before.
    """

    parsed: dict[tuple[str, str], Any] | None = None

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name"):
            return value
        value = "".join(_LINE_BREAK.split(value))  # as the default policy: \r and \n only
        if self.parsed is None:
            return self.header_factory(name, value)
        key = (name, value)
        found = self.parsed.get(key)
        if found is None:
            found = self.parsed[key] = self.header_factory(name, value)
        return found


def _policy() -> _ParseOnce:
    policy = _ParseOnce(header_factory=mailpolicy.HEADERS, message_factory=EmailMessage)
    object.__setattr__(policy, "parsed", {})  # policies are immutable once made
    return policy


class MailError(Exception):
    """The mail cannot become a report; `reason` is the code the team sees."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Envelope:
    """What the outer headers say: who, about what, and in answer to what.

    `sender` is a bare addr_spec we can write to, or "". A From that names an address but
    not one we can use (e.g. `a"b <c@example.org>`) leaves `sender` empty and is kept as
    given in `sender_raw`, for the team to read.
    """

    message_id: str
    sender: str
    sender_name: str
    subject: str
    recipients: list[str]
    references: list[str]
    language: str
    autocrypt_key: str
    sender_raw: str = ""


@dataclass
class Content:
    """The readable mail: text, files, keys it carries, and what its OpenPGP layer proved."""

    text: str = ""
    subject: str = ""
    language: str = ""
    files: list[IncomingFile] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    encrypted: bool = False
    signature: str = "none"
    signers: tuple[str, ...] = ()


def header_block(raw: bytes) -> Message:
    """Only the headers, cheap even for a mail too large to read."""
    head = raw[:HEADER_SCAN_BYTES]
    end = re.search(rb"\r?\n\r?\n", head)
    if end:
        head = head[: end.end()]
    return BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)


def message_id(headers: Message) -> str:
    """The Message-ID without angle brackets, or ""."""
    match = MESSAGE_ID.search(header(headers, "Message-ID"))
    return match[1] if match else ""


def parse(raw: bytes) -> EmailMessage:
    if len(raw) > settings.MELDPUNT_MAIL_MAX_BYTES:
        raise MailError("too_large")
    msg = email.message_from_bytes(raw, policy=_policy())
    _check_shape(msg)
    return msg


def _check_shape(msg: Message) -> None:
    # Iterative, so a mail nested a thousand levels deep cannot exhaust the stack.
    stack: list[tuple[Message, int]] = [(msg, 0)]
    count = 0
    while stack:
        part, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise MailError("too_deep")
        if count > MAX_PARTS:
            raise MailError("too_many_parts")
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))


def header(msg: Message, name: str) -> str:
    """A header's value on one line, or "": never an exception, whatever the mail holds.

    The standard library's header parser can raise on hostile input (a Message-ID of
    nothing but "<" makes it fail with IndexError, found by the fuzz test); then the
    raw value is used, and a header that cannot be read at all counts as absent.
    """
    try:
        value = msg.get(name)
        text = str(value) if value is not None else ""
    except Exception:
        text = next((str(v) for k, v in _raw_items(msg) if k.lower() == name.lower()), "")
    return " ".join(text.split())


def _raw_items(msg: Message) -> list[tuple[str, Any]]:
    try:
        return list(msg.raw_items())
    except Exception:
        return []


def _addresses(msg: Message, *names: str) -> list[str]:
    values = [header(msg, n) for n in names]
    return [addr for _name, addr in getaddresses([v for v in values if v]) if "@" in addr]


def envelope(msg: Message) -> Envelope:
    given = _raw_header(msg, "From") or header(msg, "From")
    name, sender = mailbox(given)
    raw = "" if sender or "@" not in given else _printable(given)
    references = MESSAGE_ID.findall(header(msg, "In-Reply-To") + " " + header(msg, "References"))
    return Envelope(
        message_id=message_id(msg),
        sender=sender,
        sender_name=name[:200],
        sender_raw=raw[:MAX_SENDER_CHARS],
        subject=header(msg, "Subject")[:500],
        recipients=_addresses(msg, "To", "Cc", "Delivered-To", "X-Original-To"),
        references=references[:50],
        language=header(msg, "Content-Language") or header(msg, "Accept-Language"),
        autocrypt_key=_autocrypt(header(msg, "Autocrypt")),
    )


def mailbox(value: str) -> tuple[str, str]:
    """(display name, addr_spec) of a From header, or ("", "") unless it is one mailbox
    that mail can be sent to.

    The standard library's strict header parser decides, not `parseaddr`: that one turns
    `a"b <c@example.org>` into the "address" `ab <c@example.org>`, which every later mail
    to the finder then failed to build (issue 21). Whatever the parser had to repair
    (a defect) counts as unusable, and so does a non-ASCII address: we send without
    SMTPUTF8.
    """
    try:
        parsed = mailpolicy.HEADERS("from", value)
        if not isinstance(parsed, AddressHeader):
            return "", ""
        addresses = parsed.addresses
        if len(addresses) != 1 or parsed.defects:
            return "", ""
        name, spec = _printable(addresses[0].display_name), addresses[0].addr_spec
        if not spec.isascii() or "@" not in spec:
            return "", ""
        validate_email(spec)
        Address(display_name=name, addr_spec=spec)  # what the outbox will build
    except ValidationError:
        return "", ""
    except Exception:  # the header parser can raise anything on hostile input (see header())
        return "", ""
    return name, spec


def _raw_header(msg: Message, name: str) -> str:
    """A header's value as received, unfolded, its 8-bit bytes read as UTF-8."""
    value = str(next((v for k, v in _raw_items(msg) if k.lower() == name.lower()), ""))
    # The parser keeps undecodable bytes as surrogates; raw UTF-8 names are common.
    with contextlib.suppress(UnicodeError):
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(value.split())


def _printable(text: str) -> str:
    # No control, bidi-override or lone surrogate (an undecodable byte) characters.
    return "".join(c for c in text if c.isprintable())


def _autocrypt(value: str) -> str:
    """The armored key of an Autocrypt header (keydata= is base64 of the binary key)."""
    _before, found, keydata = value.partition("keydata=")
    if not found:
        return ""
    try:
        binary = base64.b64decode("".join(keydata.split(";")[0].split()), validate=True)
        return pysequoia.armor(binary, pysequoia.ArmorKind.PublicKey)
    except Exception:  # a broken header is ignored, as Autocrypt says
        return ""


def sender_certs(armored: list[str]) -> list[pysequoia.Cert]:
    return pgp.certs_from([a for a in armored if a])


def read(msg: EmailMessage, raw: bytes, senders: list[pysequoia.Cert]) -> Content:
    """Decrypt and verify as needed, then take the text and the attachments."""
    content = _open(msg, raw, senders)
    _check_limits(content)
    return content


def _open(msg: Message, raw: bytes, senders: list[pysequoia.Cert]) -> Content:
    if _is(msg, "multipart/encrypted", "application/pgp-encrypted"):
        return _open_encrypted(msg, senders)
    if _is(msg, "multipart/signed", "application/pgp-signature"):
        return _open_signed(msg, raw, senders)
    content = _extract(msg)
    return _open_inline(content, senders)


def _is(msg: Message, ctype: str, protocol: str) -> bool:
    return bool(
        msg.get_content_type() == ctype
        and str(msg.get_param("protocol", "")).lower() == protocol
        and isinstance(msg.get_payload(), list)
        and len(msg.get_payload()) == 2
    )


def _decrypt(data: bytes, senders: list[pysequoia.Cert]) -> keys.Opened:
    try:
        return keys.decrypt(data, senders)
    except ValueError as exc:  # none of our keys opens it, or broken packets
        raise MailError("bad_pgp") from exc


def _open_encrypted(msg: Message, senders: list[pysequoia.Cert]) -> Content:
    data = msg.get_payload(1).get_payload(decode=True)  # type: ignore[union-attr]
    if not isinstance(data, bytes) or not data:
        raise MailError("bad_pgp")
    opened = _decrypt(data, senders)
    inner = parse(opened.plaintext)
    if _is(inner, "multipart/signed", "application/pgp-signature"):
        content = _open_signed(inner, opened.plaintext, senders)
    else:
        content = _extract(inner)
        content.signature, content.signers = opened.signature, opened.signers
    content.encrypted = True
    content.subject = header(inner, "Subject")[:500]
    content.language = header(inner, "Content-Language")
    return content


def _open_signed(msg: Message, raw: bytes, senders: list[pysequoia.Cert]) -> Content:
    signed, signature = msg.get_payload(0), msg.get_payload(1)
    content = _extract(signed)  # type: ignore[arg-type]
    data = signed_bytes(raw, msg.get_boundary() or "")
    sig = signature.get_payload(decode=True)  # type: ignore[union-attr]
    if data is None or not isinstance(sig, bytes):
        content.signature = "unverifiable"
        return content
    verified = pgp.verify_detached(data, sig, senders)
    content.signature, content.signers = verified.signature, verified.signers
    return content


def signed_bytes(raw: bytes, boundary: str) -> bytes | None:
    """The first part of a multipart/signed entity as sent, in canonical CRLF form."""
    end = re.search(rb"\r?\n\r?\n", raw)
    if end is None or not boundary:
        return None
    delimiter = b"--" + boundary.encode("ascii", "replace")
    lines: list[bytes] | None = None
    for line in raw[end.end() :].splitlines():
        if line.rstrip() == delimiter or line.startswith(delimiter + b"--"):
            if lines is not None:
                return b"\r\n".join(lines)
            lines = []
        elif lines is not None:
            lines.append(line)
    return None


def _open_inline(content: Content, senders: list[pysequoia.Cert]) -> Content:
    match = PGP_BLOCK.search(content.text.encode("utf-8", "replace"))
    if match is None:
        return _open_clearsigned(content, senders)
    opened = _decrypt(match[0], senders)
    text = content.text.encode("utf-8", "replace")
    plaintext = opened.plaintext.decode("utf-8", "replace")
    content.text = (
        text[: match.start()].decode("utf-8", "replace")
        + plaintext
        + text[match.end() :].decode("utf-8", "replace")
    ).strip()
    content.encrypted = True
    content.signature, content.signers = opened.signature, opened.signers
    return _partly(content, text[: match.start()], text[match.end() :])


def _open_clearsigned(content: Content, senders: list[pysequoia.Cert]) -> Content:
    """Inline cleartext-signed text (`gpg --clearsign`): the text, and what its signature says."""
    text = content.text.encode("utf-8", "replace")
    match = pgp.CLEARSIGNED.search(text)
    if match is None:
        return content
    verified = pgp.verify_message(match[0], senders)
    good = verified is not None and verified.signature == "good"
    # Shown is what the signature covers (pysequoia's verified text) when it is good.
    signed = verified.content if good and verified else pgp.cleartext(match[0])
    before, after = text[: match.start()], text[match.end() :]
    content.text = (before + signed + after).decode("utf-8", "replace").strip()
    content.signature = verified.signature if verified else "unverifiable"
    content.signers = verified.signers if verified else ()
    return _partly(content, before, after)


def _partly(content: Content, before: bytes, after: bytes) -> Content:
    """A good signature over an inline block does not vouch for the text around it."""
    if content.signature == "good" and (before.strip() or after.strip()):
        content.signature = "partial"
    return content


def _extract(msg: Message) -> Content:
    content = Content()
    texts: list[str] = []
    stack: list[Message] = [msg]
    while stack:
        part = stack.pop(0)
        if part.is_multipart():
            if part.get_content_type() == "multipart/signed":
                # A signature below the top cannot be checked against bytes we still have.
                content.signature = "unverifiable"
            stack[:0] = _children(part)
            continue
        _take(part, content, texts)
    content.text = "\n\n".join(t.strip() for t in texts if t.strip())
    return content


def _children(part: Message) -> list[Message]:
    children = [p for p in part.get_payload() if isinstance(p, Message)]
    if part.get_content_type() == "multipart/alternative":
        plain = [p for p in children if p.get_content_type() == "text/plain"]
        return plain[:1] or children[-1:]
    return children


def _take(part: Message, content: Content, texts: list[str]) -> None:
    ctype = part.get_content_type()
    attached = (part.get_content_disposition() == "attachment") or bool(part.get_filename())
    if ctype == "application/pgp-signature":
        return
    if ctype == "application/pgp-keys":
        content.keys.append(_text(part))
        return
    if ctype in ("text/plain", "text/html") and not attached:
        text = _text(part)
        texts.append(strip_tags(text) if ctype == "text/html" else text)
        return
    data = part.get_payload(decode=True)
    if ctype == "message/rfc822" or not isinstance(data, bytes):
        data = part.as_bytes(policy=email.policy.compat32) if ctype == "message/rfc822" else b""
    # A mail arrives whole (the SMTP listener and IMAP hand over the complete message), so
    # its attachments are bytes; only web uploads are sealed piece by piece as they arrive.
    content.files.append(
        IncomingFile(name=_file_name(part), content_type=ctype[:100], data=data or b"")
    )


def _text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except (LookupError, ValueError):  # unknown or misspelt charset: read it as UTF-8
        return data.decode("utf-8", "replace")


def _file_name(part: Message) -> str:
    """The same clean name as a web upload gets: no path, no control or bidi characters."""
    try:
        name = part.get_filename() or ""
    except Exception:  # a malformed RFC 2231 parameter
        name = ""
    return safe_file_name(str(name))


def _check_limits(content: Content) -> None:
    if len(content.text) > settings.MELDPUNT_MAX_TEXT_CHARS:
        raise MailError("text_too_long")
    if len(content.files) > settings.MELDPUNT_MAX_ATTACHMENTS:
        raise MailError("too_many_attachments")
    if any(len(f.data) > settings.MELDPUNT_MAX_ATTACHMENT_BYTES for f in content.files):
        raise MailError("attachment_too_large")
