"""Labelling reports on intake, answering them as low value, and staff taking a label back."""

from __future__ import annotations

import logging

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from meldpunt.audit import log as audit
from meldpunt.audit.actors import actor
from meldpunt.begbounty.models import Hit, Rule
from meldpunt.begbounty.rules import Guard, RuleSpec, check_rule, recognise
from meldpunt.begbounty.store import answer_for
from meldpunt.reports import assessment
from meldpunt.reports.lifecycle import WorkflowError, lock
from meldpunt.reports.messages import (
    close_with_message,
    fill_placeholders,
    first_response_due,
    placeholder_values,
    send_first_response,
)
from meldpunt.reports.models import Message, Report, Resolution
from meldpunt.reports.services import record_event

log = logging.getLogger(__name__)

# What "Answer as low value" closes the report as: not a vulnerability for us.
RESOLUTION = Resolution.INVALID
# The message's template name in the report's history: which rule's answer was sent.
TEMPLATE_PREFIX = "low_value:"


def label(report: Report) -> Hit | None:
    """Check a new report against the enabled rules; keep why, set the label if it applies.

    Never raises: a broken rule or an unexpected error leaves the report unlabelled and is
    logged without report text (the report itself is what matters).
    """
    try:
        with transaction.atomic():  # a savepoint: a failure here leaves the intake intact
            found = recognise(report.content, report.language)
            if found is None:
                return None
            hit = Hit(report=report, rule=found.rule, created_at=timezone.now())
            hit.overridden = found.overridden
            hit.evidence = {"matched": found.matched, "guard": found.guard_matched}
            hit.save()
            if found.applies:
                Report.objects.filter(pk=report.pk).update(low_value_rule=found.rule)
                report.low_value_rule = found.rule
            return hit
    except Exception as error:
        log.error("low-value check failed for %s: %s", report.reference, type(error).__name__)
        return None


def answer_text(report: Report) -> str:
    """The labelled rule's answer in the finder's language, placeholders filled."""
    text = answer_for(report.low_value_rule, report.language)
    return fill_placeholders(text, placeholder_values(report)) if text else ""


def answer_low_value(report: Report, user: User, text: str) -> Message:
    """Send the rule's answer and close the report as not a vulnerability (invalid).

    Before the first response, the answer carries the assessment (not valid, in scope), so
    it is the first response and stops the clock, through the one first-response rule.
    """
    if not report.low_value_rule:
        raise WorkflowError(_("This report is not labelled likely low value."))
    if report.valid:
        raise WorkflowError(_("This report was assessed as valid: answer it in your own words."))
    template = TEMPLATE_PREFIX + report.low_value_rule
    if first_response_due(report):
        changes: dict[str, bool] = {"valid": False}
        if report.in_scope is None:
            changes["in_scope"] = True
        assessment.assess(report, user, **changes)
        return send_first_response(report, user, text, close=True, template=template)
    with transaction.atomic():
        locked = lock(report)
        message = close_with_message(locked, user, RESOLUTION, text, template)
    report.refresh_from_db()
    return message


def mark_not_low_value(report: Report, user: User) -> None:
    """Staff say the label was wrong: clear it, count it against the rule, keep an event."""
    with transaction.atomic():
        locked = lock(report)
        rule = locked.low_value_rule
        if not rule:
            return
        Hit.objects.filter(report=locked).update(
            not_low_value=True, marked_at=timezone.now(), marked_by=user
        )
        locked.low_value_rule = ""
        locked.save(update_fields=["low_value_rule"])
        record_event(locked, "low_value_cleared", actor(user), rule=rule)
    report.refresh_from_db()


def save_rule(rule: Rule, user: User) -> Rule:
    """Check and save an admin's rule (refused with RuleError if it cannot be used)."""
    check_rule(
        RuleSpec(
            slug=rule.slug,
            name=rule.name,
            phrases=tuple(rule.phrases),
            guards=tuple(
                Guard(str(g.get("reason", "")), tuple(g.get("phrases", []))) for g in rule.guards
            ),
        )
    )
    created = rule.pk is None
    rule.edited = True
    rule.updated_by = user
    rule.save()
    audit.append(
        "low_value_rule_added" if created else "low_value_rule_changed",
        actor(user).audit,
        rule=rule.slug,
        enabled=rule.enabled,
    )
    return rule
