"""The report life cycle (DESIGN.md, "Report life cycle") and the team's actions on a report.

Plain functions that the views and the tests call alike. Every action locks the report row
with `select_for_update` inside a transaction, checks its rule again under the lock (two
triagers may click at once) and appends an Event: history is never edited.

Credit for a duplicate: the report a duplicate points to (`duplicate_of`, followed to the
first report) holds the finding. Nobody's credit preference is changed; a report closed as a
duplicate simply earns none (`earns_credit`), and `credit_holder` names the report whose
finder is credited. Hall of fame and advisories credit only reports that earn credit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cvss import CVSS3, CVSS4
from cvss.exceptions import CVSSError
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from meldpunt.accounts.models import Role
from meldpunt.lib import outbox
from meldpunt.reports.models import Message, Report, Resolution, State
from meldpunt.reports.services import record_event
from meldpunt.triage.labels import label
from meldpunt.triage.models import MessageTemplate


class WorkflowError(Exception):
    """An action the life cycle does not allow now; the message is meant for the triager."""


class AssessmentError(WorkflowError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


NO_RESOLUTION = frozenset({""})
# Closing before a fix: everything except "resolved", which needs a fix first.
REJECTED = frozenset(Resolution.values) - {Resolution.RESOLVED}
RESOLVED = frozenset({Resolution.RESOLVED})

# The one table of allowed moves: from a state, to a state, with the resolutions it may carry.
# needs_info -> triaged is the first response sent once the finder has answered the question.
TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    State.RECEIVED: {
        State.NEEDS_INFO: NO_RESOLUTION,
        State.TRIAGED: NO_RESOLUTION,
        State.CLOSED: REJECTED,
    },
    State.NEEDS_INFO: {
        State.RECEIVED: NO_RESOLUTION,
        State.TRIAGED: NO_RESOLUTION,
        State.CLOSED: REJECTED,
    },
    State.TRIAGED: {State.FIX_IN_PROGRESS: NO_RESOLUTION, State.CLOSED: REJECTED},
    State.FIX_IN_PROGRESS: {State.FIXED: NO_RESOLUTION},
    State.FIXED: {State.PUBLISHED: NO_RESOLUTION, State.CLOSED: RESOLVED},
    State.PUBLISHED: {State.CLOSED: RESOLVED},
    State.CLOSED: {State.RECEIVED: NO_RESOLUTION},  # re-opening
}


def actor(user: User | None) -> str:
    """Who did it, for events: a staff member, or the system (a scheduled job)."""
    return f"staff:{user.get_username()}" if user is not None else "system"


def _lock(report: Report) -> Report:
    return Report.objects.select_for_update().get(pk=report.pk)


def check_transition(from_state: str, to_state: str, resolution: str = "") -> None:
    allowed = TRANSITIONS.get(from_state, {}).get(to_state)
    if allowed is None:
        raise WorkflowError(
            _("A report cannot go from “%(from)s” to “%(to)s”.")
            % {"from": label(from_state), "to": label(to_state)}
        )
    if resolution not in allowed:
        if allowed == NO_RESOLUTION:
            raise WorkflowError(_("Only a closed report has a resolution."))
        raise WorkflowError(
            _("A report in “%(from)s” is closed as one of: %(choices)s.")
            % {"from": label(from_state), "choices": ", ".join(sorted(map(label, allowed)))}
        )


def can_close_as(report: Report, resolution: str) -> bool:
    return resolution in TRANSITIONS.get(report.state, {}).get(State.CLOSED, ())


def allowed_moves(report: Report) -> list[tuple[str, str]]:
    """(to state, resolution) pairs open to a triager now; triaging goes by the first response."""
    return [
        (to, resolution)
        for to, resolutions in TRANSITIONS.get(report.state, {}).items()
        if to != State.TRIAGED or report.first_response_at is not None
        for resolution in sorted(resolutions)
        if resolution != Resolution.DUPLICATE  # needs the original: see mark_duplicate
    ]


def _root(original: Report) -> Report:
    seen = {original.pk}
    while original.duplicate_of_id is not None and original.duplicate_of_id not in seen:
        seen.add(original.duplicate_of_id)
        original = Report.objects.get(pk=original.duplicate_of_id)
    return original


RETENTION_STATES = (State.PUBLISHED, State.CLOSED)


def retention_start(report: Report, to_state: str) -> datetime | None:
    """The retention clock runs from publication or closing; reopening a report stops it."""
    if to_state not in RETENTION_STATES:
        return None
    return report.retention_from or timezone.now()


def move_locked(
    locked: Report,
    to_state: str,
    user: User | None,
    resolution: str = "",
    duplicate_of: Report | None = None,
) -> None:
    """Change the state of a report the caller has locked, and record it (user None: system)."""
    check_transition(locked.state, to_state, resolution)
    original = _root(duplicate_of) if duplicate_of is not None else None
    if (resolution == Resolution.DUPLICATE) != (original is not None):
        raise WorkflowError(_("A duplicate names the report it duplicates, and only a duplicate."))
    if original is not None and original.pk == locked.pk:
        raise WorkflowError(_("A report cannot be a duplicate of itself or of its duplicate."))
    before, before_resolution, before_original = (
        locked.state,
        locked.resolution,
        locked.duplicate_of,
    )
    locked.state, locked.resolution, locked.duplicate_of = to_state, resolution, original
    locked.retention_from = retention_start(locked, to_state)
    locked.save(update_fields=["state", "resolution", "duplicate_of", "retention_from"])
    reopened = before == State.CLOSED
    data: dict[str, Any] = {"from": before, "to": to_state, "resolution": resolution}
    if reopened:
        data["previous_resolution"] = before_resolution
    if original is not None:
        data["duplicate_of"] = original.reference
        record_event(original, "duplicate_linked", actor(user), duplicate=locked.reference)
    if reopened and before_original is not None:
        record_event(before_original, "duplicate_unlinked", actor(user), duplicate=locked.reference)
    record_event(locked, "reopened" if reopened else "state_changed", actor(user), **data)


def transition(
    report: Report,
    to_state: str,
    actor_user: User,
    resolution: str | None = None,
    duplicate_of: Report | None = None,
) -> Report:
    """Move a report along the life cycle; WorkflowError says why a move is not allowed."""
    with transaction.atomic():
        locked = _lock(report)
        if to_state == State.TRIAGED and locked.first_response_at is None:
            raise WorkflowError(_("A report is triaged by sending the first response."))
        move_locked(locked, to_state, actor_user, resolution or "", duplicate_of)
    report.refresh_from_db()
    return report


def mark_duplicate(report: Report, original: Report, actor_user: User) -> Report:
    return transition(report, State.CLOSED, actor_user, Resolution.DUPLICATE, original)


def credit_holder(report: Report) -> Report:
    """The report whose finder is credited for this finding: the first one reported."""
    return _root(report)


def earns_credit(report: Report) -> bool:
    return report.resolution != Resolution.DUPLICATE


# --- Assessment -----------------------------------------------------------------

CWE_RE = re.compile(r"CWE-[1-9]\d{0,5}")
ASSESSMENT_FIELDS = (
    "valid",
    "in_scope",
    "cvss31_vector",
    "cvss40_vector",
    "cwe",
    "affected_asset",
    "assignee",
    "expected_fix_date",
)
# Clear workflow facts worth seeing in the history; the others are named only.
EVENT_VALUES = ("valid", "in_scope", "severity", "cwe", "expected_fix_date", "assignee")


@dataclass(frozen=True)
class Score:
    vector: str
    score: Decimal
    severity: str


def score_cvss31(vector: str) -> Score:
    vector = vector.strip()
    if not vector.startswith("CVSS:3.1/"):
        raise AssessmentError(
            "cvss31_vector", _("A CVSS 3.1 vector starts with “CVSS:3.1/”, e.g. CVSS:3.1/AV:N/…")
        )
    try:
        cvss = CVSS3(vector)
    except CVSSError as exc:
        raise AssessmentError(
            "cvss31_vector", _("This CVSS 3.1 vector is not valid: %(reason)s") % {"reason": exc}
        ) from None
    return Score(cvss.clean_vector(), Decimal(str(cvss.scores()[0])), cvss.severities()[0].lower())


def score_cvss40(vector: str) -> Score:
    vector = vector.strip()
    if not vector.startswith("CVSS:4.0/"):
        raise AssessmentError(
            "cvss40_vector", _("A CVSS 4.0 vector starts with “CVSS:4.0/”, e.g. CVSS:4.0/AV:N/…")
        )
    try:
        cvss = CVSS4(vector)
    except CVSSError as exc:
        raise AssessmentError(
            "cvss40_vector", _("This CVSS 4.0 vector is not valid: %(reason)s") % {"reason": exc}
        ) from None
    return Score(cvss.clean_vector(), Decimal(str(cvss.base_score)), str(cvss.severity).lower())


def clean_cwe(value: str) -> str:
    cwe = value.strip().upper()
    if cwe and not CWE_RE.fullmatch(cwe):
        raise AssessmentError("cwe", _("Write the weakness as CWE-<number>, e.g. CWE-79."))
    return cwe


def assignable_staff() -> QuerySet[User]:
    return User.objects.filter(is_active=True, staff__role__in=[Role.ADMIN, Role.TRIAGER]).order_by(
        "username"
    )


def _assessment_values(changes: dict[str, Any]) -> dict[str, Any]:
    """The Report fields an assessment sets, vectors scored and the severity derived."""
    unknown = set(changes) - set(ASSESSMENT_FIELDS)
    if unknown:
        raise TypeError(f"not assessment fields: {sorted(unknown)}")
    values = dict(changes)
    for name, scorer in (("cvss31", score_cvss31), ("cvss40", score_cvss40)):
        if (raw := values.get(f"{name}_vector")) is not None:
            score = scorer(raw) if raw.strip() else None
            values[f"{name}_vector"] = score.vector if score else ""
            values[f"{name}_score"] = score.score if score else None
    if "cwe" in values:
        values["cwe"] = clean_cwe(values["cwe"])
    if "affected_asset" in values:
        values["affected_asset"] = values["affected_asset"].strip()[:200]
    assignee = values.get("assignee")
    if assignee is not None and not assignable_staff().filter(pk=assignee.pk).exists():
        raise AssessmentError("assignee", _("Assign the report to a triager or an admin."))
    return values


def _severity(report: Report) -> str:
    """Severity from the newest CVSS version scored: 4.0 if present, else 3.1."""
    if report.cvss40_vector:
        return score_cvss40(report.cvss40_vector).severity
    if report.cvss31_vector:
        return score_cvss31(report.cvss31_vector).severity
    return ""


def _event_value(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, User):
        return value.get_username()
    return value


def assess(report: Report, actor_user: User, **changes: Any) -> list[str]:
    """Record (part of) the team's assessment; returns the names of the fields that changed."""
    values = _assessment_values(changes)
    with transaction.atomic():
        locked = _lock(report)
        fix_date = values.get("expected_fix_date")
        if fix_date and fix_date != locked.expected_fix_date and fix_date < timezone.localdate():
            raise AssessmentError(
                "expected_fix_date", _("The expected fix date cannot be in the past.")
            )
        changed = [name for name, value in values.items() if getattr(locked, name) != value]
        for name in changed:
            setattr(locked, name, values[name])
        severity = _severity(locked)
        if severity != locked.severity:
            locked.severity = severity
            changed.append("severity")
        if not changed:
            return []
        locked.assessed_at = timezone.now()
        locked.save(update_fields=[*changed, "assessed_at"])
        shown = {n: _event_value(getattr(locked, n)) for n in EVENT_VALUES if n in changed}
        fields = [n for n in changed if not n.endswith("_score")]
        record_event(locked, "assessed", actor(actor_user), fields=fields, **shown)
    report.refresh_from_db()
    return fields


# --- Messages to the finder -------------------------------------------------------

PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")
PLACEHOLDERS = (
    "reference",
    "organisation",
    "expected_fix_date",
    "status_url",
    "security_contact",
    "cvss",
)


def placeholder_values(report: Report) -> dict[str, str]:
    """What the placeholders stand for in this report's language; unknown ones stay empty."""
    with translation.override(report.language):
        fix_date = (
            formats.date_format(report.expected_fix_date, "DATE_FORMAT")
            if report.expected_fix_date
            else ""
        )
    cvss = "; ".join(
        f"{vector} ({score})"
        for vector, score in (
            (report.cvss40_vector, report.cvss40_score),
            (report.cvss31_vector, report.cvss31_score),
        )
        if vector
    )
    return {
        "reference": report.reference,
        "organisation": settings.MELDPUNT_ORG_NAME,
        "expected_fix_date": fix_date,
        "status_url": outbox.status_url(),
        "security_contact": settings.MELDPUNT_SECURITY_CONTACT,
        "cvss": cvss,
    }


def fill_placeholders(text: str, values: dict[str, str]) -> str:
    """Known placeholders with a value are filled; the rest stay, for the triager to see."""
    # A regular expression, not str.format: template text must not reach attributes.
    return PLACEHOLDER_RE.sub(lambda m: values.get(m[1]) or m[0], text)


def unfilled_placeholders(text: str) -> list[str]:
    return sorted({m for m in PLACEHOLDER_RE.findall(text) if m in PLACEHOLDERS})


def template_for(kind: str, language: str) -> MessageTemplate | None:
    """The template in this language, else in the site's default language, else in English."""
    found = {t.language: t for t in MessageTemplate.objects.filter(kind=kind)}
    for candidate in (language, settings.LANGUAGE_CODE, "en"):
        if candidate in found:
            return found[candidate]
    return None


def prefilled_text(report: Report, kind: str) -> str:
    """The template of this kind in the report's language, placeholders filled."""
    template = template_for(kind, report.language)
    return fill_placeholders(template.body, placeholder_values(report)) if template else ""


def _team_message(
    locked: Report, user: User, text: str, template: str, first_response: bool = False
) -> Message:
    message = Message(
        report=locked,
        created_at=timezone.now(),
        author=Message.Author.STAFF,
        staff_author=user,
        is_first_response=first_response,
    )
    message.body = {"text": text}
    message.save()
    record_event(
        locked,
        "message_sent",
        actor(user),
        message=str(message.uid),
        template=template,
        first_response=first_response,
    )
    if template == "fixed":
        # The policy asks finders to delete what they obtained once the fix is in; the
        # "fixed" template says so, and this records that the reminder went out.
        record_event(locked, "deletion_reminder_sent", actor(user), message=str(message.uid))
    # In the same transaction: the mail is queued exactly when the message exists, and the
    # outbox sends it after the commit, with retries.
    outbox.queue_news(locked, message)
    return message


def check_text(text: str) -> None:
    if not text.strip():
        raise WorkflowError(_("Write the message first."))
    if missing := unfilled_placeholders(text):
        raise WorkflowError(
            _("Fill in or remove %(placeholders)s before sending.")
            % {"placeholders": ", ".join(f"{{{name}}}" for name in missing)}
        )


def send_message(report: Report, actor_user: User, text: str, template: str = "") -> Message:
    """A message from the team to the finder, shown on /status/ and mailed by the outbox."""
    check_text(text)
    with transaction.atomic():
        locked = _lock(report)
        return _team_message(locked, actor_user, text, template)


def first_response_target(report: Report, close: bool) -> tuple[str, str]:
    """Where the first response takes the report: triaged, or closed as invalid/out of scope."""
    if not close:
        return State.TRIAGED, ""
    return State.CLOSED, (Resolution.INVALID if report.valid is False else Resolution.OUT_OF_SCOPE)


def first_response_due(report: Report) -> bool:
    return report.first_response_at is None and report.state in (State.RECEIVED, State.NEEDS_INFO)


def check_first_response(report: Report, close: bool = False) -> None:
    """The policy's promise: the first response carries an assessment and an expected fix date."""
    if report.first_response_at is not None:
        raise WorkflowError(_("The first response to this report has been sent already."))
    if report.valid is None or report.in_scope is None:
        raise WorkflowError(_("Assess the report first: is it valid, is it in scope?"))
    if close and report.valid and report.in_scope:
        raise WorkflowError(_("Only an invalid or out-of-scope report is closed right away."))
    if not close and report.valid and report.expected_fix_date is None:
        raise WorkflowError(
            _("Set the expected fix date first: the first response to a valid report gives it.")
        )
    check_transition(report.state, *first_response_target(report, close))


def send_first_response(
    report: Report, actor_user: User, text: str, close: bool = False, template: str = ""
) -> Message:
    """Send the first response: it stops the clock and triages (or closes) the report."""
    check_text(text)
    with transaction.atomic():
        locked = _lock(report)
        # Checked again under the lock: of two triagers clicking at once, one sends it.
        check_first_response(locked, close)
        message = _team_message(locked, actor_user, text, template, first_response=True)
        locked.first_response_at = message.created_at
        locked.first_response_kept = message.created_at <= locked.response_due_at
        locked.save(update_fields=["first_response_at", "first_response_kept"])
        to_state, resolution = first_response_target(locked, close)
        move_locked(locked, to_state, actor_user, resolution)
    report.refresh_from_db()
    return message


# --- Duplicates --------------------------------------------------------------------

# Each candidate is decrypted to compare descriptions: bound the work per page view.
MAX_CANDIDATES = 50
WORD_RE = re.compile(r"\w+")


@dataclass(frozen=True)
class Suggestion:
    report: Report
    similarity: float  # 0 (no word in common) to 1 (the same words)

    @property
    def percent(self) -> int:
        return round(self.similarity * 100)


def _words(report: Report) -> set[str]:
    return set(WORD_RE.findall(str(report.content.get("description", "")).lower()))


def suggest_duplicates(report: Report, limit: int = 5) -> list[Suggestion]:
    """Other reports about a same host, most similar description first, newest first on ties."""
    candidates = (
        Report.objects.filter(hosts__digest__in=report.hosts.values("digest"))
        .exclude(pk=report.pk)
        .distinct()
        .order_by("-created_at", "-pk")[:MAX_CANDIDATES]
    )
    mine = _words(report)
    suggestions = []
    for candidate in candidates:
        theirs = _words(candidate)
        union = mine | theirs
        suggestions.append(Suggestion(candidate, len(mine & theirs) / len(union) if union else 0))
    # sort() is stable: among equal scores the newest, fetched first, stays first.
    suggestions.sort(key=lambda s: s.similarity, reverse=True)
    return suggestions[:limit]
