"""An advisory is written in its report's language."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import translation

from meldpunt.advisories.models import Advisory
from meldpunt.policy.commitments import category_label
from meldpunt.reports.models import Report
from tests.advisory_cast import fixed
from tests.conftest import Submitted, sign_in, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def english(db: Any) -> Submitted:
    """A report written in the English UI (a category whose name differs in Dutch)."""
    return submit(Client(HTTP_ACCEPT_LANGUAGE="en"), category="information_disclosure")


@pytest.fixture
def report(english: Submitted, alice: User) -> Report:
    return fixed(alice, english)


def staff_url(advisory: Advisory, action: str = "") -> str:
    return f"/triage/advisories/{advisory.uid}/{action}"


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
