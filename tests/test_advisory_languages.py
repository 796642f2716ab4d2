"""An advisory is written in its report's language and may be published in more than one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import csaf as csaf_package  # type: ignore[import-untyped]  # ships no type hints
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import translation

from meldpunt.advisories import publishing
from meldpunt.advisories.csaf import serialize, validate
from meldpunt.advisories.forms import AdvisoryForm
from meldpunt.advisories.models import Advisory, AdvisoryRevision
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
XSS = '<script>alert("t")</script><img src=x onerror=alert(1)>'


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


def published_in_french(advisory: Advisory, alice: User) -> AdvisoryRevision:
    publishing.update_translation(advisory, "fr", FRENCH, alice)
    return publishing.publish(advisory, summary="", user=alice, skip_review=True)


def get(path: str, **headers: Any) -> Any:
    response = Client(**headers).get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response


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


# --- Publication ----------------------------------------------------------------------------


def test_it_publishes_every_language_as_one_revision_with_a_valid_csaf_document_each(
    advisory: Advisory, alice: User
) -> None:
    revision = published_in_french(advisory, alice)
    assert revision.number == 1 and AdvisoryRevision.objects.count() == 1
    primary, french = revision.csaf, revision.translations["fr"]
    assert list(revision.translations) == ["fr"]
    assert validate(primary) == [] and validate(french) == []
    assert primary["document"]["tracking"] == french["document"]["tracking"]
    assert primary["document"]["tracking"]["id"] == advisory.identifier
    assert primary["document"]["lang"] == "en" and "source_lang" not in primary["document"]
    assert french["document"]["lang"] == "fr" and french["document"]["source_lang"] == "en"
    assert french["document"]["title"] == FRENCH["title"]
    assert french["document"]["notes"][0]["text"] == FRENCH["summary"]
    vulnerability = french["vulnerabilities"][0]
    assert vulnerability["remediations"][0]["details"] == FRENCH["remediation"]
    assert vulnerability["product_status"] == primary["vulnerabilities"][0]["product_status"]

    # Two pages, and two documents served as stored.
    identifier = advisory.identifier
    english_page = get(f"/advisories/{identifier}/").content.decode()
    french_page = get(f"/advisories/{identifier}/fr/").content.decode()
    assert "Reflected XSS in the customer portal" in english_page
    assert FRENCH["title"] not in english_page.split('id="advisory-languages"')[0]
    assert f'<h1 id="advisory-title" lang="fr">{FRENCH["title"]}</h1>' in french_page
    year = primary["document"]["tracking"]["initial_release_date"][:4]
    name = f"{identifier.lower()}.json"
    assert get(f"/.well-known/csaf/white/{year}/{name}").content == serialize(primary)
    french_path = f"/.well-known/csaf/translations/fr/white/{year}/{name}"
    assert get(french_path).content == serialize(french)
    assert f'href="{french_path}"' in french_page
    assert f'href="/.well-known/csaf/white/{year}/{name}"' in english_page
    refs = {r["url"] for r in french["document"]["references"] if r["category"] == "self"}
    assert any(url.endswith(f"/advisories/{identifier}/fr/") for url in refs)
    assert any(url.endswith(french_path) for url in refs)


def test_it_lists_translations_in_a_distribution_per_language_that_the_csaf_audit_accepts(
    advisory: Advisory, alice: User, tmp_path: Path
) -> None:
    published_in_french(advisory, alice)
    other = ready(alice, fixed(alice, submit(Client(HTTP_ACCEPT_LANGUAGE="en"))))
    publishing.publish(other, summary="", user=alice, skip_review=True)  # English only
    metadata = get("/.well-known/csaf/provider-metadata.json").json()
    directories = [d["directory_url"] for d in metadata["distributions"]]
    assert [d.split("/.well-known/csaf/")[1] for d in directories] == [
        "white/",
        "translations/fr/white/",
    ]
    base = "/.well-known/csaf/translations/fr/white"
    index = get(f"{base}/index.txt").content.decode().splitlines()
    assert index == [f"{advisory.published_at:%Y}/{advisory.identifier.lower()}.json"]
    assert len(get("/.well-known/csaf/white/index.txt").content.decode().splitlines()) == 2
    assert get(f"{base}/changes.csv").content.decode().startswith(f'"{index[0]}",')
    assert index[0].split("/")[1] in get(f"{base}/{index[0].split('/')[0]}/").content.decode()
    # Directory listings lead there from the root, for people browsing the tree.
    assert 'href="translations/"' in get("/.well-known/csaf/").content.decode()
    assert 'href="fr/"' in get("/.well-known/csaf/translations/").content.decode()
    assert 'href="white/"' in get("/.well-known/csaf/translations/fr/").content.decode()
    assert Client().get("/.well-known/csaf/translations/nl/").status_code == 404
    assert get(f"{base}/{index[0]}.sha256").content.decode().endswith(index[0][5:] + "\n")
    root = tmp_path / "white"
    for line in ["index.txt", *index]:
        (root / line).parent.mkdir(parents=True, exist_ok=True)
        (root / line).write_bytes(get(f"{base}/{line}").content)
    result = csaf_package.audit_tree(str(root))
    assert result.advisory_count == 1
    assert [v for v in result.violations if v.rule != "changes-csv"] == []
    assert result.errors == []
    # No translation into Dutch, and none of the English-only advisory.
    year, name = index[0].split("/")
    client = Client()
    assert client.get(f"/.well-known/csaf/translations/nl/white/{year}/{name}").status_code == 404
    assert client.get("/.well-known/csaf/translations/de/white/index.txt").status_code == 404
    other_name = f"{other.identifier.lower()}.json"
    assert client.get(f"{base}/{year}/{other_name}").status_code == 404


def test_the_public_pages_link_each_other_with_hreflang(advisory: Advisory, alice: User) -> None:
    published_in_french(advisory, alice)
    identifier = advisory.identifier
    expected = {
        ("en", f"{settings.MELDPUNT_BASE_URL}/advisories/{identifier}/"),
        ("fr", f"{settings.MELDPUNT_BASE_URL}/advisories/{identifier}/fr/"),
    }
    link_re = re.compile(r'<link rel="alternate" hreflang="(\w+)" href="([^"]+)">')
    for path in (f"/advisories/{identifier}/", f"/advisories/{identifier}/fr/"):
        page = get(path, HTTP_ACCEPT_LANGUAGE="nl").content.decode()
        assert set(link_re.findall(page)) == expected
    english_page = get(f"/advisories/{identifier}/").content.decode()
    assert f'<a href="/advisories/{identifier}/fr/" hreflang="fr" lang="fr">français</a>' in (
        english_page
    )
    french_page = get(f"/advisories/{identifier}/fr/").content.decode()
    assert f'<a href="/advisories/{identifier}/" hreflang="en" lang="en">English</a>' in (
        french_page
    )
    # The primary language has one address; a language not published has none.
    moved = Client().get(f"/advisories/{identifier}/en/")
    assert moved.status_code == 301 and moved["Location"] == f"/advisories/{identifier}/"
    assert Client().get(f"/advisories/{identifier}/nl/").status_code == 404
    assert Client().get(f"/advisories/{identifier}/xx/").status_code == 404
    # A page in one language only names no alternates.
    other = ready(alice, fixed(alice, submit(Client(HTTP_ACCEPT_LANGUAGE="en"))))
    publishing.publish(other, summary="", user=alice, skip_review=True)
    page = get(f"/advisories/{other.identifier}/").content.decode()
    assert "hreflang" not in page


def test_a_revision_updates_every_language(advisory: Advisory, alice: User) -> None:
    published_in_french(advisory, alice)
    publishing.update_translation(advisory, "fr", {**FRENCH, "title": "XSS corrigé"}, alice)
    revision = publishing.publish(advisory, summary="French title corrected.", user=alice)
    assert revision.number == 2
    for document in (revision.csaf, revision.translations["fr"]):
        assert validate(document) == []
        tracking = document["document"]["tracking"]
        assert tracking["version"] == "2" and len(tracking["revision_history"]) == 2
        assert tracking["revision_history"][1]["summary"] == "French title corrected."
    assert revision.translations["fr"]["document"]["title"] == "XSS corrigé"
    page = get(f"/advisories/{advisory.identifier}/fr/").content.decode()
    assert "XSS corrigé" in page and "French title corrected." in page
    # The feed: one entry per advisory, in its own language, linking the translation.
    feed = get("/advisories/feed.atom").content.decode()
    assert feed.count("<entry>") == 1
    assert re.search(
        rf'<link href="[^"]+/advisories/{advisory.identifier}/fr/" hreflang="fr" '
        rf'rel="alternate" type="text/html"/>',
        feed,
    )
    assert 'hreflang="fr" rel="alternate" type="application/json"/>' in feed
    # Nothing changed since: no revision.
    with pytest.raises(publishing.PublishRefused):
        publishing.publish(advisory, summary="Again.", user=alice)


def test_it_escapes_translated_text_everywhere_it_is_shown(
    advisory: Advisory, english: Submitted, alice: User
) -> None:
    texts = {"title": XSS, "summary": XSS, "remediation": XSS}
    publishing.update_translation(advisory, "fr", texts, alice)
    staff = sign_in(Client(), alice).get(staff_url(advisory)).content.decode()
    finder = Client()
    finder.post("/status/", {"code": english.code})
    portal = finder.get(f"/status/advisory/{advisory.uid}/").content.decode()
    revision = publishing.publish(advisory, summary="", user=alice, skip_review=True)
    assert validate(revision.translations["fr"]) == []
    public = get(f"/advisories/{advisory.identifier}/fr/").content.decode()
    feed = get("/advisories/feed.atom").content.decode()
    for page in (staff, portal, public, feed):
        assert "<script>alert" not in page and "<img src=x" not in page
    for page in (staff, portal, public):
        assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in page


def test_it_refuses_to_publish_a_translation_lacking_the_remediation(
    advisory: Advisory, alice: User
) -> None:
    # The primary document says how to fix it; a translation that does not would be refused
    # by the validator (6.1.27), so the team is told in its own words first.
    publishing.update_translation(advisory, "fr", {**FRENCH, "remediation": ""}, alice)
    with pytest.raises(publishing.PublishRefused) as refused:
        publishing.publish(advisory, summary="", user=alice, skip_review=True)
    assert refused.value.messages == ["The translation into French needs the remediation too."]
    assert not AdvisoryRevision.objects.exists()
    advisory.refresh_from_db()
    assert advisory.status == Advisory.Status.DRAFT
