"""Building PGP/MIME mail (RFC 3156): a whole MIME entity, encrypted to the finder and signed.

The inner entity (text plus attachments, with its own headers) is encrypted as it is, so the
finder's mail program shows it like any mail once decrypted. The outer headers carry nothing
of it: the outbox gives the outer mail only the reference as subject. Encrypting is the
caller's part (it holds the keys): `canonical(inner)` is what to encrypt, `encrypted(armored)`
wraps the result.
"""

from __future__ import annotations

from email.message import EmailMessage

from meldpunt.lib import mailpolicy

# CRLF line ends inside the encrypted entity too: RFC 3156 asks for canonical text before
# encryption, and signatures over the inner parts would otherwise break in transit.
INNER_POLICY = mailpolicy.SMTP


def text_part(text: str) -> EmailMessage:
    """A text/plain UTF-8 entity; quoted-printable keeps the mail 7-bit clean."""
    part = EmailMessage(policy=mailpolicy.DEFAULT)
    part.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    return part


def with_attachments(text: str, files: list[tuple[str, str, bytes]]) -> EmailMessage:
    """text/plain, or multipart/mixed with each (name, content type, data) attached."""
    entity = text_part(text)
    for name, content_type, data in files:
        maintype, _, subtype = content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        entity.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return entity


def canonical(inner: EmailMessage) -> bytes:
    """The bytes of the inner entity to encrypt (and sign), with canonical line ends."""
    return inner.as_bytes(policy=INNER_POLICY)


def encrypted(armored: bytes) -> EmailMessage:
    """multipart/encrypted around `armored`, the OpenPGP message of `canonical(inner)`."""
    version = EmailMessage(policy=mailpolicy.DEFAULT)
    version["Content-Type"] = "application/pgp-encrypted"
    version["Content-Description"] = "PGP/MIME version identification"
    version.set_payload("Version: 1\r\n")
    payload = EmailMessage(policy=mailpolicy.DEFAULT)
    payload["Content-Type"] = 'application/octet-stream; name="encrypted.asc"'
    payload["Content-Description"] = "OpenPGP encrypted message"
    payload["Content-Disposition"] = 'inline; filename="encrypted.asc"'
    payload.set_payload(armored.decode("ascii"))
    outer = EmailMessage(policy=mailpolicy.DEFAULT)
    outer["MIME-Version"] = "1.0"
    outer["Content-Type"] = 'multipart/encrypted; protocol="application/pgp-encrypted"'
    outer.attach(version)
    outer.attach(payload)
    return outer
