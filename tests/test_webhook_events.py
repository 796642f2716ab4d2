"""Which events become webhooks, queued in the event's own transaction."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from meldpunt.reports import promises
from meldpunt.reports.services import add_message
from meldpunt.webhooks import endpoints, payloads
from meldpunt.webhooks.models import Delivery
from tests.conftest import make_staff, submit


@pytest.fixture
def hooked(db: Any) -> None:
    ada = make_staff("ada@example.org", "admin")
    kinds = list(payloads.EVENT_TYPES)
    endpoints.create(
        ada,
        name="All",
        url="https://hooks.example.org/",
        kinds=kinds,
        format="generic",
        trusted=False,
    )


def types() -> list[str]:
    return list(Delivery.objects.order_by("pk").values_list("event_type", flat=True))


def test_it_queues_nothing_when_the_events_transaction_rolls_back(
    hooked: None, django_capture_on_commit_callbacks: Any
) -> None:
    report = submit(Client()).report
    Delivery.objects.all().delete()
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        add_message(report, "finder", "One more thing.", [])
        assert types() == ["report.message_from_finder"]
        raise RuntimeError("the message was not saved after all")
    assert callbacks == [] and types() == []


def test_it_enqueues_sending_only_on_commit(
    hooked: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submit(Client())
    assert types() == ["report.received"] and len(callbacks) >= 1


def test_it_tells_finder_messages_but_not_staff_messages(hooked: None) -> None:
    report = submit(Client()).report
    add_message(report, "staff", "We are looking into it.", [])
    add_message(report, "finder", "Thanks!", [])
    assert types() == ["report.received", "report.message_from_finder"]


def test_it_tells_a_promise_at_risk_and_then_broken(hooked: None, settings: Any) -> None:
    settings.MELDPUNT_PROMISE_RISK_HOURS = 24  # the first response is due in three days
    report = submit(Client()).report
    promises.refresh_due(timezone.now() + timedelta(days=2, hours=12))
    promises.refresh_due(timezone.now() + timedelta(days=4))
    promises.refresh_due(timezone.now() + timedelta(days=5))  # broken stays broken: no repeat
    assert types() == ["report.received", "promise.at_risk", "promise.broken"]
    broken = json.loads(Delivery.objects.order_by("pk").last().body["json"])  # type: ignore[union-attr]
    assert broken["data"]["promise"] == "first_response"
    assert broken["data"]["report"]["reference"] == report.reference
