"""Real mail servers for the mail-intake tests: Debian's Dovecot on loopback ports.

Test modules import the fixtures they use (`from tests.mailservers import dovecot, mailbox`).
"""

from __future__ import annotations

import datetime
import imaplib
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DOVECOT = "/usr/sbin/dovecot"
USER = "security"
PASSWORD = "imap password for tests"
PROCESSED = "Processed"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_ca(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A throw-away certificate authority."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_server_cert(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate for 127.0.0.1 and localhost, signed by `ca`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def write_ca_file(path: Path, name: str) -> Path:
    """A CA certificate nobody signed the server with (for the fail-closed test)."""
    cert, _ = make_ca(name)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


CONFIG = """\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {login_user}
first_valid_uid = {mail_uid}
last_valid_uid = {mail_uid}
mail_location = maildir:{base}/mail/%u/Maildir
auth_mechanisms = plain
# Fast tests: answer a wrong password at once, not after the usual 2 s.
auth_failure_delay = 0
ssl = yes
ssl_cert = <{base}/server.pem
ssl_key = <{base}/server.key
ssl_min_protocol = TLSv1.2
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/users
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={base}/mail/%u/home
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox {processed} {{
    auto = create
  }}
}}
# No growing delay for clients after a wrong password (the tests try one on purpose):
# the auth process cannot reach anvil's penalty socket, so it keeps no penalties.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
"""


@dataclass
class Dovecot:
    """A running Dovecot; `settings()` gives the MELDPUNT_IMAP_* values that reach it."""

    base: Path
    imap_port: int
    imaps_port: int
    ca_file: Path
    process: subprocess.Popen[bytes]

    def settings(self, security: str = "tls") -> dict[str, Any]:
        return {
            "MELDPUNT_IMAP_HOST": "127.0.0.1",
            "MELDPUNT_IMAP_PORT": self.imaps_port if security == "tls" else self.imap_port,
            "MELDPUNT_IMAP_SECURITY": security,
            "MELDPUNT_IMAP_USER": USER,
            "MELDPUNT_IMAP_PASSWORD": PASSWORD,
            "MELDPUNT_IMAP_FOLDER": "INBOX",
            "MELDPUNT_IMAP_PROCESSED_FOLDER": "",
            "MELDPUNT_IMAP_CA_FILE": str(self.ca_file),
        }

    def connect(self) -> imaplib.IMAP4:
        """A second client, as the human reading the same mailbox would be."""
        conn = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=10)
        conn.login(USER, PASSWORD)
        return conn

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        conn = self.connect()
        try:
            response: Any = conn.append(folder, "", "", raw)  # typeshed says str; it is a tuple
            assert response[0] == "OK", response
        finally:
            conn.logout()

    def flags(self, folder: str = "INBOX") -> list[set[str]]:
        """The flags of every message in `folder`, in order."""
        conn = self.connect()
        try:
            typ, _ = conn.select(f'"{folder}"', readonly=True)
            if typ != "OK":
                return []
            typ, data = conn.fetch("1:*", "(FLAGS)")
            if typ != "OK" or data == [None]:
                return []
            found = []
            for line in data:
                assert isinstance(line, bytes)
                inner = line.split(b"FLAGS (", 1)[1].split(b")", 1)[0]
                found.append(set(inner.decode().split()))
            return found
        except imaplib.IMAP4.error:
            return []
        finally:
            conn.logout()

    def empty(self) -> None:
        """Remove every message from every folder (the server lives for the whole session)."""
        conn = self.connect()
        try:
            for folder in ("INBOX", PROCESSED):
                _, count = conn.select(folder)
                if count == [b"0"]:
                    continue
                conn.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
                conn.expunge()
        finally:
            conn.logout()


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"dovecot exited with {process.returncode}: {text[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("dovecot did not answer within 15 s")


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """Dovecot with one passwd-file user, IMAP+STARTTLS and IMAPS ports, an own CA."""
    if not os.path.exists(DOVECOT):
        pytest.fail(f"{DOVECOT} is missing: install Debian's dovecot-imapd")
    # A short path: Dovecot's unix sockets must fit in 108 bytes.
    base = Path(tempfile.mkdtemp(prefix="dovecot-", dir="/tmp"))
    ca, ca_key = make_ca("Meldpunt test CA")
    cert, key = make_server_cert(ca, ca_key)
    (base / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (base / "server.key").write_bytes(_pem_key(key))
    (base / "server.key").chmod(0o600)
    ca_file = base / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (base / "users").write_text(f"{USER}:{PASSWORD}\n")
    account = pwd.getpwuid(os.getuid())
    # Dovecot never reads mail as root, and its login processes refuse to run as root.
    root = account.pw_uid == 0
    owner = pwd.getpwnam("nobody") if root else account
    (base / "mail").mkdir()
    os.chown(base / "mail", owner.pw_uid, owner.pw_gid)
    base.chmod(0o711)
    imap_port, imaps_port = free_port(), free_port()
    (base / "dovecot.conf").write_text(
        CONFIG.format(
            base=base,
            user=account.pw_name,
            group=account.pw_name,
            login_user="dovenull" if root else account.pw_name,  # Debian's package makes it
            mail_uid=owner.pw_uid,
            mail_gid=owner.pw_gid,
            processed=PROCESSED,
            imap_port=imap_port,
            imaps_port=imaps_port,
        )
    )
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(base / "dovecot.conf")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(imap_port, process, base / "dovecot.log")
        yield Dovecot(base, imap_port, imaps_port, ca_file, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def mailbox(dovecot: Dovecot, settings: Any) -> Iterator[Dovecot]:
    """An empty mailbox on the session's Dovecot, with Meldpunt's IMAP settings pointing at it."""
    dovecot.empty()
    for name, value in dovecot.settings().items():
        setattr(settings, name, value)
    yield dovecot
    dovecot.empty()
