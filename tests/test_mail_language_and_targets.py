"""A report made from a mail takes the mail's language (its Content-Language, else the
language its text is written in) and the systems it names, as the web form would."""

from __future__ import annotations

from typing import Any

import pysequoia
import pytest
from django.test import override_settings

from meldpunt.intake.mail import process_message
from meldpunt.lib.language import detect
from meldpunt.lib.targets import find_targets
from meldpunt.reports.filters import ReportFilter, filter_reports
from meldpunt.reports.models import Report
from tests.test_mail_intake import inner_entity, pgp_mime, plain_mail, receipt_raw

pytestmark = pytest.mark.django_db

ENGLISH = (
    "Hello,\n\nI found a reflected cross-site scripting vulnerability in the search page of "
    "your web shop. See https://shop.example.org/search?q=<script>alert(1)</script> and the "
    "API at api.example.org:8443, which answers on 192.0.2.10 too.\n\nKind regards,\nRita"
)
FRENCH = (
    "Bonjour,\n\nj'ai trouvé une faille de type injection SQL dans le formulaire de connexion "
    "de votre portail client (https://portail.example.org/connexion). Un attaquant peut lire "
    "toute la base de données.\n\nCordialement"
)
DUTCH = (
    "Beste,\n\nik heb een kwetsbaarheid gevonden in de zoekfunctie van uw webwinkel. Een "
    "aanvaller kan daarmee scripts uitvoeren in de browser van uw klanten.\n\nMet vriendelijke "
    "groet"
)


def report_of(raw: bytes) -> Report:
    result = process_message(raw)
    assert result.outcome == "report" and result.report is not None
    return Report.objects.get(pk=result.report.pk)


@pytest.mark.parametrize(
    ("body", "language", "default"),
    [(ENGLISH, "en", "nl"), (FRENCH, "fr", "nl"), (DUTCH, "nl", "en")],
)
def test_it_takes_the_language_the_mail_is_written_in(
    org_key: Any, settings: Any, body: str, language: str, default: str
) -> None:
    settings.LANGUAGE_CODE = default  # the site's default is not the mail's language
    assert report_of(plain_mail(body, subject="Vulnerability")).language == language


def test_it_prefers_the_mails_content_language(org_key: Any) -> None:
    raw = plain_mail(ENGLISH, headers={"Content-Language": "fr-BE"})
    assert report_of(raw).language == "fr"


@override_settings(LANGUAGE_CODE="fr")
def test_it_keeps_the_site_default_for_a_short_text(org_key: Any) -> None:
    assert report_of(plain_mail("See attached.", subject="bug")).language == "fr"


def test_it_detects_the_language_inside_an_encrypted_mail(org_key: Any, settings: Any) -> None:
    settings.LANGUAGE_CODE = "nl"
    encrypted = pysequoia.encrypt(inner_entity(ENGLISH), recipients=[org_key.cert])
    assert report_of(pgp_mime(encrypted)).language == "en"


def test_it_still_answers_in_every_language_when_it_only_guessed(
    org_key: Any, settings: Any
) -> None:
    settings.LANGUAGE_CODE = "nl"
    # A guess may be wrong: the receipt keeps all languages unless the mail named one.
    report = report_of(plain_mail(ENGLISH))
    assert report.language == "en"
    header = receipt_raw(report).split(b"Content-Language: ", 1)[1].split(b"\r\n", 1)[0]
    assert sorted(header.decode().split(", ")) == ["en", "fr", "nl"]


def test_it_stores_the_systems_a_mail_names_like_the_web_form(org_key: Any) -> None:
    report = report_of(plain_mail(ENGLISH, subject="XSS on shop.example.org"))
    assert report.content["affected_systems"] == [
        "shop.example.org",
        "https://shop.example.org/search?q=<script>alert(1)</script",
        "api.example.org:8443",
        "192.0.2.10",
    ]
    # Searchable by host through the blind index, as a web report is.
    for host in ("shop.example.org", "api.example.org", "192.0.2.10"):
        found = filter_reports(Report.objects.all(), ReportFilter(search=host), report.created_at)
        assert list(found) == [report], host


def test_it_leaves_affected_systems_empty_when_the_mail_names_none(org_key: Any) -> None:
    report = report_of(plain_mail(DUTCH))
    assert report.content["affected_systems"] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(see https://x.example.org/a).", ["https://x.example.org/a"]),
        ("<https://x.example.org/>", ["https://x.example.org/"]),
        ("on [2001:db8::1]:443, twice: [2001:db8::1]:443", ["[2001:db8::1]:443"]),
        ("e.g. index.php, config.json, v2.3.1, i.e. nothing", []),
        ("write to rita@example.net", []),
        ("http://", []),
    ],
)
def test_it_reads_only_urls_hosts_and_addresses_from_running_text(text, expected) -> None:
    assert [t.text for t in find_targets(text, 50)] == expected


def test_it_stops_at_the_limit() -> None:
    text = " ".join(f"host{n}.example.org" for n in range(80))
    assert len(find_targets(text, 50)) == 50


def test_it_does_not_guess_the_language_of_links_alone() -> None:
    assert detect("https://shop.example.org/search?q=1 192.0.2.10 api.example.org", ["en"]) in (
        None,
        "en",
    )
    assert detect("https://a.example.org/" * 20, ["nl", "en", "fr"]) is None
