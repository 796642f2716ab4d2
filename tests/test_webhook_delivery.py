"""Webhooks: queued with the event, signed per Standard Webhooks, retried, endpoints disabled."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from meldpunt.reports import lifecycle
from meldpunt.reports.models import State
from meldpunt.webhooks import delivery, endpoints
from meldpunt.webhooks.models import Attempt, Delivery, Endpoint
from tests.conftest import make_staff, submit
from tests.webhook_receiver import receiver

ALL = ["report.received", "report.state_changed", "report.message_from_finder"]


@pytest.fixture(autouse=True)
def _loopback_allowed(settings: Any) -> None:
    # The receivers run on 127.0.0.1; test_webhook_ssrf.py proves it is refused by default.
    settings.MELDPUNT_WEBHOOK_ALLOW_PRIVATE = True


def add(url: str, *, kinds: list[str] | None = None, **options: Any) -> tuple[Endpoint, str]:
    ada = make_staff(f"ada{Endpoint.objects.count()}@example.org", "admin")
    values: dict[str, Any] = {"format": "generic", "trusted": False, **options}
    return endpoints.create(ada, name="Desk", url=url, kinds=kinds or ALL, **values)


def test_it_signs_each_delivery_so_standard_webhooks_verifies_it(db: Any) -> None:
    with receiver() as hook:
        _endpoint, secret = add(hook.url)
        assert secret.startswith("whsec_")
        rita = submit(Client())
        assert delivery.deliver_due() == 1
    [got] = hook.requests
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "report.received"
    assert payload["data"]["report"]["reference"] == rita.report.reference
    assert payload["data"]["report"]["uid"] == str(rita.report.uid)
    assert payload["data"]["report"]["url"].endswith(f"/triage/reports/{rita.report.uid}/")
    assert got.headers["webhook-id"] == f"msg_{Delivery.objects.get().uid.hex}"
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 44).verify(got.body, got.headers)


def test_it_queues_in_the_events_transaction_and_not_for_unwanted_events(db: Any) -> None:
    with receiver() as hook:
        add(hook.url, kinds=["report.state_changed"])
        rita = submit(Client())
        assert not Delivery.objects.exists()  # received is not wanted
        alice = make_staff("alice@example.org", "triager")
        lifecycle.transition(rita.report, State.NEEDS_INFO, alice)
        assert list(Delivery.objects.values_list("event_type", flat=True)) == [
            "report.state_changed"
        ]
        delivery.deliver_due()
    body = json.loads(hook.requests[0].body)
    assert body["data"]["from"] == "received" and body["data"]["to"] == "needs_info"


def test_it_retries_with_backoff_when_the_endpoint_was_down(db: Any) -> None:
    with socket.socket() as probe:  # a port nobody listens on: the endpoint is down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint, secret = add(f"http://127.0.0.1:{port}/hook")
    submit(Client())
    before = timezone.now()
    assert delivery.deliver_due() == 0
    row = Delivery.objects.get()
    assert row.status == Delivery.Status.PENDING and row.attempts == 1
    assert row.next_attempt_at >= before + timedelta(seconds=30)
    assert delivery.deliver_due() == 0  # not due yet: nothing is tried
    with receiver(port=port) as hook:
        assert delivery.deliver_due(row.next_attempt_at + timedelta(seconds=1)) == 1
    Webhook(secret).verify(hook.requests[0].body, hook.requests[0].headers)
    row.refresh_from_db()
    assert row.status == Delivery.Status.DELIVERED
    first, second = Attempt.objects.filter(endpoint=endpoint).order_by("number")
    assert (first.number, first.ok, first.response_code) == (1, False, None)
    assert first.error == "ConnectionRefusedError" and first.next_attempt_at is not None
    assert (second.number, second.ok, second.response_code) == (2, True, 200)
    assert second.latency_ms is not None and second.next_attempt_at is None
    # Only a short, printable excerpt of the answer is kept.
    assert second.excerpt == "ok secret-looking text"


def test_it_disables_an_endpoint_after_failures_in_a_row_and_tells_the_admins(
    db: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MELDPUNT_WEBHOOK_DISABLE_AFTER = 3
    with receiver(answers=[(500, {})]) as hook:
        endpoint, _secret = add(hook.url)
        admin = endpoint.created_by
        assert admin is not None
        for _ in range(4):
            endpoints.send_test(endpoint, admin)
        with django_capture_on_commit_callbacks(execute=True):
            assert delivery.deliver_due() == 0
        assert len(hook.requests) == 3  # the fourth waits: the endpoint is off
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_at is not None
    [notice] = mail.outbox
    assert notice.to == [admin.email]
    assert "Desk" in notice.body and str(endpoint.uid) in notice.body
    assert hook.url not in notice.body
    assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 4


def test_it_sends_no_content_or_finder_identity_unless_trusted(db: Any) -> None:
    with receiver() as plain, receiver() as trusted:
        add(plain.url)
        add(trusted.url, trusted=True)
        description = "SQL injection in login\nThe hidden details: admin'--"
        rita = submit(Client(), description=description, email="rita@example.net", name="Rita V")
        delivery.deliver_due()
    report = rita.report
    secret_bits = ["rita@example.net", "Rita V", "hidden details", "portal.example.org"]
    plain_body = plain.requests[0].body.decode()
    for bit in [*secret_bits, "SQL injection in login", report.category]:
        assert bit not in plain_body
    trusted_data = json.loads(trusted.requests[0].body)["data"]["report"]
    assert trusted_data["title"] == "SQL injection in login"
    assert trusted_data["category"] == report.category
    for bit in secret_bits:
        assert bit not in trusted.requests[0].body.decode()


def test_it_speaks_the_chat_formats(db: Any) -> None:
    with receiver() as slack, receiver() as teams:
        add(slack.url, format="slack", trusted=True)
        add(teams.url, format="teams")
        rita = submit(Client(), description="<!channel> & <http://evil|x>")
        delivery.deliver_due()
    text = json.loads(slack.requests[0].body)["text"]
    assert rita.report.reference in text and "<!channel>" not in text
    assert "&lt;!channel&gt; &amp; &lt;http://evil|x&gt;" in text
    card = json.loads(teams.requests[0].body)
    assert card["@type"] == "MessageCard" and rita.report.reference in card["text"]
    assert card["potentialAction"][0]["targets"][0]["uri"].endswith(f"{rita.report.uid}/")


def test_one_transaction_queues_one_sending_task_however_many_deliveries(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.db import transaction
    from django_tasks_db.models import DBTaskResult

    from meldpunt.webhooks import events

    with receiver() as hook:
        add(hook.url, kinds=["report.state_changed"])
        report = submit(Client()).report
        DBTaskResult.objects.all().delete()
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            for _ in range(5):
                events.queue("report.state_changed", report, {"from": "a", "to": "b"})
        queued = [t.task_path for t in DBTaskResult.objects.all()]
        assert queued == ["meldpunt.webhooks.delivery.deliver_queued"]
        # That one task sends them all (the worker runs it like this).
        delivery.deliver_queued.call()
        assert len(hook.requests) == 5
    assert not Delivery.objects.filter(status=Delivery.Status.PENDING).exists()


def test_a_batch_to_a_healthy_endpoint_goes_out_at_once(db: Any, settings: Any) -> None:
    """After one request is taken, the rest of the batch is sent in parallel: the receiver
    holds each of them until four are in flight together (one by one, they would all time
    out at the barrier and fail)."""
    import threading

    settings.MELDPUNT_WEBHOOK_CONCURRENCY = 4
    together = threading.Barrier(4)

    def reply(_status: int, n: int) -> bytes:
        if n > 1:
            together.wait(timeout=10)
        return b"ok"

    with receiver(reply=reply) as hook:
        endpoint, _secret = add(hook.url, kinds=["report.received"])
        for _ in range(5):
            submit(Client())
        assert delivery.deliver_all() == 5
        assert len(hook.requests) == 5
    assert Attempt.objects.filter(endpoint=endpoint, ok=True).count() == 5
