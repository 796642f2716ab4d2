from __future__ import annotations

import pytest

from meldpunt.lib.targets import TargetError, parse_target


@pytest.mark.parametrize(
    ("line", "host"),
    [
        ("https://Portal.Example.org/login?x=1", "portal.example.org"),
        ("http://[2001:db8::1]:8080/", "2001:db8::1"),
        ("example.org", "example.org"),
        ("mail.example.org:587", "mail.example.org"),
        ("192.0.2.10", "192.0.2.10"),
        ("192.0.2.10:8443", "192.0.2.10"),
        ("2001:db8::10", "2001:db8::10"),
        ("[2001:db8::10]:443", "2001:db8::10"),
        ("bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_it_accepts_urls_hosts_and_addresses(line, host):
    assert parse_target(line).host == host


@pytest.mark.parametrize(
    "line",
    [
        "",
        "localhost",
        "http://[::1",
        "https://[nothex]/",
        "not a host",
        "javascript:alert(1)",
        "https://",
        "999.1.1.1",
        "exa_mple.org",
        "-bad.example.org",
        "https://example.org:99999/",
        "file:///etc/passwd",
        "1.2.3",
        "example.org:0",
    ],
)
def test_it_rejects_anything_else(line):
    with pytest.raises(TargetError):
        parse_target(line)
