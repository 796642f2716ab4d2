"""The listening address (`MELDPUNT_BIND`, `serve --bind`) and the public URL it implies."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

DEFAULT_BIND = "127.0.0.1:8000"
# gunicorn's own default when a bind names no port.
DEFAULT_PORT = 8000


def parse_bind(bind: str) -> tuple[str, int] | None:
    """HOST:PORT or [IPv6]:PORT as gunicorn reads it; None for a Unix socket or nonsense."""
    bind = bind.strip()
    if not bind or bind.startswith(("unix:", "fd://")):
        return None
    if bind.startswith("["):
        host, sep, rest = bind[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:]
    elif bind.count(":") > 1:
        return None  # a bare IPv6 address is ambiguous; gunicorn wants brackets too
    else:
        host, _, port_text = bind.partition(":")
    try:
        port = int(port_text) if port_text else DEFAULT_PORT
    except ValueError:
        return None
    if not 0 < port < 65536:
        return None
    return host, port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    """Does a bind to `host` listen on every address (0.0.0.0, [::])?"""
    if not host:
        return True
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def url_for_bind(bind: str) -> str | None:
    """The URL a browser on this machine uses to reach a server listening at `bind`.

    A wildcard bind (0.0.0.0, [::]) listens everywhere; its link names this machine's own
    loopback address, since no name others would use can be known from the bind alone.
    """
    parsed = parse_bind(bind)
    if parsed is None:
        return None
    host, port = parsed
    if is_wildcard(host):
        host = "::1" if ":" in host else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def bind_mismatch(bind: str, base_url: str) -> str | None:
    """Why links to `base_url` cannot reach a server at `bind`, or None.

    Only a base URL that names this machine's loopback address can be compared: any other
    host may well be a reverse proxy in front of the bind (the usual set-up).
    """
    parsed = parse_bind(bind)
    url = urlsplit(base_url)
    try:
        url_host, url_port = url.hostname, url.port
    except ValueError:
        return None
    if parsed is None or not url_host or not _is_loopback(url_host):
        return None
    host, port = parsed
    url_port = url_port or (443 if url.scheme == "https" else 80)
    same_host = (
        is_wildcard(host)
        or host == url_host
        or (host == "localhost" and _is_loopback(url_host))
        or (url_host == "localhost" and _is_loopback(host))
    )
    if same_host and port == url_port:
        return None
    return (
        f"MELDPUNT_BASE_URL={base_url!r} names this machine, but Meldpunt listens on {bind}: "
        "links in pages, mail, security.txt, CSAF and the feed will not reach it; "
        "make them agree (or leave MELDPUNT_BASE_URL unset to derive it from the bind)."
    )
