"""A real OpenID Provider (npm `oidc-provider`) for the single sign-on tests."""

from __future__ import annotations

import http.cookiejar
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from django.test import Client

from tests.mailservers import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("provider.mjs")
MODULE = ROOT / ".cache" / "test-tools" / "node_modules" / "oidc-provider"


@dataclass(frozen=True)
class Provider:
    issuer: str
    redirect_uri: str

    @staticmethod
    def secret(client_id: str) -> str:
        return f"{client_id}-secret-for-tests-only"


@contextmanager
def running_provider(redirect_uri: str) -> Iterator[Provider]:
    """Start tests/oidc/provider.mjs on a free loopback port until the block ends."""
    assert MODULE.is_dir(), "oidc-provider is missing: run bin/test-tools"
    port = free_port()
    process = subprocess.Popen(
        ["node", str(SCRIPT), str(port), redirect_uri],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready", "the OpenID Provider did not start"
        yield Provider(issuer=f"http://127.0.0.1:{port}", redirect_uri=redirect_uri)
    finally:
        process.terminate()
        process.wait(timeout=10)


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # each redirect is looked at by the test


class Browser:
    """The user's browser on the identity provider's side: cookies, no redirects followed."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _Stay()
        )

    def location(self, url: str) -> str:
        try:
            answer = self.opener.open(url, timeout=10)
        except urllib.error.HTTPError as exc:
            assert 300 <= exc.code < 400, f"{exc.code} from {url}: {exc.read()[:300]!r}"
            return urljoin(url, str(exc.headers["Location"]))
        raise AssertionError(f"{url} answered {answer.status}, not a redirect")


def idp_sign_in(
    authorize_url: str, user: str, groups: Sequence[str], amr: Sequence[str] = ("pwd",)
) -> str:
    """Sign `user` in at the provider; the callback URL (path and query) it sends back to."""
    browser = Browser()
    interaction = browser.location(authorize_url)
    query = urlencode({"user": user, "groups": ",".join(groups), "amr": ",".join(amr)})
    resume = browser.location(f"{interaction}?{query}")
    callback = urlsplit(browser.location(resume))
    return f"{callback.path}?{callback.query}"


def sso(client: Client, user: str, groups: Sequence[str], amr: Sequence[str] = ("pwd",)) -> Any:
    """The whole round trip from the desk's SSO link back to its callback's answer."""
    start = client.get("/triage/login/sso/")
    assert start.status_code == 302, start.status_code
    return client.get(idp_sign_in(start["Location"], user, groups, amr))
