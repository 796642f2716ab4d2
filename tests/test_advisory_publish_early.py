"""Publish now: a promised date is kept, or broken with a reason the finders are told."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from meldpunt.accounts.gate import SECOND_FACTOR_AT
from meldpunt.advisories import publishing
from meldpunt.advisories.models import Advisory, AdvisoryRevision
from meldpunt.reports.models import Event, OutboundMail
from tests.advisory_cast import fixed, ready
from tests.conftest import Submitted, sign_in, submit

pytestmark = pytest.mark.django_db

APPROVED = datetime(2030, 12, 10, 9, 0, tzinfo=UTC)  # 10:00 in Brussels


def publish_url(advisory: Advisory) -> str:
    return f"/triage/advisories/{advisory.uid}/publish/"


def approve(client: Client, advisory: Advisory) -> None:
    answer = {"decision": "approve", "text": "", "proposed_tz": "Europe/Brussels"}
    assert client.post(f"/status/advisory/{advisory.uid}/", answer).status_code == 303


@pytest.fixture
def approved(rita: Submitted, rita_client: Client, alice: User) -> Advisory:
    """Drafted with a finder who gave an address, and approved by them for 10 December."""
    advisory = ready(alice, fixed(alice, rita), publish_at=APPROVED)
    approve(rita_client, advisory)
    return advisory


def test_it_asks_for_a_reason_before_publishing_earlier_than_the_finder_approved(
    approved: Advisory, alice: User
) -> None:
    client = sign_in(Client(), alice)
    page = client.get(publish_url(approved)).content.decode()
    assert 'id="early"' in page
    assert "promised to the finders for 10 December 2030, 10:00 (Europe/Brussels)" in page
    refused = client.post(publish_url(approved), {"summary": ""})
    assert refused.status_code == 400 and "Choose why it cannot wait." in refused.content.decode()
    odd = client.post(publish_url(approved), {"summary": "", "early_reason": "because"})
    assert odd.status_code == 400
    assert not AdvisoryRevision.objects.exists()
    approved.refresh_from_db()
    assert approved.status == Advisory.Status.DRAFT


def test_it_refuses_an_early_publication_without_a_reason_in_the_domain_too(
    approved: Advisory, alice: User
) -> None:
    with pytest.raises(publishing.PublishRefused, match="earlier than the date promised"):
        publishing.publish(approved, summary="", user=alice)
    assert not AdvisoryRevision.objects.exists()


def test_it_records_an_early_publication_on_each_report_and_tells_the_finders(
    rita: Submitted, rita_client: Client, alice: User
) -> None:
    other = fixed(alice, submit(Client(), name="Otto", email="otto@example.org"))
    advisory = ready(alice, fixed(alice, rita), other, publish_at=APPROVED)
    approve(rita_client, advisory)
    news = OutboundMail.objects.filter(kind="news").count()
    client = sign_in(Client(), alice)
    posted = client.post(publish_url(advisory), {"summary": "", "early_reason": "exploited"})
    assert posted.status_code == 303
    for report in (rita.report, other):
        event = Event.objects.get(report=report, kind="advisory_published_early")
        # A choice, never typed text: the event is in clear and every finder reads it.
        assert event.data == {
            "advisory": advisory.identifier,
            "promised_at": APPROVED.isoformat(),
            "reason": "exploited",
        }
        assert event.actor != "finder"
    assert OutboundMail.objects.filter(kind="news", report=other).exists()
    assert OutboundMail.objects.filter(kind="news").count() > news
    status = rita_client.get("/status/").content.decode()
    assert 'id="published-early"' in status
    assert "before the promised 10 December 2030" in status
    assert "The vulnerability is being exploited" in status


def test_it_publishes_early_only_after_a_fresh_second_factor(
    approved: Advisory, alice: User
) -> None:
    client = sign_in(Client(), alice)
    session = client.session
    session[SECOND_FACTOR_AT] = time.time() - 3600
    session.save()
    stale = client.post(publish_url(approved), {"summary": "", "early_reason": "public"})
    assert stale.status_code == 302 and stale["Location"].startswith("/triage/login/again/")
    assert not AdvisoryRevision.objects.exists()


def test_it_treats_the_scheduled_moment_as_a_promise(rita: Submitted, alice: User) -> None:
    advisory = ready(alice, fixed(alice, rita), publish_at=timezone.now() + timedelta(days=2))
    publishing.schedule(advisory, alice)
    assert publishing.is_early(advisory)
    client = sign_in(Client(), alice)
    data = {"summary": "", "skip_review": "on"}
    assert client.post(publish_url(advisory), data).status_code == 400
    data["early_reason"] = "coordination"
    assert client.post(publish_url(advisory), data).status_code == 303
    assert Event.objects.get(kind="advisory_published_early").data["reason"] == "coordination"


def test_it_keeps_the_promise_of_an_approval_after_the_date_moved_earlier(
    approved: Advisory, alice: User
) -> None:
    publishing.update_draft(approved, {"publish_at": APPROVED - timedelta(days=5)}, alice)
    # The finder approved 10 December; the team's new date does not change what they agreed.
    assert publishing.promised_at(approved) == APPROVED


def test_it_does_not_ask_for_a_reason_once_the_promised_moment_has_passed(
    approved: Advisory, alice: User
) -> None:
    assert not publishing.is_early(approved, APPROVED)
    revision = publishing.publish(approved, summary="", now=APPROVED, user=alice)
    assert revision.number == 1
    assert not Event.objects.filter(kind="advisory_published_early").exists()


def test_it_does_not_offer_publish_now_before_the_draft_has_a_summary(
    rita: Submitted, alice: User
) -> None:
    advisory = publishing.start_draft(fixed(alice, rita), alice)
    client = sign_in(Client(), alice)
    page = client.get(f"/triage/advisories/{advisory.uid}/").content.decode()
    assert 'id="publish-now"' not in page and 'id="publish-now-later"' in page
    response = client.get(publish_url(advisory))
    assert response.status_code == 303
    assert (
        client.post(publish_url(advisory), {"summary": "", "skip_review": "on"}).status_code == 303
    )
    assert not AdvisoryRevision.objects.exists()


def test_it_says_that_publishing_now_skips_the_finders_review_and_asks_to_confirm(
    rita: Submitted, alice: User
) -> None:
    advisory = ready(alice, fixed(alice, rita))
    client = sign_in(Client(), alice)
    detail = client.get(f"/triage/advisories/{advisory.uid}/").content.decode()
    assert 'id="publish-now"' in detail
    page = client.get(publish_url(advisory)).content.decode()
    assert 'id="skips-review"' in page and "skips the finders' review" in page
    refused = client.post(publish_url(advisory), {"summary": ""})
    assert refused.status_code == 400
    assert "Confirm that the finders&#39; review is skipped." in refused.content.decode()
    assert not AdvisoryRevision.objects.exists()
    assert (
        client.post(publish_url(advisory), {"summary": "", "skip_review": "on"}).status_code == 303
    )
    event = Event.objects.get(report=rita.report, kind="advisory_published")
    assert event.data["review_skipped"] is True


def test_it_shows_the_actual_publication_time_once_published(
    approved: Advisory, alice: User
) -> None:
    client = sign_in(Client(), alice)
    client.post(publish_url(approved), {"summary": "", "early_reason": "public"})
    approved.refresh_from_db()
    assert approved.published_at is not None
    page = client.get(f"/triage/advisories/{approved.uid}/").content.decode()
    assert 'id="published-at"' in page and 'id="publish-at"' not in page
    assert "10 December 2030" not in page.split('id="published-at"')[1].split("</dd>")[0]


def test_it_publishes_a_scheduled_advisory_at_its_moment_without_asking(
    approved: Advisory, alice: User
) -> None:
    publishing.schedule(approved, alice)
    assert publishing.publish_due(APPROVED) == 1
    assert not Event.objects.filter(kind="advisory_published_early").exists()


def schedule_url(advisory: Advisory) -> str:
    return f"/triage/advisories/{advisory.uid}/schedule/"


def test_it_refuses_to_schedule_earlier_than_the_finder_approved_without_a_reason(
    approved: Advisory, alice: User
) -> None:
    publishing.update_draft(approved, {"publish_at": APPROVED - timedelta(days=5)}, alice)
    assert publishing.schedules_early(approved) == APPROVED
    with pytest.raises(publishing.PublishRefused, match="earlier than the date a finder approved"):
        publishing.schedule(approved, alice)
    approved.refresh_from_db()
    assert approved.status == Advisory.Status.DRAFT
    assert not Event.objects.filter(kind="advisory_scheduled").exists()


def test_scheduling_early_asks_a_reason_and_a_fresh_second_factor_and_tells_the_finder(
    approved: Advisory, alice: User, rita: Submitted, rita_client: Client
) -> None:
    earlier = APPROVED - timedelta(days=5)
    publishing.update_draft(approved, {"publish_at": earlier}, alice)
    client = sign_in(Client(), alice)
    # The plain schedule button leads to the page that asks why; nothing is scheduled yet.
    first = client.post(schedule_url(approved))
    assert first.status_code == 302 and first["Location"].endswith("/schedule/early/")
    approved.refresh_from_db()
    assert approved.status == Advisory.Status.DRAFT
    page = client.get(first["Location"]).content.decode()
    assert 'id="early"' in page and "10 December 2030, 10:00" in page
    refused = client.post(first["Location"], {"early_reason": ""})
    assert refused.status_code == 400 and "Choose why it cannot wait." in refused.content.decode()
    session = client.session
    session[SECOND_FACTOR_AT] = time.time() - 3600
    session.save()
    stale = client.post(first["Location"], {"early_reason": "coordination"})
    assert stale.status_code == 302 and stale["Location"].startswith("/triage/login/again/")
    approved.refresh_from_db()
    assert approved.status == Advisory.Status.DRAFT

    client = sign_in(Client(), alice)
    done = client.post(first["Location"], {"early_reason": "coordination"})
    assert done.status_code == 303
    approved.refresh_from_db()
    assert approved.status == Advisory.Status.SCHEDULED
    event = Event.objects.get(report=rita.report, kind="advisory_scheduled_early")
    assert event.data["promised_at"] == APPROVED.isoformat()
    assert event.data["reason"] == "coordination"
    status = rita_client.get("/status/").content.decode()
    assert 'id="published-early"' in status and "before the 10 December 2030" in status
    assert "The date coordinated with other parties moved earlier" in status


def test_scheduling_on_or_after_the_approved_date_asks_nothing(
    approved: Advisory, alice: User
) -> None:
    client = sign_in(Client(), alice)
    assert client.post(schedule_url(approved)).status_code == 303
    approved.refresh_from_db()
    assert approved.status == Advisory.Status.SCHEDULED
    assert not Event.objects.filter(kind="advisory_scheduled_early").exists()
