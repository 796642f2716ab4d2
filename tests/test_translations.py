"""The UI is complete in Dutch, English and French, and the compiled catalogues are current.

English is the source language; `bin/i18n` extracts the strings and compiles the .mo files.
"""

from __future__ import annotations

import ast
import gettext
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.test import Client

import meldpunt

LOCALE_DIR = Path(meldpunt.__file__).parent / "locale"
TRANSLATED = ["nl", "fr"]  # English needs no catalogue: it is the source language
PLACEHOLDER_RE = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\{.*?\}\}|</?\w+[^>]*>")


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False

    @property
    def where(self) -> str:
        return repr(self.msgid[:60])


def read_po(path: Path) -> list[Entry]:
    """A small .po reader, enough for what msgmerge writes: no dependence on msgfmt's wording."""
    entries: list[Entry] = []
    entry, target = Entry(), None

    def finish() -> None:
        nonlocal entry, target
        if entry.msgstr or entry.msgid:
            entries.append(entry)
        entry, target = Entry(), None

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#~"):
            entry.obsolete = True
            line = line[2:].strip()
        elif line.startswith("#,"):
            entry.flags.update(flag.strip() for flag in line[2:].split(","))
            continue
        if not line:
            finish()
            continue
        if line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword.startswith('"'):
            text, key = ast.literal_eval(line), target
        else:
            text, key = ast.literal_eval(rest), keyword
            if key in {"msgid", "msgid_plural", "msgctxt"} and entry.msgstr:
                finish()  # no blank line between two entries
        target = key
        if key == "msgid":
            entry.msgid += text
        elif key == "msgid_plural":
            entry.msgid_plural = (entry.msgid_plural or "") + text
        elif key == "msgctxt":
            entry.msgctxt = (entry.msgctxt or "") + text
        elif key is not None and (m := re.fullmatch(r"msgstr(?:\[(\d+)\])?", key)):
            index = int(m.group(1) or 0)
            entry.msgstr[index] = entry.msgstr.get(index, "") + text
        else:
            raise AssertionError(f"{path}: cannot read line {raw!r}")
    finish()
    return [e for e in entries if not e.obsolete]


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "django.po"


def messages(language: str) -> list[Entry]:
    return [e for e in read_po(po_path(language)) if e.msgid]  # skip the header


def nplurals(language: str) -> int:
    header = next(e for e in read_po(po_path(language)) if not e.msgid).msgstr[0]
    found = re.search(r"nplurals\s*=\s*(\d+)", header)
    assert found, f"{language}: no Plural-Forms header"
    return int(found.group(1))


@pytest.mark.parametrize("language", TRANSLATED)
def test_it_translates_every_message_and_leaves_none_fuzzy(language):
    entries = messages(language)
    assert len(entries) > 50, "the catalogue looks empty; run bin/i18n"
    header = next(e for e in read_po(po_path(language)) if not e.msgid)
    assert "fuzzy" not in header.flags, f"{language}: the header is marked fuzzy"
    assert f"Language: {language}\n" in header.msgstr[0]
    forms = nplurals(language)
    fuzzy = [e.where for e in entries if "fuzzy" in e.flags]
    assert not fuzzy, f"{language}: fuzzy entries: {fuzzy}"
    untranslated = [
        e.where
        for e in entries
        if len(e.msgstr) != (forms if e.msgid_plural else 1)
        or not all(s.strip() for s in e.msgstr.values())
    ]
    assert not untranslated, f"{language}: untranslated entries: {untranslated}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_it_keeps_placeholders_and_markup_in_every_translation(language):
    wrong = []
    for e in messages(language):
        sources = [e.msgid] if e.msgid_plural is None else [e.msgid, e.msgid_plural]
        wanted = sorted(set().union(*(PLACEHOLDER_RE.findall(s) for s in sources)))
        for text in e.msgstr.values():
            if sorted(set(PLACEHOLDER_RE.findall(text))) != wanted:
                wrong.append((e.where, text))
    assert not wrong, f"{language}: placeholders or tags differ: {wrong}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_it_ships_a_compiled_catalogue_that_matches_the_po_file(language):
    mo = po_path(language).with_suffix(".mo")
    assert mo.exists(), f"{mo} is missing; run bin/i18n"
    with mo.open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
    expected: dict[object, str] = {}
    for e in read_po(po_path(language)):
        if ("fuzzy" in e.flags and e.msgid) or not all(e.msgstr.values()):
            continue  # msgfmt leaves these out (but keeps the header)
        key = e.msgid if e.msgctxt is None else f"{e.msgctxt}\x04{e.msgid}"
        if e.msgid_plural is None:
            expected[key] = e.msgstr[0]
        else:
            expected.update({(key, i): text for i, text in e.msgstr.items()})
    # msgfmt drops the creation date, so that a re-extraction alone does not change the .mo.
    expected[""] = re.sub(r"POT-Creation-Date:.*\n", "", expected[""])
    stale = {k for k in expected.keys() | compiled.keys() if expected.get(k) != compiled.get(k)}
    assert not stale, f"{mo} is out of date (run bin/i18n): {sorted(map(str, stale))[:5]}"


PAGES = {
    "/": {
        "en": ["Responsible disclosure policy", "within 3 days", "Disclosure policy ·"],
        "nl": [
            "Beleid voor het verantwoord melden van kwetsbaarheden",
            "binnen 3 dagen",
            "geen juridische stappen",
            "Meldingsbeleid ·",
        ],
        "fr": [
            "Politique de divulgation responsable",
            "dans un délai de 3 jours",
            "aucune poursuite judiciaire",
            "Politique de divulgation ·",
        ],
    },
    "/report/": {
        "en": ["<h1>Report a vulnerability</h1>", "Kind of vulnerability", "Remote code execution"],
        "nl": ["<h1>Een kwetsbaarheid melden</h1>", "Soort kwetsbaarheid", "Uitvoering van code"],
        "fr": ["<h1>Signaler une vulnérabilité</h1>", "Type de vulnérabilité", "Exécution de code"],
    },
    "/status/": {
        "en": ["<h1>Follow your report</h1>", "Receipt code", "Open my report"],
        "nl": ["<h1>Uw melding volgen</h1>", "Ontvangstcode", "Mijn melding openen"],
        "fr": ["<h1>Suivre votre signalement</h1>", "Code de réception", "Ouvrir mon signalement"],
    },
    "/advisories/": {
        "en": ["<h1>Security advisories</h1>", "No advisories have been published yet."],
        "nl": ["<h1>Beveiligingsadviezen</h1>", "Er zijn nog geen adviezen gepubliceerd."],
        "fr": ["<h1>Avis de sécurité</h1>", "Aucun avis n\u2019a encore été publié."],
    },
    "/hall-of-fame/": {
        "en": ["<h1>Hall of fame</h1>", "Nobody is listed yet."],
        "nl": ["<h1>Erelijst</h1>", "Er staat nog niemand op de lijst."],
        "fr": ["<h1>Tableau d\u2019honneur</h1>", "Personne n\u2019est encore listé."],
    },
}


def english_leaks(language: str, page: str) -> list[str]:
    """Source sentences that should have been replaced by their translation."""
    text = html.unescape(page)
    return [
        e.msgid
        for e in messages(language)
        if e.msgid_plural is None
        and " " in e.msgid
        and len(e.msgid) >= 15
        and e.msgstr.get(0) != e.msgid
        and e.msgid in text
    ]


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("language", ["en", *TRANSLATED])
def test_it_serves_each_page_in_the_browsers_language(db, path, language):
    response = Client(HTTP_ACCEPT_LANGUAGE=f"{language},en;q=0.5").get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert f'<html lang="{language}">' in page
    assert response["Content-Language"] == language
    missing = [s for s in PAGES[path][language] if s not in page]
    assert not missing, f"{path} in {language} lacks {missing}"
    if language != "en":
        assert not english_leaks(language, page), f"{path} in {language} shows English"


@pytest.mark.parametrize(
    ("language", "browser", "heading", "state"),
    [
        ("nl", "fr", "Melding", "Ontvangen: wij antwoorden uiterlijk op de datum hieronder"),
        ("fr", "en", "Signalement", "Reçu\u00a0: nous répondrons au plus tard"),
        ("en", "nl", "Report", "Received: we will respond by the date below"),
    ],
)
def test_it_shows_the_receipt_portal_in_the_chosen_language(
    rita, rita_client, language, browser, heading, state
):
    rita_client.post("/language/", {"language": language, "next": "/status/"})
    page = rita_client.get("/status/", HTTP_ACCEPT_LANGUAGE=browser).content.decode()
    assert f'<html lang="{language}">' in page
    assert f"<h1>{heading} {rita.report.reference}</h1>" in page
    assert state in page
    if language != "en":
        assert not english_leaks(language, page), f"the portal in {language} shows English"


@pytest.mark.parametrize(
    ("browser", "chosen", "heading"),
    [
        ("nl", "fr", "<h1>Politique de divulgation responsable</h1>"),
        ("fr", "en", "<h1>Responsible disclosure policy</h1>"),
        ("en", "nl", "<h1>Beleid voor het verantwoord melden van kwetsbaarheden</h1>"),
    ],
)
def test_it_switches_language_with_the_language_form(db, browser, chosen, heading):
    client = Client(HTTP_ACCEPT_LANGUAGE=browser)
    response = client.post("/language/", {"language": chosen, "next": "/"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    page = client.get("/").content.decode()
    assert f'<html lang="{chosen}">' in page
    assert heading in page
    assert f'value="{chosen}" lang="{chosen}" aria-current="true"' in page
