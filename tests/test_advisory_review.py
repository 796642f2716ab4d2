"""The finder reviews a draft on /status/: approve, comment, or ask for another date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from meldpunt.advisories import publishing
from meldpunt.advisories.models import Advisory, FinderReview
from meldpunt.reports.models import Event
from tests.advisory_cast import fixed, ready
from tests.conftest import Submitted, sign_in, submit

pytestmark = pytest.mark.django_db

MOMENT = datetime(2030, 6, 3, 8, 0, tzinfo=UTC)  # 10:00 in Brussels


@pytest.fixture
def advisory(rita: Submitted, alice: User) -> Advisory:
    return ready(alice, fixed(alice, rita), publish_at=MOMENT)


def url(advisory: Advisory) -> str:
    return f"/status/advisory/{advisory.uid}/"


def answer(**overrides: Any) -> dict[str, Any]:
    data = {
        "decision": "approve",
        "text": "",
        "proposed_date": "",
        "proposed_time": "",
        "proposed_tz": "Europe/Brussels",
    }
    data.update(overrides)
    return data


def test_it_shows_the_draft_and_its_date_in_its_zone_on_the_status_page(
    advisory: Advisory, rita_client: Client
) -> None:
    status = rita_client.get("/status/").content.decode()
    assert f'href="{url(advisory)}"' in status
    assert "proposed for 3 June 2030, 10:00 (Europe/Brussels)" in status
    page = rita_client.get(url(advisory))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Reflected XSS in the customer portal" in html
    assert ">3 June 2030, 10:00</time> (Europe/Brussels)" in html
    assert 'id="draft-version">2<' in html


def test_it_shows_the_finder_their_credit_line_as_it_would_print_now(
    advisory: Advisory, rita_client: Client
) -> None:
    assert "not named" in rita_client.get(url(advisory)).content.decode()
    rita_client.post("/status/credit/", {"credit": "pseudonym", "name": "r1ta"})
    html = rita_client.get(url(advisory)).content.decode()
    assert 'id="own-credit">r1ta' in html and "<li>r1ta</li>" in html
    assert 'href="/status/#credit-title"' in html


def test_it_hides_other_finders_names_before_publication(
    rita: Submitted, rita_client: Client, alice: User
) -> None:
    other = fixed(alice, credit="name", name="Someone Else")
    advisory = ready(alice, fixed(alice, rita), other)
    assert "Someone Else" in publishing.credits_for(advisory)
    assert "Someone Else" not in rita_client.get(url(advisory)).content.decode()


def test_it_records_an_approval_of_the_current_version(
    advisory: Advisory, rita: Submitted, rita_client: Client
) -> None:
    response = rita_client.post(url(advisory), answer(), follow=True)
    assert response.redirect_chain == [(url(advisory), 303)]
    assert "your answer has been sent to the team" in response.content.decode()
    found = FinderReview.objects.get()
    assert (found.decision, found.draft_version, found.report) == ("approve", 2, rita.report)
    assert found.proposed_at is None
    event = Event.objects.get(kind="advisory_reviewed")
    assert event.actor == "finder"
    assert event.data == {"advisory": advisory.identifier, "decision": "approve", "version": 2}


def test_it_records_a_comment_sealed(advisory: Advisory, rita_client: Client) -> None:
    rita_client.post(url(advisory), answer(decision="comment", text="Please name 2.3.0 too."))
    found = FinderReview.objects.get()
    assert found.decision == "comment" and found.text == {"text": "Please name 2.3.0 too."}
    assert b"Please name" not in bytes(found.text_blob)


def test_it_records_another_date_in_the_zone_the_finder_chose(
    advisory: Advisory, rita_client: Client, alice: User
) -> None:
    data = answer(
        decision="other_date",
        text="I present it at a conference that day.",
        proposed_date="2030-06-10",
        proposed_time="09:30",
        proposed_tz="Asia/Tokyo",
    )
    assert rita_client.post(url(advisory), data).status_code == 303
    found = FinderReview.objects.get()
    assert found.proposed_at == datetime(2030, 6, 10, 0, 30, tzinfo=UTC)
    # The team reads it in the advisory's zone.
    page = sign_in(Client(), alice).get(f"/triage/advisories/{advisory.uid}/").content.decode()
    assert ">10 June 2030, 02:30</time> (Europe/Brussels)" in page
    assert "I present it at a conference that day." in page
    assert "draft version 2" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (answer(decision="other_date"), "Give a date and a time."),
        (answer(decision="other_date", proposed_date="2030-06-10"), "Give both the date"),
        (
            answer(decision="other_date", proposed_date="2020-01-01", proposed_time="10:00"),
            "Propose a moment in the future.",
        ),
        (answer(decision="comment"), "Write your comment."),
        (answer(decision="maybe"), "Select a valid choice"),
    ],
)
def test_it_refuses_an_incomplete_answer_and_stores_nothing(
    data: dict[str, Any], message: str, advisory: Advisory, rita_client: Client
) -> None:
    response = rita_client.post(url(advisory), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not FinderReview.objects.exists()
    assert not Event.objects.filter(kind="advisory_reviewed").exists()


def test_it_answers_404_to_another_finder_and_to_nobody(advisory: Advisory) -> None:
    mallory = submit(Client())
    client = Client()
    assert client.post("/status/", {"code": mallory.code}).status_code == 303
    assert client.get(url(advisory)).status_code == 404
    assert client.post(url(advisory), answer()).status_code == 404
    assert f"/status/advisory/{advisory.uid}/" not in client.get("/status/").content.decode()
    assert Client().get(url(advisory)).status_code == 404
    assert Client().post(url(advisory), answer()).status_code == 404
    assert not FinderReview.objects.exists()


def test_it_answers_405_to_other_methods_and_needs_the_csrf_token(
    advisory: Advisory, rita: Submitted
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/status/")
    client.post(
        "/status/", {"code": rita.code, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    )
    assert client.get(url(advisory)).status_code == 200
    assert Client().put(url(advisory)).status_code == 405
    assert client.post(url(advisory), answer()).status_code == 403
    assert not FinderReview.objects.exists()


def test_it_shows_staff_an_approval_of_an_older_draft_as_stale(
    advisory: Advisory, rita_client: Client, alice: User
) -> None:
    rita_client.post(url(advisory), answer())
    staff = sign_in(Client(), alice)
    detail = f"/triage/advisories/{advisory.uid}/"
    assert "stale" not in staff.get(detail).content.decode()
    publishing.update_draft(advisory, {"summary": "Changed after the approval."}, alice)
    page = staff.get(detail).content.decode()
    assert "an earlier version: stale" in page
    assert publishing.is_stale(FinderReview.objects.get(), advisory)
    # The finder sees the new version and can approve it again.
    assert 'id="draft-version">3<' in rita_client.get(url(advisory)).content.decode()
    rita_client.post(url(advisory), answer())
    assert [r.draft_version for r in FinderReview.objects.all()] == [2, 3]


def test_it_takes_no_review_once_published(
    advisory: Advisory, rita_client: Client, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    advisory.publish_at = timezone.now() - timedelta(minutes=1)
    publishing.publish(advisory, summary="", user=alice, skip_review=True)
    assert rita_client.get(url(advisory)).status_code == 404
    assert rita_client.post(url(advisory), answer()).status_code == 404
    assert url(advisory) not in rita_client.get("/status/").content.decode()
