"""Erasure and withdrawn credit reach published advisories: a new revision without the name."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from meldpunt.advisories import csaf, publishing
from meldpunt.advisories.models import Advisory, AdvisoryRevision
from meldpunt.reports.models import Event
from tests.advisory_cast import fixed, ready
from tests.conftest import Submitted, submit

pytestmark = pytest.mark.django_db

NAME = "Rita Finder"


@pytest.fixture
def named(db: None) -> Submitted:
    return submit(Client(), name=NAME, credit="name")


@pytest.fixture
def client(named: Submitted) -> Client:
    client = Client()
    assert client.post("/status/", {"code": named.code}).status_code == 303
    return client


@pytest.fixture
def published(named: Submitted, alice: User) -> Advisory:
    advisory = ready(alice, fixed(alice, named))
    revision = publishing.publish(advisory, summary="", user=alice, skip_review=True)
    assert revision.credits == [NAME]
    return advisory


def csaf_url(advisory: Advisory) -> str:
    year = advisory.revisions.get(number=1).published_at.year
    return f"/.well-known/csaf/white/{year}/{advisory.identifier.lower()}.json"


def assert_not_named(advisory: Advisory) -> None:
    """The latest revision validates, and nothing public names the finder any more."""
    latest = advisory.revisions.order_by("-number").first()
    assert latest is not None and latest.number == 2
    assert csaf.validate(latest.csaf) == []
    assert latest.credits == []
    assert NAME not in json.dumps(latest.csaf.get("document", {}).get("acknowledgments", []))
    history = latest.csaf["document"]["tracking"]["revision_history"]
    assert [r["number"] for r in history] == ["1", "2"]
    assert NAME not in json.dumps(latest.csaf)
    public = Client()
    assert NAME not in public.get(f"/advisories/{advisory.identifier}/").content.decode()
    assert NAME not in public.get("/hall-of-fame/").content.decode()
    served = public.get(csaf_url(advisory))
    assert served.status_code == 200 and NAME not in served.content.decode()


def test_it_asks_whether_published_credits_go_too(published: Advisory, client: Client) -> None:
    page = client.get("/status/").content.decode()
    assert 'name="published_credits"' in page and published.identifier in page
    refused = client.post("/status/erase/", {"confirm": "on"})
    assert refused.status_code == 400
    named = Client().get("/hall-of-fame/").content.decode()
    assert NAME in named
    assert not Event.objects.filter(kind="finder_data_erased").exists()


def test_it_removes_the_name_from_published_advisories_on_erasure(
    published: Advisory, client: Client
) -> None:
    response = client.post(
        "/status/erase/", {"confirm": "on", "published_credits": "remove"}, follow=True
    )
    page = response.content.decode()
    assert "Your name is off the hall of fame" in page and published.identifier in page
    assert_not_named(published)
    revision = published.revisions.get(number=2)
    assert revision.summary == "Credits changed at a finder's request."
    assert revision.content == published.revisions.get(number=1).content
    event = Event.objects.filter(kind="advisory_published").latest("pk")
    assert event.data["revision"] == 2 and event.data["credits_withdrawn"] is True


def test_it_keeps_published_credits_when_the_finder_says_so(
    published: Advisory, client: Client
) -> None:
    response = client.post(
        "/status/erase/", {"confirm": "on", "published_credits": "keep"}, follow=True
    )
    assert f"Your name stays as published in {published.identifier}" in response.content.decode()
    assert AdvisoryRevision.objects.filter(advisory=published).count() == 1
    assert NAME in Client().get("/hall-of-fame/").content.decode()


def test_it_revises_the_advisory_when_the_finder_withdraws_credit_later(
    published: Advisory, client: Client
) -> None:
    response = client.post("/status/credit/", {"credit": "none", "name": NAME}, follow=True)
    page = response.content.decode()
    assert "without your former credit line" in page and published.identifier in page
    assert_not_named(published)
    # Saving the same preference again changes nothing more.
    client.post("/status/credit/", {"credit": "none", "name": NAME})
    assert published.revisions.count() == 2


def test_it_publishes_only_the_credits_not_the_teams_unpublished_edits(
    published: Advisory, client: Client, alice: User
) -> None:
    products = [{"name": "Customer portal", "affected": "< 2.4", "fixed": "2.4"}]
    publishing.update_draft(published, {"products": products}, alice)
    client.post("/status/erase/", {"confirm": "on", "published_credits": "remove"})
    revision = published.revisions.get(number=2)
    assert revision.content["products"][0]["fixed"] == "2.3.1"
    assert_not_named(published)


def test_it_keeps_the_other_finders_credit(
    published: Advisory, named: Submitted, alice: User, client: Client
) -> None:
    otto = fixed(alice, submit(Client(), name="Otto", credit="name"))
    follow_up = ready(alice, named.report, otto)  # a variant: Rita's report feeds it too
    publishing.publish(follow_up, summary="", user=alice, skip_review=True)
    assert follow_up.revisions.get().credits == [NAME, "Otto"]
    client.post("/status/erase/", {"confirm": "on", "published_credits": "remove"})
    latest = follow_up.revisions.get(number=2)
    assert latest.credits == ["Otto"] and csaf.validate(latest.csaf) == []
    assert latest.csaf["document"]["acknowledgments"] == [{"names": ["Otto"]}]
    assert "Otto" in Client().get("/hall-of-fame/").content.decode()
    assert_not_named(published)


def test_it_says_when_no_published_advisory_names_the_finder(client: Client) -> None:
    page = client.get("/status/").content.decode()
    assert 'name="published_credits"' not in page
    response = client.post("/status/erase/", {"confirm": "on"}, follow=True)
    assert "No published advisory named you" in response.content.decode()
