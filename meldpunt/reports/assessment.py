"""The team's assessment of a report: validity, scope, CVSS 3.1 and 4.0, SSVC, CWE, fix date.

The severity is derived from the CVSS version the organisation made primary
(MELDPUNT_PRIMARY_CVSS), or from the other one when only that was scored; never typed in.
Every screen, the API and the advisories take it from `primary_score` here. Likewise the
SSVC decision is never typed in: the team answers the decision points, and `assess` stores
the decision CISA's table (meldpunt.reports.ssvc) gives, with the table's name and version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from cvss import CVSS3, CVSS4
from cvss.exceptions import CVSSError
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from meldpunt.accounts.models import REPORT_CHANGERS
from meldpunt.audit.actors import actor
from meldpunt.reports import cwe as cwe_catalogue
from meldpunt.reports import ssvc
from meldpunt.reports.labels import ASSESSMENT_LABELS, SEVERITY_LABELS
from meldpunt.reports.lifecycle import WorkflowError, lock
from meldpunt.reports.models import Report
from meldpunt.reports.services import record_event


class AssessmentError(WorkflowError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


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
    *ssvc.FIELDS.values(),
)
# Clear workflow facts worth seeing in the history; the others are named only.
EVENT_VALUES = (
    "valid",
    "in_scope",
    "severity",
    "cwe",
    "expected_fix_date",
    "assignee",
    *ssvc.FIELDS.values(),
    "ssvc_decision",
    "ssvc_tree",
)
# Assessment fields kept in a sealed blob (Report.assessment), by the column that holds them.
SEALED_COLUMNS = {"affected_asset": "assessment_blob"}


# The versions MELDPUNT_PRIMARY_CVSS may name; the first is the default.
CVSS_VERSIONS = ("4.0", "3.1")


@dataclass(frozen=True)
class Score:
    vector: str
    score: Decimal
    severity: str  # lower case: none, low, medium, high, critical

    @property
    def version(self) -> str:
        return self.vector[5:8]  # "CVSS:4.0/…" -> "4.0"; vectors are cleaned when scored

    @property
    def severity_label(self) -> str:
        return str(SEVERITY_LABELS.get(self.severity, self.severity))


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


def scores(cvss31_vector: str, cvss40_vector: str) -> list[Score]:
    """The scores of the vectors given, the configured primary version first.

    A vector that does not score (stored before a stricter check) counts as absent.
    """
    found: dict[str, Score] = {}
    for version, vector, scorer in (
        ("3.1", cvss31_vector, score_cvss31),
        ("4.0", cvss40_vector, score_cvss40),
    ):
        if vector and vector.strip():
            try:
                found[version] = scorer(vector)
            except AssessmentError:
                continue
    primary = settings.MELDPUNT_PRIMARY_CVSS
    # A bad setting is the system check's to report (meldpunt.E020); meanwhile, the default.
    primary = primary if primary in CVSS_VERSIONS else CVSS_VERSIONS[0]
    order = [primary, *(v for v in CVSS_VERSIONS if v != primary)]
    return [found[v] for v in order if v in found]


def primary_score(cvss31_vector: str, cvss40_vector: str) -> Score | None:
    """The score that decides the severity: the primary version's, else the other one's."""
    ranked = scores(cvss31_vector, cvss40_vector)
    return ranked[0] if ranked else None


def severity_of(cvss31_vector: str, cvss40_vector: str) -> str:
    """The severity shown everywhere for these vectors; "" when none is scored."""
    score = primary_score(cvss31_vector, cvss40_vector)
    return score.severity if score else ""


def clean_cwe(value: str) -> str:
    cwe = value.strip().upper()
    if cwe and not CWE_RE.fullmatch(cwe):
        raise AssessmentError("cwe", _("Write the weakness as CWE-<number>, e.g. CWE-79."))
    if cwe and not cwe_catalogue.name(cwe):
        raise AssessmentError(
            "cwe",
            _("%(cwe)s is not a weakness in the CWE catalogue (version %(version)s).")
            % {"cwe": cwe, "version": cwe_catalogue.version()},
        )
    return cwe


def clean_ssvc(field: str, value: str) -> str:
    """One decision point's answer (a value slug, or "" for not answered yet)."""
    point = ssvc.point(field)
    value = value.strip()
    if value and point.by_slug(value) is None:
        allowed = ", ".join(v.slug for v in point.values)
        raise AssessmentError(
            field,
            _("%(point)s is one of: %(values)s.")
            % {"point": ASSESSMENT_LABELS[field], "values": allowed},
        )
    return value


def assignable_staff() -> QuerySet[User]:
    """Who a report can be assigned to: active staff who may change reports."""
    return User.objects.filter(is_active=True, staff__role__in=REPORT_CHANGERS).order_by("username")


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
    for field in ssvc.FIELDS.values():
        if field in values:
            values[field] = clean_ssvc(field, values[field] or "")
    if "affected_asset" in values:
        values["affected_asset"] = values["affected_asset"].strip()[:200]
    assignee = values.get("assignee")
    if assignee is not None and not assignable_staff().filter(pk=assignee.pk).exists():
        raise AssessmentError("assignee", _("Assign the report to a triager or an admin."))
    return values


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
        locked = lock(report)
        fix_date = values.get("expected_fix_date")
        if fix_date and fix_date != locked.expected_fix_date and fix_date < timezone.localdate():
            raise AssessmentError(
                "expected_fix_date", _("The expected fix date cannot be in the past.")
            )
        changed = [name for name, value in values.items() if getattr(locked, name) != value]
        for name in changed:
            setattr(locked, name, values[name])
        severity = severity_of(locked.cvss31_vector, locked.cvss40_vector)
        if severity != locked.severity:
            locked.severity = severity
            changed.append("severity")
        decision = ssvc.decide({f: getattr(locked, f) for f in ssvc.FIELDS.values()})
        tree = ssvc.table().label if decision else ""
        for name, value in (("ssvc_decision", decision), ("ssvc_tree", tree)):
            if value != getattr(locked, name):
                setattr(locked, name, value)
                changed.append(name)
        if not changed:
            return []
        locked.assessed_at = timezone.now()
        columns = {SEALED_COLUMNS.get(name, name) for name in changed}
        locked.save(update_fields=[*sorted(columns), "assessed_at"])
        shown = {n: _event_value(getattr(locked, n)) for n in EVENT_VALUES if n in changed}
        fields = [n for n in changed if not n.endswith("_score")]
        record_event(locked, "assessed", actor(actor_user), fields=fields, **shown)
    report.refresh_from_db()
    return fields


def align_severities() -> int:
    """Store the severity the configured primary version gives; returns how many changed.

    The stored column is what the inbox and the API filter on. Only reports scored in both
    versions can change when MELDPUNT_PRIMARY_CVSS does, and that changes only with a
    restart: `meldpunt serve` calls this before it starts answering.
    """
    both = Report.objects.exclude(cvss31_vector="").exclude(cvss40_vector="")
    changed = 0
    for pk, severity, v31, v40 in both.values_list(
        "pk", "severity", "cvss31_vector", "cvss40_vector"
    ).iterator():
        if (wanted := severity_of(v31, v40)) != severity:
            # Not an assessment: the rule, not the team's judgement, changed; no event.
            changed += Report.objects.filter(pk=pk, severity=severity).update(severity=wanted)
    return changed
