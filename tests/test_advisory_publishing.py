"""Scheduling and publishing: at the agreed time, valid CSAF, current credits, revisions."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone

from meldpunt.accounts.gate import SECOND_FACTOR_AT
from meldpunt.advisories import publishing
from meldpunt.advisories.models import Advisory, AdvisoryRevision
from meldpunt.reports import lifecycle
from meldpunt.reports.models import Event, Report, State
from tests.advisory_cast import fixed, ready
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(alice: User) -> Report:
    return fixed(alice, credit="name", name="Rita Finder")


@pytest.fixture
def scheduled(report: Report, alice: User) -> Advisory:
    advisory = ready(alice, report, publish_at=timezone.now() + timedelta(hours=1))
    publishing.schedule(advisory, alice)
    return advisory


def test_it_publishes_at_the_agreed_time_and_not_before(
    scheduled: Advisory, report: Report
) -> None:
    agreed = scheduled.publish_at
    assert agreed is not None
    assert publishing.publish_due(agreed - timedelta(seconds=1)) == 0
    assert not AdvisoryRevision.objects.exists()
    assert publishing.publish_due(agreed) == 1
    scheduled.refresh_from_db()
    assert scheduled.status == Advisory.Status.PUBLISHED and scheduled.published_at == agreed
    revision = AdvisoryRevision.objects.get()
    assert (revision.number, revision.published_at, revision.summary) == (
        1,
        agreed,
        "Initial publication",
    )
    assert revision.credits == ["Rita Finder"]
    assert revision.content["title"] == "Reflected XSS in the customer portal"
    assert revision.content["cvss31_score"] == 6.1
    document = revision.csaf["document"]
    assert document["tracking"]["id"] == scheduled.identifier
    assert document["tracking"]["version"] == "1"
    assert document["acknowledgments"] == [{"names": ["Rita Finder"]}]
    report.refresh_from_db()
    assert report.state == State.PUBLISHED and report.retention_from is not None
    moved = Event.objects.get(report=report, kind="state_changed", data__to="published")
    assert moved.actor == "system"
    assert Event.objects.filter(report=report, kind="advisory_published").exists()
    assert publishing.publish_due(agreed + timedelta(days=1)) == 0  # once is enough


def test_it_schedules_only_a_publishable_draft_with_a_future_date(
    report: Report, alice: User
) -> None:
    advisory = publishing.start_draft(report, alice)
    with pytest.raises(publishing.AdvisoryError, match="in the future"):
        publishing.schedule(advisory, alice)
    publishing.update_draft(advisory, {"publish_at": timezone.now() + timedelta(days=1)}, alice)
    with pytest.raises(publishing.PublishRefused, match="needs a summary"):
        publishing.schedule(advisory, alice)
    advisory.refresh_from_db()
    assert advisory.status == Advisory.Status.DRAFT


def test_it_takes_an_advisory_off_the_schedule(scheduled: Advisory, alice: User) -> None:
    client = sign_in(Client(), alice)
    assert client.post(f"/triage/advisories/{scheduled.uid}/unschedule/").status_code == 303
    scheduled.refresh_from_db()
    assert scheduled.status == Advisory.Status.DRAFT
    assert publishing.publish_due(timezone.now() + timedelta(days=2)) == 0


def test_it_takes_a_changed_draft_off_the_schedule(scheduled: Advisory, alice: User) -> None:
    publishing.update_draft(scheduled, {"summary": "Another summary."}, alice)
    assert scheduled.status == Advisory.Status.DRAFT
    event = Event.objects.filter(kind="advisory_updated").last()
    assert event is not None and event.data["unscheduled"] is True


def test_it_refuses_an_invalid_document_with_the_validators_message_and_stores_nothing(
    report: Report, alice: User
) -> None:
    advisory = ready(alice, report)
    # A CWE that looks right but is in no catalog: CSAF mandatory test 6.1.11 fails.
    publishing.update_draft(advisory, {"cwe": "CWE-999999"}, alice)
    events = Event.objects.count()
    with pytest.raises(publishing.PublishRefused) as refused:
        publishing.publish(advisory, summary="", user=alice, skip_review=True)
    assert any("6.1.11" in m and "CWE" in m for m in refused.value.messages), refused.value.messages
    advisory.refresh_from_db()
    assert advisory.status == Advisory.Status.DRAFT and advisory.published_at is None
    assert not AdvisoryRevision.objects.exists()
    report.refresh_from_db()
    assert report.state == State.FIXED and Event.objects.count() == events


def test_it_sends_an_invalid_scheduled_advisory_back_and_publishes_the_others(
    alice: User, caplog: pytest.LogCaptureFixture
) -> None:
    soon = timezone.now() + timedelta(hours=1)
    broken, good = (
        ready(alice, fixed(alice), publish_at=soon),
        ready(alice, fixed(alice), publish_at=soon),
    )
    for advisory in (broken, good):
        publishing.schedule(advisory, alice)
    # Broken after scheduling, as a catalog update or a bug could.
    broken.draft = {**broken.draft, "cwe": "CWE-999999"}
    broken.save()
    with caplog.at_level(logging.ERROR, logger="meldpunt.advisories.publishing"):
        assert publishing.publish_due(soon) == 1
    broken.refresh_from_db()
    good.refresh_from_db()
    assert (broken.status, good.status) == (Advisory.Status.DRAFT, Advisory.Status.PUBLISHED)
    event = Event.objects.get(kind="advisory_publication_refused")
    assert event.data["advisory"] == broken.identifier
    assert any("6.1.11" in m for m in event.data["messages"])
    assert broken.identifier in caplog.text and "CWE-999999" not in caplog.text


def test_it_credits_the_preference_at_publication_time(
    report: Report, alice: User, rita_client: Client
) -> None:
    advisory = ready(alice, report)
    assert publishing.credits_for(advisory) == ["Rita Finder"]
    # The finder withdraws consent before publication: nobody is named.
    report.credit = "none"
    report.save(update_fields=["credit"])
    revision = publishing.publish(advisory, summary="", user=alice, skip_review=True)
    assert revision.credits == []
    assert "acknowledgments" not in revision.csaf["document"]


def test_it_credits_the_name_the_finder_gives_last(report: Report, alice: User) -> None:
    advisory = ready(alice, report)
    report.finder = {**report.finder, "name": "R. Finder"}
    report.credit = "pseudonym"
    report.save(update_fields=["finder_blob", "credit"])
    revision = publishing.publish(advisory, summary="", user=alice, skip_review=True)
    assert revision.credits == ["R. Finder"]
    assert revision.csaf["document"]["acknowledgments"] == [{"names": ["R. Finder"]}]


def test_it_keeps_the_revision_history(report: Report, alice: User) -> None:
    advisory = ready(alice, report)
    first = publishing.publish(advisory, summary="", user=alice, skip_review=True)
    with pytest.raises(publishing.PublishRefused, match="Nothing has changed"):
        publishing.publish(advisory, summary="Again", user=alice)
    products = [{"name": "Customer portal", "affected": "< 2.3.2", "fixed": "2.3.2"}]
    publishing.update_draft(advisory, {"products": products}, alice)
    with pytest.raises(publishing.PublishRefused, match="Say what changed"):
        publishing.publish(advisory, summary=" ", user=alice)
    later = timezone.now() + timedelta(days=3)
    second = publishing.publish(advisory, summary="The fix is in 2.3.2.", now=later, user=alice)
    assert [r.number for r in advisory.revisions.all()] == [1, 2]
    first.refresh_from_db()
    assert first.content["products"][0]["fixed"] == "2.3.1"  # history is not rewritten
    tracking = second.csaf["document"]["tracking"]
    assert tracking["version"] == "2"
    assert [r["summary"] for r in tracking["revision_history"]] == [
        "Initial publication",
        "The fix is in 2.3.2.",
    ]
    advisory.refresh_from_db()
    assert advisory.published_at == first.published_at  # the first publication stays first
    assert Event.objects.filter(report=report, kind="advisory_published").count() == 2


def test_it_leaves_a_published_report_published_in_a_follow_up_advisory(
    report: Report, alice: User
) -> None:
    publishing.publish(ready(alice, report), summary="", user=alice, skip_review=True)
    follow_up = ready(alice, report)  # a variant found later, for the same report
    publishing.publish(follow_up, summary="", user=alice, skip_review=True)
    report.refresh_from_db()
    assert report.state == State.PUBLISHED
    assert (
        Event.objects.filter(report=report, kind="state_changed", data__to="published").count() == 1
    )
    lifecycle.transition(report, State.CLOSED, alice, "resolved")  # the life cycle goes on


def test_it_publishes_from_the_web_only_after_a_fresh_second_factor(
    report: Report, alice: User, bob: User
) -> None:
    advisory = ready(alice, report)
    url = f"/triage/advisories/{advisory.uid}/publish/"
    client = sign_in(Client(), alice)
    session = client.session
    session[SECOND_FACTOR_AT] = time.time() - 3600
    session.save()
    stale = client.post(url, {"summary": ""})
    assert stale.status_code == 302 and stale["Location"].startswith("/triage/login/again/")
    assert not AdvisoryRevision.objects.exists()
    client = sign_in(Client(), alice)
    page = client.get(url).content.decode()
    assert "Rita Finder" in page and "Reflected XSS in the customer portal" in page
    assert client.post(url, {"summary": "", "skip_review": "on"}).status_code == 303
    assert AdvisoryRevision.objects.get().number == 1
    assert sign_in(Client(), bob).post(url, {"summary": "x"}).status_code == 403


def test_it_shows_the_validators_message_on_the_publish_page(report: Report, alice: User) -> None:
    advisory = ready(alice, report)
    publishing.update_draft(advisory, {"cwe": "CWE-999999"}, alice)
    response = sign_in(Client(), alice).post(
        f"/triage/advisories/{advisory.uid}/publish/", {"skip_review": "on"}
    )
    assert response.status_code == 400 and "6.1.11" in response.content.decode()
    assert not AdvisoryRevision.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_publishes_once_when_two_workers_run_at_once(alice: User) -> None:
    advisories = [
        ready(alice, fixed(alice), publish_at=timezone.now() + timedelta(hours=1)) for _ in range(3)
    ]
    for advisory in advisories:
        publishing.schedule(advisory, alice)
    due = timezone.now() + timedelta(hours=2)
    start = threading.Barrier(2)
    counts: list[int] = []

    def worker() -> None:
        try:
            start.wait()
            counts.append(publishing.publish_due(due))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(counts) == 3
    assert AdvisoryRevision.objects.count() == 3
    assert set(AdvisoryRevision.objects.values_list("number", flat=True)) == {1}
    assert Event.objects.filter(kind="advisory_published").count() == 3
