"""Webhooks go only to the configured URL, never to internal addresses, never redirected."""

from __future__ import annotations

from typing import Any

import pytest

from meldpunt.webhooks import delivery, endpoints, transport
from meldpunt.webhooks.models import Attempt, Delivery
from tests.conftest import make_staff
from tests.webhook_receiver import receiver


def queue_test_event(url: str) -> None:
    ada = make_staff("ada@example.org", "admin")
    endpoint, _secret = endpoints.create(
        ada, name="Hook", url=url, kinds=["report.received"], format="generic", trusted=False
    )
    endpoints.send_test(endpoint, ada)


def test_it_refuses_loopback_unless_private_targets_are_allowed(db: Any) -> None:
    with receiver() as hook:
        queue_test_event(hook.url)
        assert delivery.deliver_due() == 0
    assert hook.requests == []
    attempt = Attempt.objects.get()
    assert attempt.error == "refused: private or reserved address"
    assert attempt.response_code is None


def test_it_refuses_a_host_name_that_resolves_to_loopback(db: Any) -> None:
    with receiver() as hook:
        queue_test_event(f"http://localhost:{hook.port}/hook")
        assert delivery.deliver_due() == 0
    assert hook.requests == []
    assert Attempt.objects.get().error == "refused: private or reserved address"


def test_it_does_not_follow_a_redirect(db: Any, settings: Any) -> None:
    settings.MELDPUNT_WEBHOOK_ALLOW_PRIVATE = True
    with receiver() as elsewhere, receiver(answers=[(302, {"Location": ""})]) as hook:
        hook.answers = [(302, {"Location": elsewhere.url})]
        queue_test_event(hook.url)
        assert delivery.deliver_due() == 0
    assert len(hook.requests) == 1 and elsewhere.requests == []
    attempt = Attempt.objects.get()
    assert (attempt.ok, attempt.response_code, attempt.error) == (False, 302, "HTTP 302")
    assert Delivery.objects.get().status == Delivery.Status.PENDING  # tried again later


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "::ffff:10.0.0.1",
    ],
)
def test_it_counts_internal_ranges_as_private(address: str) -> None:
    assert not transport._allowed(address, allow_private=False)
    assert transport._allowed(address, allow_private=True)
    assert transport._allowed("93.184.215.14", allow_private=False)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://example.org/", "https://user:pw@example.org/"]
)
def test_it_refuses_other_schemes_and_credentials(db: Any, url: str) -> None:
    ada = make_staff("ada@example.org", "admin")
    with pytest.raises(endpoints.EndpointError):
        endpoints.create(ada, name="x", url=url, kinds=[], format="generic", trusted=False)
