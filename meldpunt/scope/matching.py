"""Which rule of the scope inventory each system a report names falls under, and the verdict.

Pure functions: the inventory is a list of `Rule`s (the `Asset` rows, or a test's table), and
nothing here writes. The rule, exactly:

- A system is a URL, a host name, an IP address (v4 or v6, bracketed in URLs), an app id or a
  service's name. Host names are compared in their ASCII (punycode) form, lower case, without
  a trailing dot, so "Bücher.example." and "xn--bcher-kva.example" are the same host.
- The most specific rule that covers it decides: a URL prefix over any host rule (the longer
  prefix first); an exact domain over a wildcard one for the same name, a deeper domain over a
  shallower one; an IP address over a CIDR range, a narrower range over a wider one. Host
  names are never resolved: a domain rule does not cover the domain's IP addresses.
- A URL rule covers the same host, on the same port if it names one (otherwise any), and a
  path under its own: "/app" covers "/app" and "/app/x", not "/apps". Domain rules cover any
  port. A rule with subdomains covers the domain itself and every name under it.
- Two rules equally specific (e.g. one value entered twice): third party, then out of scope,
  win over in scope, so the inventory never promises more than it says.
- No rule covers it: "unknown".

`report_verdict` joins the systems' verdicts: any in scope → "in_scope" (the report names at
least one system the policy covers, so it is handled as such); else any third party →
"third_party" (tell the finder where to report); else any out of scope → "out_of_scope"; else
"unknown" (also when the report names no system at all). With an empty inventory it is ""
(not checked): nothing is claimed about a scope nobody has described.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from meldpunt.lib.targets import TargetError, find_targets, parse_target

IN_SCOPE, OUT_OF_SCOPE, THIRD_PARTY, UNKNOWN, NOT_CHECKED = (
    "in_scope",
    "out_of_scope",
    "third_party",
    "unknown",
    "",
)
STATUSES = (IN_SCOPE, OUT_OF_SCOPE, THIRD_PARTY)
VERDICTS = (IN_SCOPE, OUT_OF_SCOPE, THIRD_PARTY, UNKNOWN)
KINDS = ("domain", "url", "ip", "cidr", "app", "service")
# How many systems the free text of one report may name for the check (a mail can be long).
TEXT_LIMIT = 50
TEXT_FIELDS = ("description", "steps", "impact")
# Equally specific rules: the first status in this order wins.
_TIE_ORDER = {THIRD_PARTY: 0, OUT_OF_SCOPE: 1, IN_SCOPE: 2}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_APP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class AssetError(ValueError):
    """A value that is not what its kind needs; the message says what is wrong (English; the
    forms show their own translated text)."""


@dataclass(frozen=True)
class Rule:
    kind: str
    value: str  # normalised (`normalise`)
    status: str
    subdomains: bool = False
    note: str = ""
    contact: str = ""


@dataclass(frozen=True)
class System:
    """One system a report names, as read for matching."""

    text: str
    host: str = ""  # ASCII host name or IP address ("" for an app id or a service name)
    port: int | None = None
    path: str = ""  # a URL's path ("" for a bare host)


@dataclass(frozen=True)
class Match:
    system: System
    verdict: str
    rule: Rule | None

    @property
    def display_host(self) -> str:
        """The host as people read it: an internationalised name in Unicode."""
        return unicode_host(self.system.host)


# --- Normalising ----------------------------------------------------------------------------


def ascii_host(value: str) -> str:
    """A host name in its ASCII form (IDNA), lower case, no trailing dot; AssetError if none."""
    value = value.strip().rstrip(".").lower()
    if not value:
        raise AssetError("empty host name")
    try:
        # Each label on its own: "xn--..." labels pass through, Unicode ones are encoded.
        labels = [
            lb if lb.isascii() else lb.encode("idna").decode("ascii") for lb in value.split(".")
        ]
    except UnicodeError as exc:
        raise AssetError(f"not a valid internationalised domain name: {value!r}") from exc
    name = ".".join(labels)
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(lb) for lb in labels):
        raise AssetError(f"not a valid domain name: {value!r}")
    if labels[-1].isdigit():
        raise AssetError(f"not a valid domain name (use kind ip for an address): {value!r}")
    for lb in labels:
        if lb.startswith("xn--"):
            try:
                lb.encode("ascii").decode("idna")
            except UnicodeError as exc:
                raise AssetError(f"not valid punycode: {lb!r}") from exc
    return name


def unicode_host(host: str) -> str:
    """An ASCII host name with its punycode labels decoded (an address stays as it is)."""
    out = []
    for label in host.split("."):
        if label.startswith("xn--"):
            with contextlib.suppress(UnicodeError):
                label = label.encode("ascii").decode("idna")
        out.append(label)
    return ".".join(out)


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(value.strip().strip("[]"))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _host_of(value: str) -> str:
    """An IP address in its canonical form, or a host name's ASCII form."""
    try:
        return str(_ip(value))
    except ValueError:
        return ascii_host(value)


def normalise(kind: str, value: str) -> tuple[str, bool]:
    """An asset's value as stored and matched, and whether "*." asked for subdomains."""
    value = value.strip()
    if not value:
        raise AssetError("the value is empty")
    if kind == "domain":
        wildcard = value.startswith("*.")
        return ascii_host(value[2:] if wildcard else value), wildcard
    if kind == "url":
        return _normalise_url(value), False
    if kind == "ip":
        try:
            return str(_ip(value)), False
        except ValueError as exc:
            raise AssetError(f"not an IP address: {value!r}") from exc
    if kind == "cidr":
        try:
            return str(ipaddress.ip_network(value, strict=True)), False
        except ValueError as exc:
            raise AssetError(
                f"not a CIDR range (e.g. 192.0.2.0/24) with its host bits zero: {value!r}"
            ) from exc
    if kind == "app":
        if not _APP_ID.match(value):
            raise AssetError(f"not an app id (e.g. com.example.app or id1234567): {value!r}")
        return value.lower(), False
    if kind == "service":
        if len(value) > 200 or any(ch in value for ch in "\r\n\t"):
            raise AssetError("a service's name is one line of at most 200 characters")
        return " ".join(value.split()), False
    raise AssetError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")


def _normalise_url(value: str) -> str:
    if "://" not in value:
        raise AssetError(f"a URL starts with its scheme (https://): {value!r}")
    try:
        parts = urlsplit(value)
        hostname, port = parts.hostname, parts.port
    except ValueError as exc:
        raise AssetError(f"not a valid URL: {value!r}") from exc
    if parts.scheme.lower() not in ("http", "https", "ws", "wss", "ftp") or not hostname:
        raise AssetError(f"not an http(s) URL with a host: {value!r}")
    if parts.query or parts.fragment:
        raise AssetError("a URL prefix has no query or fragment")
    host = _host_of(hostname)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path or '/'}"


# --- Reading what a report names ------------------------------------------------------------


def read_system(text: str) -> System:
    """A system as a report names it: a URL, a host, an address, or else a name (app, service)."""
    text = text.strip()
    try:
        parse_target(text)
    except TargetError:
        return System(text=text)
    if "://" in text:
        parts = urlsplit(text)
        return System(
            text=text, host=_host_of(parts.hostname or ""), port=parts.port, path=parts.path or "/"
        )
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = int(port_text)
    try:
        return System(text=text, host=_host_of(host), port=port)
    except AssetError:
        return System(text=text)


def systems_of(content: dict[str, Any]) -> list[System]:
    """The form's affected systems, then the URLs and hosts in the text, each once."""
    found: dict[str, System] = {}
    for entry in content.get("affected_systems") or []:
        if isinstance(entry, str) and entry.strip():
            system = read_system(entry)
            found.setdefault(system.text, system)
    for key in TEXT_FIELDS:
        text = content.get(key)
        if isinstance(text, str) and text:
            for target in find_targets(text, TEXT_LIMIT):
                found.setdefault(target.text, read_system(target.text))
    return list(found.values())


# --- Matching -------------------------------------------------------------------------------


def _specificity(rule: Rule, system: System) -> tuple[int, int, int] | None:
    """How specifically the rule covers the system; None when it does not."""
    host = system.host
    if rule.kind == "url":
        if not host:
            return None
        parts = urlsplit(rule.value)
        if _host_of(parts.hostname or "") != host:
            return None
        if parts.port is not None and parts.port != system.port:
            return None
        prefix, path = parts.path or "/", system.path or "/"
        if not (
            path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/")
        ):
            return None
        return (4, len(prefix), 0)
    if rule.kind == "domain":
        if not host or ":" in host or host.replace(".", "").isdigit():
            return None
        if host == rule.value:
            return (3, rule.value.count(".") + 1, 0 if rule.subdomains else 1)
        if rule.subdomains and host.endswith("." + rule.value):
            return (3, rule.value.count(".") + 1, 0)
        return None
    if rule.kind in ("ip", "cidr"):
        try:
            address = _ip(host)
        except ValueError:
            return None
        if rule.kind == "ip":
            return (2, 200, 0) if str(address) == rule.value else None
        network = ipaddress.ip_network(rule.value)
        if address.version == network.version and address in network:
            return (2, network.prefixlen, 0)
        return None
    if rule.kind == "app":
        return (1, 0, 0) if system.text.lower() == rule.value else None
    if rule.kind == "service":
        named = " ".join(system.text.split()).casefold()
        return (1, 0, 0) if named == rule.value.casefold() else None
    return None


def match_system(system: System, rules: Iterable[Rule]) -> Match:
    best: tuple[tuple[int, int, int, int], Rule] | None = None
    for rule in rules:
        found = _specificity(rule, system)
        if found is None:
            continue
        key = (*found, -_TIE_ORDER.get(rule.status, 9))
        if best is None or key > best[0]:
            best = (key, rule)
    if best is None:
        return Match(system=system, verdict=UNKNOWN, rule=None)
    return Match(system=system, verdict=best[1].status, rule=best[1])


def matches(content: dict[str, Any], rules: Sequence[Rule]) -> list[Match]:
    """Each system the report names with its verdict: computed on display, never stored."""
    return [match_system(s, rules) for s in systems_of(content)]


def combine(verdicts: Iterable[str], *, checked: bool = True) -> str:
    if not checked:
        return NOT_CHECKED
    found = set(verdicts)
    for verdict in (IN_SCOPE, THIRD_PARTY, OUT_OF_SCOPE):
        if verdict in found:
            return verdict
    return UNKNOWN


def verdict_for(content: dict[str, Any], rules: Sequence[Rule]) -> str:
    if not rules:
        return NOT_CHECKED
    return combine(m.verdict for m in matches(content, rules))


def report_verdict(content: dict[str, Any], rules: Sequence[Rule] | None = None) -> str:
    """The report's verdict against the inventory (the database's unless `rules` is given)."""
    if rules is None:
        from meldpunt.scope.inventory import current_rules

        rules = current_rules()
    return verdict_for(content, rules)
