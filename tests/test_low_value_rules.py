"""Recognising template ("beg bounty") reports: which rule, which words, and when not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from meldpunt.begbounty.models import Hit, Rule
from meldpunt.begbounty.rules import (
    Guard,
    RuleError,
    RuleSpec,
    check_rule,
    recognise,
    shipped_rules,
)
from meldpunt.begbounty.store import sync_shipped
from meldpunt.reports.models import Report
from tests.conftest import submit

DATASET = Path(__file__).parent / "data" / "triage_aids" / "lowvalue.jsonl"


def content(description: str, **more: Any) -> dict[str, Any]:
    return {"affected_systems": ["https://www.example.org/"], "description": description, **more}


@pytest.mark.parametrize(
    ("language", "text", "rule", "word"),
    [
        (
            "en",
            "Your domain has no SPF record, email spoofing is possible.",
            "email-authentication",
            "spf record",
        ),
        (
            "nl",
            "Er is geen DMARC record ingesteld voor uw domein.",
            "email-authentication",
            "dmarc",
        ),
        (
            "fr",
            "Votre domaine n\u2019a pas d\u2019enregistrement SPF.",
            "email-authentication",
            "enregistrement spf",
        ),
        (
            "en",
            "Missing security headers: X-Content-Type-Options.",
            "security-headers",
            "security headers",
        ),
        (
            "fr",
            "Il manque des en-têtes de sécurité sur votre site.",
            "security-headers",
            "en-têtes de sécurité",
        ),
        ("nl", "Uw website is kwetsbaar voor clickjacking.", "clickjacking", "clickjacking"),
        ("en", "The Server header shows Apache/2.4.41 (Ubuntu).", "version-banner", "apache/2"),
        ("en", "Self-XSS in the search box.", "self-xss", "self-xss"),
        ("fr", "CSRF sur la déconnexion via un lien.", "logout-csrf", "csrf sur la déconnexion"),
        ("nl", "Geen rate limiting op het contactformulier.", "rate-limit", "geen rate limiting"),
        ("en", "User enumeration on the login page.", "enumeration", "user enumeration"),
        ("nl", "Het wachtwoordveld staat autocomplete aan.", "autocomplete", "autocomplete"),
        ("fr", "SSL Labs donne la note B, TLS 1.0 est actif.", "tls-grade", "ssl labs"),
        ("en", "Wappalyzer shows your tech stack.", "tech-stack", "wappalyzer"),
        (
            "nl",
            "Hebben jullie een bug bounty programma? Wat is de beloning?",
            "payment-demand",
            "wat is de beloning",
        ),
    ],
)
def test_it_names_the_rule_and_the_words_in_each_language(db, language, text, rule, word):
    found = recognise(content(text), language)
    assert found is not None and found.applies
    assert found.rule == rule
    assert word in found.matched


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "Clickjacking on /transfer/confirm: the transfer is confirmed in one click.",
            "state-changing",
        ),
        ("Uw SPF-record bevat +all: elke server mag mailen als u.", "+all"),
        ("A self-XSS that is stored and shown to other users.", "other people"),
        ("Server: Apache/2.4.49, vulnerable to CVE-2021-41773; uid=33(www-data).", "real impact"),
    ],
)
def test_a_guard_makes_the_report_real_and_says_why(db, text, reason):
    found = recognise(content(text), "en")
    assert found is not None and not found.applies
    assert reason in found.overridden
    assert found.guard_matched


def test_real_reports_are_not_matched(db):
    text = "Stored XSS in the comment field; the payload runs in the admin's session."
    assert recognise(content(text, steps="Post <img src=x onerror=alert(1)>"), "en") is None


def test_it_refuses_a_broken_rule():
    for phrases in (("a",), ("sp*f",), ("*",), ()):
        with pytest.raises(RuleError):
            check_rule(RuleSpec("x", "x", phrases))
    with pytest.raises(RuleError, match="reason"):
        check_rule(RuleSpec("x", "x", ("spf",), (Guard("", ("+all",)),)))
    with pytest.raises(RuleError, match="short name"):
        check_rule(RuleSpec("Not A Slug", "x", ("spf",)))


def test_phrases_are_literal_and_cannot_backtrack():
    # Regex syntax in a phrase is text, and a hostile report text stays fast.
    spec = RuleSpec("x", "x", ("(a+)+$", "spf*"))
    check_rule(spec)
    assert recognise(content("a" * 20_000 + "!"), "en", [spec]) is None
    found = recognise(content("see (a+)+$ here, and spfs"), "en", [spec])
    assert found is not None and found.matched == ["(a+)+$", "spfs"]


def test_the_shipped_rules_are_valid_and_answer_in_every_language():
    for spec in shipped_rules():
        check_rule(spec)
        for language in ("en", "nl", "fr"):
            assert "{reference}" in spec.answers[language], (spec.slug, language)


def test_the_shipped_rules_are_in_the_database_and_an_upgrade_keeps_edits(db):
    slugs = {s.slug for s in shipped_rules()}
    assert set(Rule.objects.filter(shipped=True).values_list("slug", flat=True)) == slugs
    Rule.objects.filter(slug="autocomplete").update(phrases=["mine"], edited=True)
    Rule.objects.filter(slug="dkim-only").delete()
    Rule.objects.filter(slug="tls-grade").update(phrases=["old"])  # not edited: refreshed
    Rule.objects.filter(slug="tech-stack").delete()  # a rule the upgrade brings
    assert sync_shipped() == 1
    assert Rule.objects.get(slug="autocomplete").phrases == ["mine"]
    assert Rule.objects.get(slug="tls-grade").phrases != ["old"]
    assert Rule.objects.filter(slug="tech-stack").exists()


def test_intake_labels_a_template_report_and_seals_the_words(db):
    report = submit(
        Client(),
        category="other",
        description="Missing DMARC record on your domain. Email spoofing possible. Bounty?",
        steps="",
        impact="",
    ).report
    assert report.low_value_rule == "email-authentication"
    hit = Hit.objects.get(report=report)
    assert "dmarc" in hit.evidence["matched"]
    assert hit.evidence_blob is not None
    assert b"dmarc" not in bytes(hit.evidence_blob)


def test_intake_keeps_the_reason_when_a_guard_applies(db):
    report = submit(
        Client(), description="Your SPF record is v=spf1 +all; spoofed payment requests pass."
    ).report
    assert report.low_value_rule == ""
    assert "+all" in Hit.objects.get(report=report).overridden


def test_a_broken_rule_in_the_database_is_skipped(db):
    Rule.objects.create(slug="broken", name="Broken", phrases=["x"], position=0)  # no checks
    report = submit(Client(), description="No SPF record on your domain.").report
    assert report.low_value_rule == "email-authentication"


def test_an_error_in_the_check_never_blocks_intake(db, monkeypatch, caplog):
    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("No SPF record on your domain.")

    monkeypatch.setattr("meldpunt.begbounty.services.recognise", fail)
    report = submit(Client(), description="No SPF record on your domain.").report
    assert Report.objects.get(pk=report.pk).low_value_rule == ""
    assert "RuntimeError" in caplog.text
    assert "SPF" not in caplog.text


def test_dataset_precision_and_recall():
    rows = [json.loads(line) for line in DATASET.read_text().splitlines() if line.strip()]
    labelled = [r for r in rows if r["expect"]["low_value"] is not None]
    assert len(labelled) >= 60
    assert {r["language"] for r in labelled} == {"en", "nl", "fr"}
    rules = shipped_rules()
    tp = fp = fn = 0
    for row in labelled:
        found = recognise(row["content"], row["language"], rules)
        got = bool(found and found.applies)
        tp += got and row["expect"]["low_value"]
        fp += got and not row["expect"]["low_value"]
        fn += not got and row["expect"]["low_value"]
    assert tp / (tp + fp) >= 0.95
    assert tp / (tp + fn) >= 0.8
