"""The completeness check: what a report lacks, and the question the team sends for it."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from meldpunt.reports.completeness import AFFECTED_SYSTEM, DESCRIPTION, missing, questions
from meldpunt.reports.models import Event, Message, Report, State
from meldpunt.triage.models import MessageTemplate, TemplateKind
from tests.conftest import sign_in, submit

DESCRIBED = {
    "description": "The search field reflects the q parameter without escaping it.",
    "steps": "Open /search?q=<script>alert(1)</script> and the script runs.",
}

RULES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "form line and description",
        {"affected_systems": ["https://www.example.org/search"], **DESCRIBED},
        [],
    ),
    ("an IP address with a port", {"affected_systems": ["192.0.2.10:8443"], **DESCRIBED}, []),
    ("an IPv6 address in brackets", {"affected_systems": ["[2001:db8::1]:443"], **DESCRIBED}, []),
    (
        "a host in the description",
        {**DESCRIBED, "description": DESCRIBED["description"] + " On www.example.org."},
        [],
    ),
    (
        "a URL in the steps",
        {
            **DESCRIBED,
            "steps": "Open https://www.example.org/search?q=x then view the page source.",
        },
        [],
    ),
    ("a host in a mail's subject", {"subject": "XSS on shop.example.org", **DESCRIBED}, []),
    ("no system named", DESCRIBED, [AFFECTED_SYSTEM]),
    (
        "an unusable form line",
        {"affected_systems": ["your website"], **DESCRIBED},
        [AFFECTED_SYSTEM],
    ),
    (
        "a file name is not a host",
        {**DESCRIBED, "steps": "Open index.php and config.json, the script runs."},
        [AFFECTED_SYSTEM],
    ),
    (
        "a mail address is not a system",
        {**DESCRIBED, "impact": "Write to security@example.org."},
        [AFFECTED_SYSTEM],
    ),
    ("nothing at all", {}, [AFFECTED_SYSTEM, DESCRIPTION]),
    ("only a URL", {"description": "https://www.example.org/"}, [DESCRIPTION]),
    (
        "vague, English",
        {
            "affected_systems": ["www.example.org"],
            "description": "Your website is vulnerable, please contact me for details.",
        },
        [DESCRIPTION],
    ),
    (
        "vague, Dutch",
        {"description": "Uw website is kwetsbaar, neem contact met mij op voor een beloning."},
        [AFFECTED_SYSTEM, DESCRIPTION],
    ),
    (
        "vague, French",
        {"description": "Votre site est vulnérable, contactez-moi pour une récompense."},
        [AFFECTED_SYSTEM, DESCRIPTION],
    ),
    (
        "hosts do not count as words",
        {"description": "www.example.org shop.example.org 192.0.2.1 https://a.example.org/x"},
        [DESCRIPTION],
    ),
    (
        "short but reproducible",
        {
            "affected_systems": ["https://portal.example.org/login"],
            "description": "Reflected XSS in the q parameter.",
            "steps": "Open /search?q=<script>",
        },
        [],
    ),
    (
        "a described template report is complete",
        {
            "affected_systems": ["example.org"],
            "description": "Missing SPF record: an attacker can spoof emails from the domain.",
        },
        [],
    ),
    (
        "impact alone is no description",
        {
            "affected_systems": ["example.org"],
            "impact": "An attacker steals every session cookie of every customer account.",
        },
        [DESCRIPTION],
    ),
    (
        "None values",
        {"affected_systems": None, "description": None, "steps": None},
        [AFFECTED_SYSTEM, DESCRIPTION],
    ),
]


@pytest.mark.parametrize(("content", "expected"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_missing(content: dict[str, Any], expected: list[str]) -> None:
    assert missing(content) == expected


# --- the suggestion on the report page -----------------------------------------------

QUESTION = {
    "en": ("Which system is affected?", "What is the vulnerability, and how can we reproduce it?"),
    "nl": (
        "Welk systeem is getroffen?",
        "Wat is de kwetsbaarheid, en hoe kunnen wij ze nabootsen?",
    ),
    "fr": (
        "Quel système est concerné\u00a0?",
        "Quelle est la vulnérabilité, et comment pouvons-nous la reproduire\u00a0?",
    ),
}


def vague_report(language: str, **fields: Any) -> Report:
    """A report as a mail brings it: the web form refuses one without an affected system."""
    report = submit(Client()).report
    report.content = {
        **report.content,
        "affected_systems": [],
        "description": "Your website is vulnerable, please contact me.",
        "steps": "",
        "impact": "",
        **fields,
    }
    report.language = language
    report.save(update_fields=["content_blob", "language"])
    return report


def page(client: Client, report: Report) -> str:
    response = client.get(f"/triage/reports/{report.uid}/")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


@pytest.mark.parametrize("language", ["en", "nl", "fr"])
def test_it_suggests_asking_for_what_is_missing_in_the_finders_language(
    alice: User, language: str
) -> None:
    report = vague_report(language)
    text = page(sign_in(Client(), alice), report)
    assert 'id="needs-info"' in text
    # The team's page names what is missing (in the team's language: English here).
    assert "the affected system (a URL, host name or IP address)" in text
    assert "a description to reproduce the vulnerability" in text
    # The answer asks for both, in the finder's language, from the needs_info template.
    system_q, description_q = QUESTION[language]
    assert f"- {system_q}" in text
    assert f"- {description_q}" in text
    assert report.reference in text.split('id="needs-info"')[1]


def test_it_asks_only_for_what_is_missing(alice: User) -> None:
    report = vague_report(
        "nl",
        affected_systems=["https://www.example.org/"],
    )
    text = page(sign_in(Client(), alice), report)
    assert QUESTION["nl"][1] in text
    assert QUESTION["nl"][0] not in text
    assert "the affected system (a URL" not in text


def test_it_suggests_nothing_for_a_complete_report(alice: User, rita: Any) -> None:
    text = page(sign_in(Client(), alice), rita.report)
    assert 'id="needs-info"' not in text


def test_it_puts_the_questions_after_the_first_paragraph_of_a_rewritten_template(
    alice: User,
) -> None:
    MessageTemplate.objects.filter(kind=TemplateKind.NEEDS_INFO, language="en").update(
        body="Hello,\n\nWe need more from you about {reference}.\n\nThe team"
    )
    report = vague_report("en")
    text = page(sign_in(Client(), alice), report)
    asked = "\n".join(f"- {q}" for q in questions([AFFECTED_SYSTEM, DESCRIPTION], "en"))
    assert f"Hello,\n\n{asked}\n\nWe need more from you about {report.reference}." in text


def test_sending_the_question_moves_the_report_to_needs_info(alice: User) -> None:
    report = vague_report("fr")
    client = sign_in(Client(), alice)
    body = f"Bonjour,\n\n- {QUESTION['fr'][0]}\n\nMerci"
    response = client.post(f"/triage/reports/{report.uid}/ask/", {"text": body})
    assert response.status_code == 303
    report.refresh_from_db()
    assert report.state == State.NEEDS_INFO
    assert report.first_response_at is None  # a question is not the first response
    message = Message.objects.get(report=report)
    assert message.body["text"] == body
    sent = Event.objects.get(report=report, kind="message_sent")
    assert sent.data["template"] == "needs_info"
    assert Event.objects.filter(report=report, kind="state_changed").exists()
    # Once asked, the page still suggests it (the finder has not answered) but sends no move.
    assert 'id="needs-info"' in page(client, report)


def test_it_refuses_an_unfilled_placeholder_and_moves_nothing(alice: User) -> None:
    report = vague_report("en")
    client = sign_in(Client(), alice)
    response = client.post(
        f"/triage/reports/{report.uid}/ask/", {"text": "Fix by {expected_fix_date}"}
    )
    assert response.status_code == 400
    report.refresh_from_db()
    assert report.state == State.RECEIVED
    assert not Message.objects.filter(report=report).exists()


def test_a_viewer_cannot_ask(bob: User) -> None:
    report = vague_report("en")
    response = sign_in(Client(), bob).post(f"/triage/reports/{report.uid}/ask/", {"text": "Hi"})
    assert response.status_code == 403
    report.refresh_from_db()
    assert report.state == State.RECEIVED
