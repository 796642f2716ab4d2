"""The policy's promises, built from settings so the page and the enforcement agree."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext_lazy as _

from meldpunt.policy.models import PolicyVersion

# Bump when the wording of templates/policy/policy.html changes in substance.
POLICY_TEXT_REVISION = 1

CATEGORIES: list[tuple[str, Any, bool]] = [
    # (code, label, out of scope under the policy)
    ("injection", _("Injection (SQL, command, template, …)"), False),
    ("xss", _("Cross-site scripting (XSS)"), False),
    ("access_control", _("Broken authentication or access control"), False),
    ("information_disclosure", _("Information disclosure or data leak"), False),
    ("misconfiguration", _("Security misconfiguration"), False),
    ("csrf", _("Cross-site request forgery (CSRF)"), False),
    ("remote_code_execution", _("Remote code execution"), False),
    ("cryptography", _("Weak or broken cryptography"), False),
    ("other", _("Other"), False),
    ("physical", _("Physical attack on our premises or equipment"), True),
    ("social_engineering", _("Social engineering (phishing, pretexting, …)"), True),
    ("denial_of_service", _("(Distributed) denial of service"), True),
    ("spam", _("Spam"), True),
    ("third_party", _("Vulnerability in a third-party application"), True),
]
OUT_OF_SCOPE = [code for code, _label, oos in CATEGORIES if oos]


def category_label(code: str) -> Any:
    return next((label for c, label, _o in CATEGORIES if c == code), code)


def commitments() -> dict[str, Any]:
    doc: dict[str, Any] = {
        "revision": POLICY_TEXT_REVISION,
        "organisation": settings.MELDPUNT_ORG_NAME,
        "contact": settings.MELDPUNT_SECURITY_CONTACT,
        "first_response_days": settings.MELDPUNT_FIRST_RESPONSE_DAYS,
        "progress_update_days": settings.MELDPUNT_PROGRESS_UPDATE_DAYS,
        "safe_harbour": True,
        "confidential": True,
        "pseudonymous": True,
        "credit_on_request": True,
        "publication_involvement": True,
        "out_of_scope": OUT_OF_SCOPE,
        "national_csirt": settings.MELDPUNT_NATIONAL_CSIRT,
    }
    # Only in business-day mode, so calendar-mode installations keep their policy version.
    if settings.MELDPUNT_DEADLINE_DAYS == "business":
        doc["deadline_days"] = "business"
        doc["holiday_country"] = settings.MELDPUNT_HOLIDAY_COUNTRY
        doc["holiday_subdivision"] = settings.MELDPUNT_HOLIDAY_SUBDIVISION
    return doc


def _digest(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


# Versions never change once recorded, so each process remembers the ones it has seen.
_versions: dict[str, PolicyVersion] = {}


def current_version() -> PolicyVersion:
    """The version for today's settings, recorded the first time it is shown."""
    doc = commitments()
    digest = _digest(doc)
    if digest not in _versions:
        _versions[digest] = _record(digest, doc)
    return _versions[digest]


def version_by_number(number: int) -> PolicyVersion | None:
    found = next((v for v in _versions.values() if v.number == number), None)
    return found or PolicyVersion.objects.filter(number=number).first()


def forget_versions() -> None:
    """For tests, whose database rows do not outlive a test."""
    _versions.clear()


def _record(digest: str, doc: dict[str, Any]) -> PolicyVersion:
    for _attempt in range(3):
        found = PolicyVersion.objects.filter(digest=digest).first()
        if found:
            return found
        try:
            with transaction.atomic():
                number = (PolicyVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1
                return PolicyVersion.objects.create(digest=digest, number=number, commitments=doc)
        except IntegrityError:
            continue  # another worker recorded it (or took the number) first
    return PolicyVersion.objects.get(digest=digest)
