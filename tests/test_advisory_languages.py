"""An advisory is written in its report's language and may be translated."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import translation

from meldpunt.advisories import publishing
from meldpunt.advisories.forms import AdvisoryForm
from meldpunt.advisories.models import Advisory
from meldpunt.policy.commitments import category_label
from meldpunt.reports.models import Event, Report
from tests.advisory_cast import fixed, ready
from tests.conftest import Submitted, sign_in, submit

pytestmark = pytest.mark.django_db

FRENCH = {
    "title": "XSS réfléchi dans le portail client",
    "summary": "La page de recherche renvoyait le paramètre q tel quel.",
    "remediation": "Mettre à jour vers 2.3.1.",
}


@pytest.fixture
def english(db: Any) -> Submitted:
    """A report written in the English UI (a category whose name differs in Dutch)."""
    return submit(Client(HTTP_ACCEPT_LANGUAGE="en"), category="information_disclosure")


@pytest.fixture
def report(english: Submitted, alice: User) -> Report:
    return fixed(alice, english)


@pytest.fixture
def advisory(report: Report, alice: User) -> Advisory:
    return ready(alice, report)


def staff_url(advisory: Advisory, action: str = "") -> str:
    return f"/triage/advisories/{advisory.uid}/{action}"


def translation_data(language: str, **texts: str) -> dict[str, str]:
    return {f"translation-{language}-{name}": value for name, value in texts.items()}


def translate(client: Client, advisory: Advisory, language: str, **texts: str) -> Any:
    url = staff_url(advisory, f"translations/{language}/")
    return client.post(url, translation_data(language, **texts))


def label(report: Report, language: str) -> str:
    with translation.override(language):
        return str(category_label(report.category))


# --- The advisory's language ------------------------------------------------------------


@override_settings(LANGUAGE_CODE="nl")  # the site's default, as out of the box
def test_it_drafts_an_english_report_in_english_in_the_english_ui(
    report: Report, alice: User
) -> None:
    assert report.language == "en"
    client = sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), alice)
    assert client.post(f"/triage/advisories/new/{report.uid}/").status_code == 303
    advisory = Advisory.objects.get()
    assert advisory.language == "en"
    assert advisory.draft["title"] == label(report, "en") != label(report, "nl")
    page = client.get(staff_url(advisory)).content.decode()
    assert re.search(r'<option value="en"[^>]* selected>', page)


def test_it_follows_the_report_rather_than_the_staff_members_ui(alice: User) -> None:
    dutch = fixed(alice, submit(Client(HTTP_ACCEPT_LANGUAGE="nl"), category="injection"))
    client = sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), alice)
    assert client.post(f"/triage/advisories/new/{dutch.uid}/").status_code == 303
    advisory = Advisory.objects.get()
    assert advisory.language == "nl" and advisory.draft["title"] == label(dutch, "nl")


def test_it_falls_back_to_the_staff_members_ui_for_a_report_in_another_language(
    report: Report, alice: User
) -> None:
    # A mail report in a language the site does not offer.
    Report.objects.filter(pk=report.pk).update(language="de")
    client = sign_in(Client(HTTP_ACCEPT_LANGUAGE="fr"), alice)
    assert client.post(f"/triage/advisories/new/{report.uid}/").status_code == 303
    advisory = Advisory.objects.get()
    assert advisory.language == "fr" and advisory.draft["title"] == label(report, "fr")


# --- Translations in the draft ------------------------------------------------------------


def test_it_adds_a_french_translation_as_a_new_draft_version(
    advisory: Advisory, report: Report, alice: User
) -> None:
    client = sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), alice)
    before = advisory.draft_version
    page = client.get(staff_url(advisory)).content.decode()
    # A form per other language; none for the advisory's own.
    assert 'id="translation-fr"' in page and 'id="translation-nl"' in page
    assert 'id="translation-en"' not in page
    response = translate(client, advisory, "fr", **FRENCH)
    assert response.status_code == 303
    assert response["Location"] == staff_url(advisory) + "#translation-fr"
    advisory.refresh_from_db()
    assert advisory.language == "en" and advisory.draft_version == before + 1
    assert advisory.draft["translations"] == {"fr": FRENCH}
    assert advisory.draft["title"] == "Reflected XSS in the customer portal"  # untouched
    event = Event.objects.filter(report=report, kind="advisory_updated").latest("pk")
    assert event.data["version"] == before + 1
    assert event.data["fields"] == ["fr:title", "fr:summary", "fr:remediation"]
    page = client.get(staff_url(advisory)).content.decode()
    assert 'id="preview-translation-fr" lang="fr"' in page and FRENCH["summary"] in page
    # Saving the same texts again is no new version; emptying them removes the translation.
    assert translate(client, advisory, "fr", **FRENCH).status_code == 303
    advisory.refresh_from_db()
    assert advisory.draft_version == before + 1
    translate(client, advisory, "fr", title="", summary="", remediation="")
    advisory.refresh_from_db()
    assert advisory.draft["translations"] == {} and advisory.draft_version == before + 2


def test_it_refuses_a_translation_without_title_or_into_the_advisorys_language(
    advisory: Advisory, alice: User, bob: User
) -> None:
    client = sign_in(Client(), alice)
    version = advisory.draft_version
    response = translate(client, advisory, "fr", title="", summary="Résumé", remediation="")
    assert response.status_code == 400
    assert "A translation needs a title and a summary." in response.content.decode()
    assert translate(client, advisory, "en", **FRENCH).status_code == 404
    assert translate(client, advisory, "de", **FRENCH).status_code == 404
    assert translate(sign_in(Client(), bob), advisory, "fr", **FRENCH).status_code == 403
    assert client.get(staff_url(advisory, "translations/fr/")).status_code == 405
    advisory.refresh_from_db()
    assert advisory.draft_version == version and "translations" not in advisory.draft
    with pytest.raises(publishing.AdvisoryError):
        publishing.update_translation(advisory, "en", FRENCH, alice)


def test_it_keeps_the_primary_language_off_the_translated_ones(
    advisory: Advisory, alice: User
) -> None:
    publishing.update_translation(advisory, "fr", FRENCH, alice)
    data = {**AdvisoryForm.initial_from(advisory), "language": "fr"}
    data["products"] = "Customer portal | < 2.3.1 | 2.3.1"
    data["publish_date"] = data["publish_date"].isoformat()
    data["publish_time"] = data["publish_time"].strftime("%H:%M")
    form = AdvisoryForm(data, advisory=advisory)
    assert not form.is_valid() and "language" in form.errors


def test_a_finders_review_covers_the_translations_too(
    advisory: Advisory, english: Submitted, alice: User
) -> None:
    publishing.update_translation(advisory, "fr", FRENCH, alice)
    finder = Client()
    assert finder.post("/status/", {"code": english.code}).status_code == 303
    url = f"/status/advisory/{advisory.uid}/"
    page = finder.get(url).content.decode()
    assert FRENCH["title"] in page and 'id="preview-translation-fr" lang="fr"' in page
    answer = {"decision": "approve", "text": "", "proposed_tz": "Europe/Brussels"}
    assert finder.post(url, answer).status_code == 303
    advisory.refresh_from_db()
    review = advisory.reviews.get()
    assert review.draft_version == advisory.draft_version
    assert not publishing.is_stale(review, advisory)
    # A change in the French text alone makes the approval one of an earlier version.
    publishing.update_translation(advisory, "fr", {**FRENCH, "title": "Autre titre"}, alice)
    advisory.refresh_from_db()
    assert publishing.is_stale(review, advisory)
