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


# What may stand around a URL or host in running text: "(see https://x.example/a)." and
# "<https://x.example/>" name the target without the brackets and the full stop.
_TRIM = "\"'()<>[]{},;:!?.*`\u201c\u201d\u2018\u2019\u00ab\u00bb"
# Running text names files as often as hosts ("index.php", "config.json"): a bare name
# ending in one of these is a file, not a host (a bare host under .md, .py or .sh is lost: in
# a finder's mail those are scripts far more often). URLs and addresses are never in doubt.
_FILE_ENDINGS = frozenset(
    (
        *("asp", "aspx", "bak", "cfg", "cgi", "conf", "css", "csv", "doc", "docx", "env"),
        *("exe", "gif", "htm", "html", "ini", "jar", "java", "jpeg", "jpg", "js", "json"),
        *("jsp", "log", "md", "php", "pdf", "png", "py", "rb", "sh", "sql", "svg", "tar"),
        *("tgz", "ts", "txt", "xml", "yaml", "yml", "zip"),
    )
)


def find_targets(text: str, limit: int) -> list[Target]:
    """The URLs, host names and IP addresses that a free text (a mail) names, each as the
    report form's `parse_target` reads it, in order and once, at most `limit`."""
    found: dict[str, Target] = {}
    for word in text.split():
        target = _target_in(word)
        if target is not None:
            found.setdefault(target.text, target)
        if len(found) == limit:
            break
    return list(found.values())


_TRIM_KEEP_BRACKETS = _TRIM.replace("[]", "")


def _target_in(word: str) -> Target | None:
    # Every target has a dot (a host name, IPv4) or a colon (IPv6, a URL): most words of a
    # mail have neither and are not parsed at all (intake reads every word of every mail).
    # Only for ASCII words: IDNA's normalisation turns other characters into dots (U+2024).
    if word.isascii() and "." not in word and ":" not in word:
        return None
    stripped = word.strip(_TRIM)
    # Brackets are kept on a second try: "[2001:db8::1]:443" is an address with a port.
    kept = word.strip(_TRIM_KEEP_BRACKETS)
    for candidate in (stripped,) if kept == stripped else (stripped, kept):
        if "://" not in candidate and "@" in candidate:
            return None  # an e-mail address names a mailbox, not an affected system
        try:
            target = parse_target(candidate)
        except TargetError:
            continue
        if "://" in candidate or _is_address(target.host):
            return target
        ending = target.host.rsplit(".", 1)[-1]
        # "e.g." and "i.e." are not hosts: a real top-level domain has two letters or more.
        if len(ending) < 2 or ending in _FILE_ENDINGS:
            return None
        return target
    return None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
