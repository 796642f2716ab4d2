"""`gpg --locate-keys` finds the organisation's key through WKD, as a finder's gpg would.

The real gpg runs in a private mount namespace (root only) whose system CA bundle holds only
a test CA (dirmngr 2.2 trusts nothing else for WKD) and whose resolver is a local stub that
knows no names. Its dirmngr reaches "https://example.org" through an http-proxy that ends TLS
locally and answers with what Django serves. Nothing on the machine changes; nothing leaves it.
"""

from __future__ import annotations

import datetime
import queue
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import Client

from meldpunt.public.published import wkd_hash
from tests.conftest import GnuPG
from tests.mailservers import _pem_key, make_ca, write_ca_file

HOSTS = ("example.org", "openpgpkey.example.org")
SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
# Inside the namespace: trust only "$1", resolve through "$2", then run gpg.
IN_NAMESPACE = (
    f'mount --bind "$1" {SYSTEM_CA_FILE} && mount --bind "$2" /etc/resolv.conf && '
    'exec gpg --homedir "$3" --batch --no-tty --auto-key-locate clear,wkd,nodefault '
    "--locate-keys security@example.org"
)
KEY_PATH = f"/.well-known/openpgpkey/hu/{wkd_hash('security@example.org')}?l=security"


def site_cert(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate for example.org and its WKD subdomain, signed by `ca`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTS[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTS]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def read_head(sock: socket.socket) -> bytes:
    """An HTTP request head, byte by byte so that nothing after it is consumed."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte or len(head) > 8192:
            raise ConnectionError("incomplete request head")
        head += byte
    return head


@dataclass
class Fetch:
    """One HTTPS request that reached the site; the test's thread answers it."""

    host: str
    path: str
    answer: queue.Queue[bytes] = field(default_factory=queue.Queue)


class ProxyHandler(socketserver.BaseRequestHandler):
    server: Site

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(10)
        try:
            target = read_head(conn).split()[1].decode()
            host, _, port = target.rpartition(":")
            # A proxy for the test's hosts only: anything else would be the internet.
            if host not in HOSTS or port != "443":
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\n\r\n")
                return
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with self.server.tls.wrap_socket(conn, server_side=True) as tls:
                fetch = Fetch(host, read_head(tls).split()[1].decode())
                self.server.fetches.put(fetch)
                tls.sendall(fetch.answer.get(timeout=10))
        except (OSError, queue.Empty, IndexError):
            pass  # gpg gave up (e.g. an untrusted certificate): the test sees that.


class Site(socketserver.ThreadingTCPServer):
    """example.org on loopback: an HTTP CONNECT proxy that ends TLS itself."""

    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.tls = tls
        self.fetches: queue.Queue[Fetch] = queue.Queue()
        self.seen: list[tuple[str, str]] = []

    def answer(self, fetch: Fetch) -> None:
        """What Django serves for the path (run in the test's thread, inside its transaction)."""
        self.seen.append((fetch.host, fetch.path))
        response = Client().get(fetch.path, secure=True)
        head = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
        head += [f"{k}: {v}" for k, v in response.items() if k.lower() != "content-length"]
        head += [f"Content-Length: {len(response.content)}", "Connection: close"]
        fetch.answer.put(("\r\n".join(head) + "\r\n\r\n").encode() + response.content)


class NoSuchName(socketserver.BaseRequestHandler):
    """A resolver's answer to every question: "no such name"."""

    def handle(self) -> None:
        query, sock = self.request
        end = 12
        while end < len(query) and query[end]:  # skip the question's name, label by label
            end += query[end] + 1
        question = query[12 : end + 5]
        # Same id; response, recursion desired/available, NXDOMAIN; one question.
        sock.sendto(query[:2] + b"\x81\x83\x00\x01" + bytes(6) + question, self.client_address)


@contextmanager
def serving(server: socketserver.TCPServer) -> Iterator[int]:
    """Runs `server` in a thread; yields its port."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(server.socket.getsockname()[1])
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Locator:
    """Runs `gpg --locate-keys` for the contact address in a namespace that trusts `ca_file`."""

    gpg: GnuPG
    site: Site
    ca_file: Path
    resolv_conf: Path

    def locate(self) -> subprocess.CompletedProcess[bytes]:
        args = [str(self.ca_file), str(self.resolv_conf), self.gpg.home]
        cmd = ["unshare", "--mount", "sh", "-c", IN_NAMESPACE, "sh", *args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("gpg --locate-keys did not finish in 30 s")
            try:
                self.site.answer(self.site.fetches.get(timeout=0.05))
            except queue.Empty:
                continue
        stdout, stderr = proc.communicate()
        return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)

    def listing(self) -> str:
        return str(self.gpg.run("--with-colons", "--list-keys").stdout.decode())


def namespaces_allowed() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0


@pytest.fixture
def locator(gpg: GnuPG, tmp_path: Path) -> Iterator[Locator]:
    if not namespaces_allowed():
        pytest.skip("needs `unshare --mount` (root): gpg must trust a test CA as a system CA")
    ca, ca_key = make_ca("WKD test CA")
    cert, key = site_cert(ca, ca_key)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "site.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "site.key").write_bytes(_pem_key(key))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "site.pem", tmp_path / "site.key")
    site = Site(tls)
    resolver = socketserver.UDPServer(("127.0.0.1", 0), NoSuchName)
    with serving(site) as proxy_port, serving(resolver) as dns_port:
        # dirmngr's own resolver takes "[address]:port"; no question leaves the machine.
        (tmp_path / "resolv.conf").write_text(f"nameserver [127.0.0.1]:{dns_port}\n")
        (Path(gpg.home) / "dirmngr.conf").write_text(f"http-proxy http://127.0.0.1:{proxy_port}\n")
        # dirmngr runs on in the namespace; the gpg fixture stops it through its socket.
        yield Locator(gpg, site, tmp_path / "ca.pem", tmp_path / "resolv.conf")


def test_it_lets_gpg_locate_the_key(org_key, locator):
    result = locator.locate()
    assert result.returncode == 0, result.stderr.decode()
    listing = locator.listing()
    assert f"fpr:::::::::{org_key.fingerprint}:" in listing, result.stderr.decode()
    uids = [line.split(":")[9] for line in listing.splitlines() if line.startswith("uid:")]
    assert uids == ["Example Org Security <security@example.org>"]
    # The direct method, as published: openpgpkey.example.org does not resolve.
    assert locator.site.seen == [("example.org", KEY_PATH)]


def test_it_finds_nothing_without_a_key(db, locator):
    # gpg exits 0 when WKD has no key, so the keyring tells.
    result = locator.locate()
    assert "via WKD: No data" in result.stderr.decode()
    assert "pub:" not in locator.listing()
    # After the 404, dirmngr sometimes also reads the policy file (whether the domain
    # takes part in WKD at all); that depends on its timing, not on us.
    assert locator.site.seen[0] == ("example.org", KEY_PATH)
    assert set(locator.site.seen[1:]) <= {("example.org", "/.well-known/openpgpkey/policy")}


def test_it_fails_when_gpg_does_not_trust_the_certificate(org_key, locator, tmp_path):
    locator.ca_file = write_ca_file(tmp_path / "other-ca.pem", "Some other CA")
    result = locator.locate()
    assert "error retrieving 'security@example.org' via WKD" in result.stderr.decode()
    assert "pub:" not in locator.listing()
    assert locator.site.seen == []  # no request got past the TLS handshake
