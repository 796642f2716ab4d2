"""/healthz and /readyz: what a load balancer asks, and what only staff or a token learn."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client, override_settings
from django.utils import timezone

from meldpunt.intake import smtp
from meldpunt.management.commands import worker
from meldpunt.monitoring import readiness
from meldpunt.ops import heartbeat
from meldpunt.ops.models import Heartbeat
from meldpunt.reports.models import OutboundMail
from tests.conftest import make_staff, sign_in
from tests.test_database_unavailable import down

pytestmark = pytest.mark.django_db

TOKEN = "health-token-for-tests-0123456789"


@pytest.fixture(autouse=True)
def _fresh(db: Any) -> Iterator[None]:
    heartbeat.forget()
    readiness.forget_migrations()
    yield
    heartbeat.forget()
    readiness.forget_migrations()


@pytest.fixture
def worker_alive() -> None:
    heartbeat.beat(heartbeat.WORKER, force=True)


def details(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == "application/json"
    checks: dict[str, Any] = json.loads(response.content)["checks"]
    return checks


@override_settings(MELDPUNT_HEALTH_TOKEN=TOKEN)
def ask(client: Client | None = None, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return (client or Client()).get("/readyz", headers=headers)


def test_it_answers_healthz_without_the_database(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0), down():
        response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert not response.cookies
    assert "no-cache" in response["Cache-Control"]


def test_it_refuses_other_methods_on_healthz() -> None:
    assert Client().post("/healthz").status_code == 405


def test_it_is_ready_with_a_fresh_worker(worker_alive: None) -> None:
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert response["Content-Type"].startswith("text/plain")
    assert not response.cookies


def test_it_is_not_ready_before_any_worker_ran() -> None:
    response = ask(token=TOKEN)
    assert response.status_code == 503
    assert details(response)["worker"] == {"ok": False, "detail": "no worker has reported yet"}


def test_it_is_not_ready_when_the_worker_stopped(worker_alive: None) -> None:
    Heartbeat.objects.update(last_seen=timezone.now() - dt.timedelta(minutes=10))
    response = ask(token=TOKEN)
    assert response.status_code == 503
    assert not details(response)["worker"]["ok"]
    assert "600 s ago" in details(response)["worker"]["detail"]


def test_the_worker_loop_records_its_heartbeat(org_key: Any) -> None:
    # The worker closes stale connections between jobs; the test's transaction must stay.
    with mock.patch.object(worker, "close_old_connections"):
        worker.run_schedule()
    assert ask().status_code == 200
    assert Heartbeat.objects.get().name == "worker"


def test_it_is_not_ready_without_the_database(worker_alive: None) -> None:
    with down():
        bare = ask()
        detailed = ask(token=TOKEN)
    assert (bare.status_code, bare.content) == (503, b"not ready\n")
    assert detailed.status_code == 503
    assert details(detailed)["database"] == {
        "ok": False,
        "detail": "unreachable (OperationalError)",
    }


def test_it_is_not_ready_with_a_migration_unapplied(worker_alive: None) -> None:
    # The executor compares the migration files with the database's record of them.
    MigrationRecorder(connection).record_unapplied("ops", "0001_heartbeat")
    response = ask(token=TOKEN)
    assert response.status_code == 503
    assert details(response)["migrations"] == {"ok": False, "detail": "not all applied"}


def test_it_keeps_the_migration_answer_for_a_while(
    worker_alive: None, django_assert_max_num_queries: Any
) -> None:
    assert ask().status_code == 200
    MigrationRecorder(connection).record_unapplied("ops", "0001_heartbeat")
    with django_assert_max_num_queries(4):  # database, worker beat, outbox: no migration table
        assert ask().status_code == 200


def test_it_is_not_ready_when_the_key_file_cannot_be_read(
    worker_alive: None, tmp_path: Path
) -> None:
    with override_settings(MELDPUNT_KEY_FILE=tmp_path / "gone.json"):
        response = ask(token=TOKEN)
    assert response.status_code == 503
    assert details(response)["key_file"] == {
        "ok": False,
        "detail": "cannot be read (FileNotFoundError)",
    }
    assert str(tmp_path) not in response.content.decode()


def test_it_is_not_ready_when_the_disk_fills_up(worker_alive: None) -> None:
    with override_settings(MELDPUNT_DISK_MIN_FREE_BYTES=2**60):
        response = ask(token=TOKEN)
    assert response.status_code == 503
    assert not details(response)["disk"]["ok"]


def test_it_watches_the_mail_intake_only_when_imap_is_configured(worker_alive: None) -> None:
    assert "mail_intake" not in details(ask(token=TOKEN))
    with override_settings(MELDPUNT_IMAP_HOST="imap.example.org"):
        stalled = ask(token=TOKEN)
        heartbeat.beat(heartbeat.FETCHMAIL)
        polled = ask(token=TOKEN)
    assert stalled.status_code == 503
    assert details(stalled)["mail_intake"]["detail"] == "no fetchmail has reported yet"
    assert polled.status_code == 200


def queue_mail(overdue: dt.timedelta = dt.timedelta(0), n: int = 1) -> None:
    for _ in range(n):
        mail = OutboundMail(
            created_at=timezone.now() - overdue,
            kind="news",
            message_id=f"<{uuid.uuid4()}@example.org>",
            next_attempt_at=timezone.now() - overdue,
        )
        mail.envelope = {"to": ["rita@example.net"], "raw": "cmF3"}
        mail.save()


def test_it_is_not_ready_when_the_outbox_backs_up(worker_alive: None) -> None:
    queue_mail()
    assert ask().status_code == 200
    with override_settings(MELDPUNT_OUTBOX_MAX_QUEUED=2):
        queue_mail(n=3)  # three more: four queued
        response = ask(token=TOKEN)
    assert response.status_code == 503
    assert details(response)["outbox"]["detail"].startswith("4 queued (limit 2)")


def test_it_is_not_ready_when_queued_mail_is_not_sent(worker_alive: None) -> None:
    queue_mail(overdue=dt.timedelta(hours=2))
    response = ask(token=TOKEN)
    assert response.status_code == 503
    assert not details(response)["outbox"]["ok"]


def test_details_are_for_staff_and_the_token_only(worker_alive: None, rita_client: Client) -> None:
    assert ask(token=TOKEN)["Content-Type"] == "application/json"
    assert ask(token="health-token-for-tests-012345678X").content == b"ok\n"
    finder = ask(rita_client)
    assert finder.content == b"ok\n"  # a finder's session: the bare word
    assert not finder.cookies
    with override_settings(MELDPUNT_HEALTH_TOKEN=""):  # no token set: none opens it
        assert Client().get("/readyz", headers={"Authorization": "Bearer "}).content == b"ok\n"
    staff = sign_in(Client(), make_staff("alice@example.org", "triager"))
    response = ask(staff)
    assert set(details(response)) >= {"database", "migrations", "key_file", "worker", "disk"}
    assert not response.cookies  # read the session, wrote nothing
    half = Client()
    half.force_login(make_staff("bob@example.org", "viewer"))  # no second factor yet
    assert ask(half).content == b"ok\n"


def test_smtpd_records_the_last_mail_it_accepted() -> None:
    # It closes its connections after each mail; the test's transaction must stay.
    with mock.patch.object(smtp, "close_old_connections"), mock.patch.object(smtp, "connections"):
        smtp._take_in(b"From: x@example.net\r\nMessage-ID: <beat@x>\r\n\r\nhello")
    assert Heartbeat.objects.get().name == "smtpd"


def test_a_heartbeat_writes_at_most_every_few_seconds(django_assert_num_queries: Any) -> None:
    heartbeat.beat(heartbeat.WORKER)
    with django_assert_num_queries(0):
        heartbeat.beat(heartbeat.WORKER)
