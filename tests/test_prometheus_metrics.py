"""/metrics: off by default, behind a token and/or an address list, and never an identifier."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from meldpunt.intake.mail import process_message
from meldpunt.monitoring import collector
from meldpunt.ops import heartbeat
from meldpunt.reports import outbox
from meldpunt.reports.models import Report
from meldpunt.triage.metrics import monthly_figures
from tests.conftest import make_staff, sign_in, submit
from tests.test_database_unavailable import down

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_clock() -> Iterator[None]:
    collector.forget_clock()
    yield
    collector.forget_clock()


TOKEN = "metrics-token-for-tests-0123456789"
ON = {"MELDPUNT_METRICS": True, "MELDPUNT_METRICS_TOKEN": TOKEN, "MELDPUNT_METRICS_ALLOW": []}


def scrape(client: Client | None = None, token: str = TOKEN, **extra: Any) -> Any:
    return (client or Client()).get(
        "/metrics", headers={"Authorization": f"Bearer {token}"}, **extra
    )


def samples(body: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample by name and labels, through prometheus-client's own parser."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(body: bytes, name: str, **labels: str) -> float:
    return samples(body).get((name, frozenset(labels.items())), 0.0)


def test_it_is_off_by_default() -> None:
    assert scrape().status_code == 404


@override_settings(**ON)
def test_it_wants_the_token() -> None:
    assert Client().get("/metrics").status_code == 403
    assert scrape(token="metrics-token-for-tests-012345678X").status_code == 403
    assert Client().get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 403
    response = scrape()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert not response.cookies


@override_settings(MELDPUNT_METRICS=True, MELDPUNT_METRICS_TOKEN="", MELDPUNT_METRICS_ALLOW=[])
def test_it_opens_to_nobody_without_a_token_or_an_address_list() -> None:
    assert Client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 403


@override_settings(MELDPUNT_METRICS=True, MELDPUNT_METRICS_TOKEN="")
def test_it_opens_to_the_listed_addresses() -> None:
    with override_settings(MELDPUNT_METRICS_ALLOW=["127.0.0.0/8"]):
        assert Client().get("/metrics").status_code == 200  # the test client is 127.0.0.1
        assert Client().get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 403
        # Without a trusted proxy, anyone can write X-Forwarded-For: it is not believed.
        spoofed = Client().get(
            "/metrics", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="127.0.0.1"
        )
        assert spoofed.status_code == 403
    with override_settings(MELDPUNT_METRICS_ALLOW=["10.0.0.0/8"], MELDPUNT_TRUSTED_PROXIES=1):
        # Behind one trusted proxy, the address it saw is the client's.
        assert Client().get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 200
        assert Client().get("/metrics", HTTP_X_FORWARDED_FOR="192.0.2.7").status_code == 403


@override_settings(**ON | {"MELDPUNT_METRICS_ALLOW": ["10.0.0.0/8"]})
def test_it_wants_both_when_both_are_set() -> None:
    assert scrape().status_code == 403  # the right token from the wrong address
    assert Client().get("/metrics", REMOTE_ADDR="10.0.0.9").status_code == 403
    assert scrape(REMOTE_ADDR="10.0.0.9").status_code == 200


@override_settings(**ON)
def test_it_counts_requests_by_view() -> None:
    before = scrape().content
    client = Client()
    client.get("/report/")
    client.get("/report/")
    client.post("/healthz")
    after = scrape().content
    key = {"view": "report", "method": "GET", "status": "2xx"}
    assert value(after, "meldpunt_http_requests_total", **key) - value(
        before, "meldpunt_http_requests_total", **key
    ) == pytest.approx(2)
    refused = {"view": "healthz", "method": "POST", "status": "4xx"}
    assert value(after, "meldpunt_http_requests_total", **refused) >= 1
    assert value(after, "meldpunt_http_request_duration_seconds_count", view="report") >= 2


@override_settings(**ON)
def test_it_counts_web_submissions_by_outcome(org_key: Any) -> None:
    def outcome(body: bytes, name: str) -> float:
        return value(body, "meldpunt_web_submissions_total", outcome=name)

    before = scrape().content
    submit(Client(), email="rita@example.net")
    Client().post("/report/", {"title": ""})  # no token, no text: given back with errors
    after = scrape().content
    assert outcome(after, "report") - outcome(before, "report") == 1
    assert outcome(after, "invalid") - outcome(before, "invalid") == 1
    assert outcome(after, "rate_limited") == outcome(before, "rate_limited")


@override_settings(**ON)
def test_it_never_names_a_report(org_key: Any) -> None:
    rita = submit(Client(), email="rita@example.net")
    finder = Client()
    finder.post("/status/", {"code": rita.code})
    finder.get("/status/")
    staff = sign_in(Client(), make_staff("alice@example.org", "triager"))
    staff.get(f"/triage/reports/{rita.report.uid}/")
    staff.get(f"/api/v1/reports/{rita.report.uid}")
    Client().get(f"/triage/reports/{rita.report.uid}/")
    Client().get(f"/status/attachment/{rita.report.uid}/")
    body = scrape().content.decode()
    for secret in (str(rita.report.uid), rita.report.uid.hex, rita.report.reference, rita.code):
        assert secret not in body
    assert "/triage/" not in body and "/status/" not in body  # view names, never paths
    assert 'view="portal:status"' in body


@override_settings(**ON)
def test_its_database_figures_follow_the_desk(
    org_key: Any, django_capture_on_commit_callbacks: Any
) -> None:
    before = scrape().content
    with django_capture_on_commit_callbacks(execute=True):
        rita = submit(Client(), email="rita@example.net")
        assert outbox.queue_news(rita.report) is not None  # the mail, and its task

    process_message(
        b"From: x@example.net\r\nMessage-ID: <m@x>\r\nAuto-Submitted: auto-replied\r\n\r\nhi"
    )
    heartbeat.beat(heartbeat.WORKER, force=True)
    after = scrape().content
    assert (
        value(after, "meldpunt_open_reports", state="received")
        == value(before, "meldpunt_open_reports", state="received") + 1
    )
    assert value(after, "meldpunt_outbound_mails", status="queued") == 1
    assert value(before, "meldpunt_outbound_mails", status="queued") == 0
    assert value(after, "meldpunt_outbound_mails", status="bounced") == 0  # every state, 0 too
    assert value(after, "meldpunt_task_queue_ready") >= 1
    assert value(after, "meldpunt_inbound_mails", outcome="ignored") == 1
    assert value(after, "meldpunt_promises", state="pending") >= 1
    assert value(after, "meldpunt_database_up") == 1
    assert value(after, "meldpunt_data_dir_free_bytes") > 0
    age = samples(after)[
        (
            "meldpunt_heartbeat_age_seconds",
            frozenset({"process": "worker", "host": heartbeat.host_label()}.items()),
        )
    ]
    assert 0 <= age < 60
    assert value(after, "meldpunt_ready", check="worker") == 1


@override_settings(**ON)
def test_the_compliance_gauge_is_the_metrics_pages_figure(rita: Any) -> None:
    now = timezone.now()
    answered = [submit(Client()).report for _ in range(3)]
    Report.objects.filter(pk__in=[r.pk for r in answered[:2]]).update(
        first_response_at=now, first_response_kept=True
    )
    Report.objects.filter(pk=answered[2].pk).update(
        first_response_at=now, first_response_kept=False
    )
    # Rita's report is still unanswered past its deadline: it counts as broken.
    Report.objects.filter(pk=rita.report.pk).update(response_due_at=now - dt.timedelta(hours=1))
    body = scrape().content
    _, total = monthly_figures()
    assert (total.kept, total.measured) == (2, 4)
    assert value(body, "meldpunt_response_clock_kept") == total.kept
    assert value(body, "meldpunt_response_clock_measured") == total.measured
    assert value(body, "meldpunt_response_clock_compliance_ratio") == pytest.approx(0.5)


@override_settings(**ON)
def test_it_answers_with_the_database_down() -> None:
    with down():
        response = scrape()
    assert response.status_code == 200
    assert value(response.content, "meldpunt_database_up") == 0
    assert value(response.content, "meldpunt_data_dir_free_bytes") > 0


@override_settings(**ON)
def test_a_scrape_costs_the_same_queries_however_many_reports() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> list[str]:
        collector.forget_clock()
        with CaptureQueriesContext(connection) as captured:
            assert scrape().status_code == 200
        return [q["sql"] for q in captured.captured_queries]

    submit(Client())
    queries()  # the first also checks the migrations (then kept for a minute)
    few = queries()
    for _ in range(3):
        submit(Client())
    assert len(queries()) == len(few)
    # Closed reports and sent mail (the years of history) are never counted.
    report_counts = [q for q in few if 'FROM "reports_report"' in q and "GROUP BY" in q]
    assert report_counts and all("IN (" in q for q in report_counts)
