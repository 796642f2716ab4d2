"""Is a report complete enough to assess? What the policy asks for and a report lacks.

The policy asks finders for "the IP address or URL of the affected system and a
description". A report lacks:

- ``"affected_system"`` when no usable host, URL or IP address is named: none of its
  "affected_systems" lines parses as the report form parses them
  (`meldpunt.lib.targets.parse_target`), and its subject, description, steps and impact
  name none either (`find_targets`, as mail intake reads a mail). "your website" is not a
  system; "https://www.example.org/login" and "192.0.2.10:8443" are.
- ``"description"`` when the description and the steps together, once the hosts and URLs
  they name and the words every report uses anyway ("vulnerability", "your website",
  "please", "bounty" ... in English, Dutch and French, `FILLER`) are taken out, hold fewer
  than `MIN_WORDS` different words of three letters or more. "Your site is vulnerable,
  please contact me" and a bare URL are not a description; "The search field reflects the
  q parameter unescaped, so a script runs in the page" is.

The check reads the content only: pure, no database, cheap enough to run on intake and in
the benchmark (bench/triage_aids.py). It suggests; the team decides.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from meldpunt.lib.targets import TargetError, find_targets, parse_target

AFFECTED_SYSTEM = "affected_system"
DESCRIPTION = "description"
KINDS = (AFFECTED_SYSTEM, DESCRIPTION)

# Distinct meaningful words the description and steps need together.
MIN_WORDS = 5
# Hosts looked for in the text: enough to know there is one.
_TEXT_TARGETS = 3

_WORD = re.compile(r"[^\W\d_]{3,}")

# Words that say nothing about what to reproduce: template phrases, greetings and the
# words any report uses (English, Dutch, French), plus the commonest function words.
_FILLER_WORDS = """
    the and for you your yours our are was were has have had been this that these those
    with from into about there their they them then than but not all any can could would
    should will just very also some more most such here what which who how when where
    why its it's hello dear sir madam team regards thanks thank best kind sincerely
    greetings hope well please contact reply respond response soon asap possible urgent
    urgently found find finding discovered discover noticed identified detected report
    reporting reported issue issues bug bugs vulnerability vulnerabilities vulnerable
    security secure insecure critical severe high serious risk risky problem problems
    flaw flaws website websites site sites web page pages domain application app system
    systems server servers company organisation organization hacker researcher ethical
    bounty bounties reward rewards paid pay payment money program programme responsible
    disclosure policy details detail information info share sharing fix fixed fixing
    attached attachment screenshot screenshots proof concept poc hallo goedendag
    goedemiddag dan over beste geachte heer mevrouw groeten vriendelijke groet met dank
    bedankt alvast graag snel mogelijk contact opnemen neem reactie antwoord gevonden
    vond ontdekt ontdekte gemeld melding meldingen meld probleem problemen lek lekken
    kwetsbaarheid kwetsbaarheden kwetsbaar beveiliging beveiligingslek ernstig kritiek
    kritisch risico website websites pagina domein applicatie systeem systemen
    organisatie bedrijf beloning betaling betalen betaald geld programma beleid details
    informatie gegevens delen oplossen opgelost bijlage bijgevoegd schermafbeelding uw
    jullie jouw onze ons wij het een van voor met naar die dat dit deze zijn heeft
    hebben heb niet ook maar wel als bij nog aan kan kunt kunnen zou zal worden wordt
    bonjour madame monsieur cordialement salutations merci remerciements vous votre vos
    nous notre nos une des les est sont pour par avec dans sur pas plus que qui quoi
    trouvé trouvée découvert découverte signalé signaler signalement problème problèmes
    faille failles vulnérabilité vulnérabilités vulnérable sécurité critique grave
    risque site sites page pages domaine application système systèmes entreprise société
    récompense récompenses prime paiement payer argent programme politique détails
    information informations partager corriger corrigé pièce jointe capture rapidement
    possible contacter contactez réponse répondre moi mij mijn mon mes
"""
FILLER = frozenset(_FILLER_WORDS.split())


def _text(content: dict[str, Any], *keys: str) -> str:
    return "\n".join(str(content.get(key) or "") for key in keys)


def names_a_system(content: dict[str, Any]) -> bool:
    """A usable host, URL or IP address in the form's lines or anywhere in the text."""
    for line in content.get("affected_systems") or []:
        try:
            parse_target(str(line))
        except TargetError:
            continue
        return True
    written = _text(content, "subject", "description", "steps", "impact")
    return bool(find_targets(written, _TEXT_TARGETS))


def meaningful_words(text: str) -> set[str]:
    """The words of a text that say something: no hosts or URLs, no filler, three letters up."""
    words = set()
    for word in text.split():
        if "://" in word or "@" in word:
            continue  # a URL or a mail address names where, not what
        if ("." in word or ":" in word) and find_targets(word, 1):
            continue  # a host name or an IP address: likewise
        for found in _WORD.findall(word.lower()):
            if found not in FILLER:
                words.add(found)
    return words


def describes(content: dict[str, Any]) -> bool:
    return len(meaningful_words(_text(content, "description", "steps"))) >= MIN_WORDS


def missing(content: dict[str, Any]) -> list[str]:
    """What the policy asks for and this report lacks, in the order of `KINDS`."""
    lacking = []
    if not names_a_system(content):
        lacking.append(AFFECTED_SYSTEM)
    if not describes(content):
        lacking.append(DESCRIPTION)
    return lacking


def questions(lacking: list[str], language: str) -> list[str]:
    """What to ask the finder for each thing lacking, in their language."""
    with translation.override(language):
        asked = {
            AFFECTED_SYSTEM: _(
                "Which system is affected? Please give its exact address: the URL "
                "(for example https://www.example.org/path) or the IP address."
            ),
            DESCRIPTION: _(
                "What is the vulnerability, and how can we reproduce it? Please describe "
                "the steps you took, the requests you sent and what happened."
            ),
        }
        return [str(asked[kind]) for kind in lacking if kind in asked]


def label(kind: str) -> str:
    """What is missing, for the team (in the language of the page)."""
    return str(
        {
            AFFECTED_SYSTEM: _("the affected system (a URL, host name or IP address)"),
            DESCRIPTION: _("a description to reproduce the vulnerability"),
        }.get(kind, kind)
    )
