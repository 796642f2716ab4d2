"""The scope matching rule, case by case: most specific rule wins, names and addresses as
people write them (IDNA both ways, ports, IPv6, trailing dots, case)."""

from __future__ import annotations

import pytest

from meldpunt.scope.matching import (
    AssetError,
    Rule,
    match_system,
    matches,
    normalise,
    read_system,
    report_verdict,
    unicode_host,
)


def rule(kind: str, value: str, status: str, **kw: object) -> Rule:
    normal, wildcard = normalise(kind, value)
    return Rule(kind=kind, value=normal, status=status, subdomains=wildcard, **kw)  # type: ignore[arg-type]


RULES = [
    rule("domain", "*.example.org", "in_scope"),
    rule("domain", "legacy.example.org", "out_of_scope"),
    rule("domain", "*.dev.example.org", "out_of_scope"),
    rule("domain", "shop.example.org", "in_scope"),
    rule("url", "https://www.example.org/blog", "third_party", contact="security@blogs.test"),
    rule("url", "https://www.example.org/blog/api/", "in_scope"),
    rule("url", "https://shop.example.org:8443/", "out_of_scope"),
    rule("domain", "exact.test", "in_scope"),
    rule("domain", "*.bücher.example", "in_scope"),
    rule("domain", "xn--mnchen-3ya.example", "out_of_scope"),
    rule("ip", "192.0.2.10", "out_of_scope"),
    rule("cidr", "192.0.2.0/24", "in_scope"),
    rule("cidr", "192.0.2.128/25", "third_party", contact="https://hoster.test/security"),
    rule("cidr", "2001:db8::/32", "in_scope"),
    rule("cidr", "2001:db8:bad::/48", "out_of_scope"),
    rule("ip", "2001:db8::1", "third_party"),
    rule("app", "com.example.mobile", "in_scope"),
    rule("service", "Zendesk", "third_party", contact="https://www.zendesk.com/trust/"),
]

CASES = [
    # wildcard: the domain itself and every name under it
    ("example.org", "in_scope", "example.org"),
    ("www.example.org", "in_scope", "example.org"),
    ("a.b.c.example.org", "in_scope", "example.org"),
    ("notexample.org", "unknown", None),
    ("example.org.evil.test", "unknown", None),
    # exact host over wildcard, deeper wildcard over shallower
    ("legacy.example.org", "out_of_scope", "legacy.example.org"),
    ("sub.legacy.example.org", "in_scope", "example.org"),
    ("dev.example.org", "out_of_scope", "dev.example.org"),
    ("api.dev.example.org", "out_of_scope", "dev.example.org"),
    ("exact.test", "in_scope", "exact.test"),
    ("www.exact.test", "unknown", None),
    # case, trailing dots, ports on domains
    ("WWW.Example.ORG.", "in_scope", "example.org"),
    ("https://LEGACY.example.org./login", "out_of_scope", "legacy.example.org"),
    ("legacy.example.org:8080", "out_of_scope", "legacy.example.org"),
    ("http://legacy.example.org:8080/x", "out_of_scope", "legacy.example.org"),
    # URL prefixes over hosts, longer prefix first, on path segments
    ("https://www.example.org/blog", "third_party", "https://www.example.org/blog"),
    ("https://www.example.org/blog/post/1?x=1", "third_party", "https://www.example.org/blog"),
    ("http://www.example.org/blog/", "third_party", "https://www.example.org/blog"),
    ("https://www.example.org/blogger", "in_scope", "example.org"),
    ("https://www.example.org/blog/api/v1", "in_scope", "https://www.example.org/blog/api/"),
    ("https://www.example.org/", "in_scope", "example.org"),
    ("www.example.org", "in_scope", "example.org"),
    # a URL rule with a port covers that port only
    ("https://shop.example.org:8443/cart", "out_of_scope", "https://shop.example.org:8443/"),
    ("https://shop.example.org/cart", "in_scope", "shop.example.org"),
    ("shop.example.org:8443", "out_of_scope", "https://shop.example.org:8443/"),
    # internationalised names, both ways
    ("bücher.example", "in_scope", "xn--bcher-kva.example"),
    ("xn--bcher-kva.example", "in_scope", "xn--bcher-kva.example"),
    ("https://WWW.BÜCHER.example/", "in_scope", "xn--bcher-kva.example"),
    ("münchen.example", "out_of_scope", "xn--mnchen-3ya.example"),
    ("https://xn--mnchen-3ya.example./", "out_of_scope", "xn--mnchen-3ya.example"),
    ("www.münchen.example", "unknown", None),
    # IPv4: exact address over range, narrower range over wider
    ("192.0.2.10", "out_of_scope", "192.0.2.10"),
    ("192.0.2.11", "in_scope", "192.0.2.0/24"),
    ("192.0.2.200", "third_party", "192.0.2.128/25"),
    ("http://192.0.2.200:8080/admin", "third_party", "192.0.2.128/25"),
    ("192.0.2.11:22", "in_scope", "192.0.2.0/24"),
    ("192.0.3.1", "unknown", None),
    # IPv6, bracketed in URLs, mapped IPv4
    ("2001:db8::5", "in_scope", "2001:db8::/32"),
    ("2001:DB8:0:0::5", "in_scope", "2001:db8::/32"),
    ("[2001:db8::5]:443", "in_scope", "2001:db8::/32"),
    ("https://[2001:db8:bad::1]:8443/x", "out_of_scope", "2001:db8:bad::/48"),
    ("2001:db8::1", "third_party", "2001:db8::1"),
    ("http://[2001:db8::1]/", "third_party", "2001:db8::1"),
    ("2001:db9::1", "unknown", None),
    ("::ffff:192.0.2.11", "in_scope", "192.0.2.0/24"),
    # names are never resolved: a domain rule does not cover an address, nor the reverse
    ("198.51.100.7", "unknown", None),
    # app ids and service names
    ("com.example.mobile", "in_scope", "com.example.mobile"),
    ("COM.EXAMPLE.MOBILE", "in_scope", "com.example.mobile"),
    ("com.example.mobile.beta", "unknown", None),
    ("zendesk", "third_party", "Zendesk"),
    ("Some Other Service", "unknown", None),
]


@pytest.mark.parametrize(("system", "verdict", "by"), CASES)
def test_each_system_falls_under_its_most_specific_rule(
    system: str, verdict: str, by: str | None
) -> None:
    found = match_system(read_system(system), RULES)
    assert found.verdict == verdict
    assert (found.rule.value if found.rule else None) == by


def test_equally_specific_rules_never_promise_more_than_they_say() -> None:
    rules = [
        rule("url", "https://x.test/a", "in_scope"),
        rule("url", "http://x.test/a", "out_of_scope"),
    ]
    assert match_system(read_system("https://x.test/a/b"), rules).verdict == "out_of_scope"
    assert match_system(read_system("https://x.test/a/b"), rules[::-1]).verdict == "out_of_scope"


def test_a_third_party_match_carries_where_to_report() -> None:
    found = match_system(read_system("192.0.2.130"), RULES)
    assert found.rule is not None and found.rule.contact == "https://hoster.test/security"


VERDICTS = [
    # any in scope → in scope, even next to others
    ({"affected_systems": ["legacy.example.org", "www.example.org"]}, "in_scope"),
    # else any third party → third party
    ({"affected_systems": ["legacy.example.org", "192.0.2.200"]}, "third_party"),
    # else any out of scope
    ({"affected_systems": ["legacy.example.org", "unknown.test"]}, "out_of_scope"),
    ({"affected_systems": ["unknown.test"]}, "unknown"),
    ({"affected_systems": []}, "unknown"),
    ({}, "unknown"),
    # URLs and hosts in the text count as named systems
    ({"description": "XSS at <https://www.example.org/search?q=x>."}, "in_scope"),
    ({"steps": "1. open http://legacy.example.org/login\n2. ..."}, "out_of_scope"),
    ({"impact": "The host 192.0.2.200 leaks data."}, "third_party"),
    # reference links to unknown sites do not change a verdict
    (
        {"affected_systems": ["legacy.example.org"], "description": "see https://owasp.org/x"},
        "out_of_scope",
    ),
    # a file name in the text is not a host
    ({"description": "the file index.php on nothing"}, "unknown"),
]


@pytest.mark.parametrize(("content", "verdict"), VERDICTS)
def test_a_report_verdict_joins_its_systems(content: dict[str, object], verdict: str) -> None:
    assert report_verdict(content, RULES) == verdict


def test_an_empty_inventory_claims_nothing() -> None:
    assert report_verdict({"affected_systems": ["example.org"]}, []) == ""


def test_each_system_is_listed_once_with_the_form_first() -> None:
    content = {
        "affected_systems": ["https://www.example.org/blog/x"],
        "description": "https://www.example.org/blog/x and 192.0.2.10 and 192.0.2.10",
    }
    found = matches(content, RULES)
    assert [m.system.text for m in found] == ["https://www.example.org/blog/x", "192.0.2.10"]
    assert [m.verdict for m in found] == ["third_party", "out_of_scope"]


@pytest.mark.parametrize(
    ("kind", "value", "normal"),
    [
        ("domain", "Bücher.Example.", "xn--bcher-kva.example"),
        ("domain", "*.EXAMPLE.org", "example.org"),
        ("url", "HTTPS://WWW.Example.org", "https://www.example.org/"),
        ("url", "https://[2001:DB8::1]:8443/a", "https://[2001:db8::1]:8443/a"),
        ("ip", "2001:DB8:0::1", "2001:db8::1"),
        ("cidr", "2001:DB8::/32", "2001:db8::/32"),
        ("app", "Com.Example.App", "com.example.app"),
        ("service", "  Zendesk   Support ", "Zendesk Support"),
    ],
)
def test_values_are_stored_in_one_form(kind: str, value: str, normal: str) -> None:
    assert normalise(kind, value)[0] == normal


@pytest.mark.parametrize(
    ("kind", "value", "says"),
    [
        ("cidr", "192.0.2.1/24", "host bits zero"),
        ("cidr", "192.0.2.0/33", "CIDR"),
        ("cidr", "example.org", "CIDR"),
        ("ip", "192.0.2.300", "not an IP address"),
        ("domain", "exa mple.org", "not a valid domain"),
        ("domain", "-bad-.example", "not a valid domain"),
        ("domain", "localhost", "not a valid domain"),
        ("domain", "192.0.2.1", "use kind ip"),
        ("domain", "xn--zz.example", "punycode"),
        ("url", "www.example.org/path", "scheme"),
        ("url", "javascript://x.test/", "http(s)"),
        ("url", "https://x.test/?a=1", "no query"),
        ("app", "com example", "app id"),
        ("bogus", "x", "unknown kind"),
        ("domain", "  ", "empty"),
    ],
)
def test_bad_values_are_refused_saying_why(kind: str, value: str, says: str) -> None:
    with pytest.raises(AssetError, match=says.replace("(", r"\(").replace(")", r"\)")):
        normalise(kind, value)


def test_punycode_reads_back_as_unicode() -> None:
    assert unicode_host("www.xn--bcher-kva.example") == "www.bücher.example"
    assert unicode_host("192.0.2.1") == "192.0.2.1"
