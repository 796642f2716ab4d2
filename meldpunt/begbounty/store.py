"""The rules in the database: loading the shipped set, reading the enabled ones, saving."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Q

from meldpunt.begbounty.models import Hit, Rule
from meldpunt.begbounty.rules import RuleSpec, check_rule, shipped_data, spec_from_dict

_cache: dict[str, Any] = {"key": None, "rules": []}


def sync_shipped(rule_model: Any = Rule) -> int:
    """Add the shipped rules not in the database yet, and refresh the ones no admin edited.

    Runs after every migrate, so an upgrade brings new rules without touching an admin's edits
    (an admin's own rules and disabled rules stay as they are). Returns how many were added.
    """
    added = 0
    for position, data in enumerate(shipped_data()):
        values = {
            "name": data["name"],
            "phrases": data["phrases"],
            "guards": data.get("guards", []),
            "answers": data.get("answers", {}),
            "position": position * 10,
            "shipped": True,
        }
        rule = rule_model.objects.filter(slug=data["slug"]).first()
        if rule is None:
            rule_model.objects.create(slug=data["slug"], **values)
            added += 1
        elif not rule.edited:
            rule_model.objects.filter(pk=rule.pk).update(**values)
    return added


def spec_of(rule: Rule) -> RuleSpec:
    return spec_from_dict(
        {
            "slug": rule.slug,
            "name": rule.name,
            "phrases": rule.phrases,
            "guards": rule.guards,
            "answers": rule.answers,
        }
    )


def enabled_rules() -> list[RuleSpec]:
    """The enabled rules, in order; re-read only when a rule changed (one small query)."""
    key = Rule.objects.aggregate(n=Count("pk"), at=Max("updated_at"))
    if _cache["key"] != key:
        specs = []
        for rule in Rule.objects.filter(enabled=True):
            spec = spec_of(rule)
            try:
                check_rule(spec)
            except ValueError:
                continue  # refused when saved; a rule broken some other way is skipped
            specs.append(spec)
        _cache.update(key=key, rules=specs)
    rules: list[RuleSpec] = _cache["rules"]
    return rules


def rule_names() -> dict[str, str]:
    return dict(Rule.objects.values_list("slug", "name"))


def answer_for(slug: str, language: str) -> str:
    """The rule's answer in this language, else English; "" when there is none."""
    rule = Rule.objects.filter(slug=slug).first()
    if rule is None:
        return ""
    answers: dict[str, str] = rule.answers or {}
    return answers.get(language) or answers.get("en") or ""


def precision() -> dict[str, dict[str, Any]]:
    """Per rule: reports labelled, labels staff took back, and the share that held."""
    rows = (
        Hit.objects.filter(overridden="")
        .values("rule")
        .annotate(hits=Count("pk"), wrong=Count("pk", filter=Q(not_low_value=True)))
    )
    stats: dict[str, dict[str, Any]] = {}
    for row in rows:
        hits, wrong = row["hits"], row["wrong"]
        stats[row["rule"]] = {
            "hits": hits,
            "wrong": wrong,
            "precision": (hits - wrong) / hits if hits else None,
        }
    return stats
