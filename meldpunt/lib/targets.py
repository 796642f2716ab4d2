"""Parsing of 'affected system' lines: a URL, a host name or an IP address."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class TargetError(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    text: str  # as the finder wrote it, trimmed
    host: str  # normalised host name or IP address, for the blind index


def _host(value: str) -> str:
    value = value.strip().rstrip(".").lower()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    try:
        ascii_host = value.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise TargetError(value) from exc
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or len(labels) < 2 or not all(_LABEL.match(lb) for lb in labels):
        raise TargetError(value)
    if labels[-1].isdigit():
        raise TargetError(value)
    return ascii_host


def parse_target(line: str) -> Target:
    text = line.strip()
    if not text or len(text) > 2000 or any(ch.isspace() for ch in text):
        raise TargetError(text)
    if "://" in text:
        try:
            parts = urlsplit(text)
            hostname, _port = parts.hostname, parts.port  # both raise on malformed input
        except ValueError as exc:  # e.g. "http://[::1" (an unclosed IPv6 bracket)
            raise TargetError(text) from exc
        if parts.scheme.lower() not in {"http", "https", "ftp", "ws", "wss"} or not hostname:
            raise TargetError(text)
        return Target(text=text, host=_host(hostname))
    # host, host:port, IPv4, IPv4:port, IPv6 or [IPv6]:port
    host = text
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        if port and not re.fullmatch(r":\d{1,5}", port):
            raise TargetError(text)
    elif text.count(":") == 1:
        host, port = text.split(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise TargetError(text)
    return Target(text=text, host=_host(host))
