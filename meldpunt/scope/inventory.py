"""Keeping the inventory: checked assets in, the reports' verdicts kept up to date.

The rules of matching live in `meldpunt.scope.matching`; this module reads and writes the
database. A report's verdict is a workflow fact in clear (`Report.scope_verdict`); which of
its systems matched which rule names hosts, so it is computed on display from the decrypted
content and never stored, and the "scope_checked" event holds the verdicts only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.db.models import QuerySet

from meldpunt.audit.actors import SYSTEM, Actor
from meldpunt.reports.models import Report, open_states
from meldpunt.reports.services import record_event
from meldpunt.scope import matching
from meldpunt.scope.matching import AssetError, Rule
from meldpunt.scope.models import Asset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AssetSpec:
    kind: str
    value: str
    status: str
    subdomains: bool = False
    note: str = ""
    contact: str = ""


def checked(spec: AssetSpec) -> AssetSpec:
    """The spec with its value normalised; AssetError saying what is wrong otherwise."""
    if spec.status not in matching.STATUSES:
        raise AssetError(f"unknown status {spec.status!r}: one of {', '.join(matching.STATUSES)}")
    value, wildcard = matching.normalise(spec.kind, spec.value)
    subdomains = spec.subdomains or wildcard
    if subdomains and spec.kind != "domain":
        raise AssetError("only a domain can cover its subdomains")
    contact = spec.contact.strip()
    if contact:
        check_contact(contact)
    if len(spec.note) > 500:
        raise AssetError("a note has at most 500 characters")
    return AssetSpec(spec.kind, value, spec.status, subdomains, spec.note.strip(), contact)


def check_contact(contact: str) -> None:
    """A mail address or an http(s) URL (a mailto: link is a mail address)."""
    address = contact.removeprefix("mailto:")
    try:
        if "://" in contact:
            URLValidator(schemes=["https", "http"])(contact)
        else:
            EmailValidator()(address)
    except ValidationError as exc:
        raise AssetError(f"a contact is a mail address or an http(s) URL: {contact!r}") from exc


def rule_of(asset: Asset) -> Rule:
    return Rule(
        kind=asset.kind,
        value=asset.value,
        status=asset.status,
        subdomains=asset.subdomains,
        note=asset.note,
        contact=asset.contact,
    )


def current_rules() -> list[Rule]:
    return [rule_of(a) for a in Asset.objects.all()]


def upsert(spec: AssetSpec) -> tuple[Asset, bool]:
    """Add the asset, or change the status, note and contact of the one with its value."""
    spec = checked(spec)
    asset, created = Asset.objects.update_or_create(
        kind=spec.kind,
        value=spec.value,
        subdomains=spec.subdomains,
        defaults={"status": spec.status, "note": spec.note, "contact": spec.contact},
    )
    return asset, created


# --- The reports' verdicts ------------------------------------------------------------------


def check_report(report: Report, rules: list[Rule], who: Actor = SYSTEM) -> str:
    """Set the report's verdict; a change is a "scope_checked" event (verdicts only)."""
    verdict = matching.verdict_for(report.content, rules)
    previous = report.scope_verdict
    if verdict == previous:
        return verdict
    Report.objects.filter(pk=report.pk).update(scope_verdict=verdict)
    report.scope_verdict = verdict
    record_event(report, "scope_checked", who, verdict=verdict, previous_verdict=previous)
    return verdict


def recheck(reports: QuerySet[Report] | None = None, who: Actor = SYSTEM) -> int:
    """Check the open reports (or these) again after the inventory changed; how many changed."""
    rules = current_rules()
    if reports is None:
        reports = Report.objects.filter(state__in=open_states())
    changed = 0
    for report in reports.order_by("pk").iterator(chunk_size=200):
        with transaction.atomic():
            before = report.scope_verdict
            if check_report(report, rules, who) != before:
                changed += 1
    return changed


def on_received(report: Report) -> None:
    """On intake, inside its transaction: a failure leaves the verdict empty, never the report
    lost (a savepoint keeps the intake's transaction usable; the log names no content)."""
    try:
        with transaction.atomic():
            rules = current_rules()
            if rules:
                check_report(report, rules)
    except Exception as error:  # the report must go in, whatever the check does
        # The class only: an error's text (or a traceback's) may quote the finder's hosts.
        log.error("scope check failed for report %s: %s", report.pk, type(error).__name__)


@dataclass(frozen=True)
class Listed:
    """An asset as the public policy page names it."""

    asset: Asset
    shown: str  # a domain in Unicode, "*." first when it covers its subdomains
    contact_url: str


def listing() -> dict[str, list[Listed]]:
    """The inventory by status, for the policy page: the promise comes from the same rows."""
    groups: dict[str, list[Listed]] = {status: [] for status in matching.STATUSES}
    for asset in Asset.objects.order_by("kind", "value"):
        shown = matching.unicode_host(asset.value) if asset.kind == "domain" else asset.value
        if asset.subdomains:
            shown = f"*.{shown}"
        groups[asset.status].append(Listed(asset, shown, contact_url(asset.contact)))
    return groups


def contact_url(contact: str) -> str:
    """A link to where to report instead (a checked mail address or http(s) URL), or ""."""
    if not contact:
        return ""
    return contact if "://" in contact else f"mailto:{contact.removeprefix('mailto:')}"
