"""One POST to a webhook endpoint, guarded against server-side request forgery.

Only the endpoint's own URL is requested; a redirect is an answer like any other (never
followed). The host name is resolved here and every address it resolves to is checked; the
connection goes to a checked address and the connected peer is checked again, so DNS
rebinding between check and use cannot reach an internal service. Loopback, private,
link-local, shared and reserved ranges are refused unless MELDPUNT_WEBHOOK_ALLOW_PRIVATE.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

EXCERPT = 120
# How much of an answer is kept for the caller (an issue tracker's JSON about the new issue).
ANSWER_MAX = 64 * 1024
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


class Refused(Exception):
    """The request was not made: the URL or the address it resolves to is not allowed."""


@dataclass(frozen=True)
class Answer:
    status: int
    latency_ms: int
    excerpt: str
    # The start of the answer's body, for callers that read it (never logged or stored).
    data: bytes = b""


def _allowed(address: str, allow_private: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return allow_private or ip.is_global


def check_url(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of a URL we may post to; Refused for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("not an http(s) URL")
    if parts.username or parts.password:
        raise Refused("credentials in the URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise Refused("bad port") from exc
    return parts.scheme, parts.hostname, port


def _connect(host: str, port: int, timeout: float, allow_private: bool) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Refused("host does not resolve") from exc
    addresses = [info[4][0] for info in infos]
    if not addresses or not all(_allowed(str(a), allow_private) for a in addresses):
        raise Refused("private or reserved address")
    family, kind, proto, _name, target = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.settimeout(timeout)
        sock.connect(target)
        if not _allowed(str(sock.getpeername()[0]), allow_private):
            raise Refused("private or reserved address")
    except BaseException:
        sock.close()
        raise
    return sock


class _Connection(http.client.HTTPConnection):
    allow_private = False

    def connect(self) -> None:
        self.sock = _connect(self.host, self.port, float(self.timeout or 10), self.allow_private)


class _TLSConnection(http.client.HTTPSConnection):
    allow_private = False

    def connect(self) -> None:
        raw = _connect(self.host, self.port, float(self.timeout or 10), self.allow_private)
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(raw, server_hostname=self.host)


def sanitize(data: bytes) -> str:
    """A short, printable start of an answer: no line breaks, control characters or bulk."""
    text = data[: EXCERPT * 2].decode("utf-8", "replace")
    return " ".join(_UNPRINTABLE.sub(" ", text).split())[:EXCERPT]


def post(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private: bool
) -> Answer:
    """POST body to url; the answer's status, time taken and a sanitized excerpt."""
    scheme, host, port = check_url(url)
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    cls = _TLSConnection if scheme == "https" else _Connection
    connection = cls(host, port, timeout=timeout)
    connection.allow_private = allow_private
    started = time.monotonic()
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read(ANSWER_MAX)
        excerpt = sanitize(data)
    finally:
        connection.close()
    latency = int((time.monotonic() - started) * 1000)
    return Answer(response.status, latency, excerpt, data)
