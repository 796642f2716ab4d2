"""CSAF 2.0 documents for published advisories: build, validate, and name them.

An advisory is published as a `csaf_security_advisory` so that aggregators and scanners
can read it. The document is validated with the `csaf` package (offline, the mandatory
6.1.x tests) before it is stored; what is stored is what is served, byte for byte.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.urls import reverse

from meldpunt.reports import assessment

if TYPE_CHECKING:
    from meldpunt.advisories.models import Advisory

TLP_URL = "https://www.first.org/tlp/"
# The distribution directory for TLP:WHITE, the only label Meldpunt publishes.
WHITE_DIR = "white"
# A single version ("2.3.1", "v10.0.2-beta"); anything else is described as a range,
# because CSAF test 6.1.31 refuses a range in a product_version branch.
SINGLE_VERSION_RE = re.compile(r"v?\d[\w.+-]*")
WILDCARD_RE = re.compile(r"\.[xX*](?:\b|$)")


def file_name(identifier: str) -> str:
    """The file name CSAF 2.0 section 5.1 derives from a tracking id."""
    return re.sub(r"[^+\-a-z0-9]+", "_", identifier.lower()) + ".json"


def _utc(value: datetime | str) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def distribution(language: str = "") -> str:
    """The distribution directory, relative to /.well-known/csaf/.

    A translation keeps the advisory's tracking id (CSAF 2.0 3.2.1.13: `source_lang` names
    the language it was translated from), so its file name is the primary document's
    (section 5.1). Two documents cannot share one name in one directory: each language's
    translations form a distribution of their own, translations/<lang>/white/, laid out
    like white/ (year folders, index.txt, changes.csv) and listed in provider-metadata.json.
    The primary documents stay where they always were.
    """
    return f"translations/{language}/{WHITE_DIR}" if language else WHITE_DIR


def relative_path(identifier: str, initial_release: datetime | str) -> str:
    """<year of initial release>/<file name>, relative to the TLP directory (7.1.11)."""
    return f"{_utc(initial_release)[:4]}/{file_name(identifier)}"


def csaf_url(identifier: str, initial_release: datetime | str, language: str = "") -> str:
    """The document's URL; `language` only for a translation."""
    base = f"{settings.MELDPUNT_BASE_URL}/.well-known/csaf/{distribution(language)}"
    return f"{base}/{relative_path(identifier, initial_release)}"


def page_url(identifier: str, language: str = "") -> str:
    """The public page; `language` only for a translation."""
    if language:
        path = reverse("advisories_public:translation", args=[identifier, language])
    else:
        path = reverse("advisories_public:detail", args=[identifier])
    return f"{settings.MELDPUNT_BASE_URL}{path}"


def serialize(document: dict[str, Any]) -> bytes:
    """The bytes served, hashed and signed: the same for the same document, on any database.

    Keys are sorted because PostgreSQL's jsonb does not keep their order.
    """
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True).encode() + b"\n"


def cwe_name(cwe_id: str) -> str:
    """The catalog name CSAF test 6.1.11 expects; the id itself when the catalog lacks it."""
    import csaf  # type: ignore[import-untyped]  # ships no type hints; see validate()

    try:
        return str(csaf.cwe_entry(cwe_id).name)
    except ValueError:
        return cwe_id  # the validator then says the CWE is unknown


# The qualitative rating scale an aggregate severity is taken from, per CVSS version.
RATING_SCALE = {
    "3.1": "https://www.first.org/cvss/v3.1/specification-document#Qualitative-Severity-Rating-Scale",
    "4.0": "https://www.first.org/cvss/v4.0/specification-document#Qualitative-Severity-Rating-Scale",
}


def cvss31(vector: str) -> dict[str, Any]:
    """A CSAF cvss_v3 object (version 3.1) for a vector, scored as the desk scores it."""
    try:
        score = assessment.score_cvss31(vector)
    except assessment.AssessmentError:
        # Left for the validator to reject with a message naming the vector.
        return {"version": "3.1", "vectorString": vector, "baseScore": 0.0, "baseSeverity": "NONE"}
    return {
        "version": "3.1",
        "vectorString": score.vector,
        "baseScore": float(score.score),
        "baseSeverity": score.severity.upper(),
    }


def cvss40_note(vector: str) -> dict[str, Any]:
    """CSAF 2.0 has no place for CVSS 4.0 scores, so the vector travels as a note."""
    try:
        score = assessment.score_cvss40(vector)
        text = f"{score.vector} (base score {score.score}, {score.severity.capitalize()})"
    except assessment.AssessmentError:
        text = vector
    return {"category": "other", "title": "CVSS v4.0", "text": text}


def aggregate_severity(content: dict[str, Any]) -> dict[str, str] | None:
    """The document's severity: the configured primary CVSS version's rating, as on the page."""
    score = assessment.primary_score(
        str(content.get("cvss31_vector") or ""), str(content.get("cvss40_vector") or "")
    )
    if score is None:
        return None
    return {"namespace": RATING_SCALE[score.version], "text": score.severity.capitalize()}


def _version_branch(version: str, product: str, pid: str) -> dict[str, Any]:
    single = SINGLE_VERSION_RE.fullmatch(version) and not WILDCARD_RE.search(version)
    return {
        "category": "product_version" if single else "product_version_range",
        "name": version,
        "product": {"name": f"{product} {version}", "product_id": pid},
    }


def product_tree(products: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str], list[str]]:
    """The product tree, and the ids of the affected and of the fixed products.

    Affected and fixed versions are separate products (CSAFPID-0001, -0002, … in the
    order they appear), so that one document can say both "affected" and "fixed".
    """
    branches: list[dict[str, Any]] = []
    affected: list[str] = []
    fixed: list[str] = []

    def next_id() -> str:
        return f"CSAFPID-{len(affected) + len(fixed) + 1:04d}"

    for product in products:
        name = str(product.get("name", "")).strip()
        versions: list[dict[str, Any]] = []
        for key, ids in (("affected", affected), ("fixed", fixed)):
            version = str(product.get(key, "") or "").strip()
            if version:
                pid = next_id()
                versions.append(_version_branch(version, name, pid))
                ids.append(pid)
        if versions:
            branches.append({"category": "product_name", "name": name, "branches": versions})
        else:
            pid = next_id()
            affected.append(pid)
            branches.append(
                {
                    "category": "product_name",
                    "name": name,
                    "product": {"name": name, "product_id": pid},
                }
            )
    vendor = {"category": "vendor", "name": settings.MELDPUNT_ORG_NAME, "branches": branches}
    return {"branches": [vendor]}, affected, fixed


def _vulnerability(
    content: dict[str, Any], affected: list[str], fixed: list[str]
) -> dict[str, Any]:
    vuln: dict[str, Any] = {"title": content["title"]}
    if content.get("cve"):
        vuln["cve"] = content["cve"]
    if content.get("cwe"):
        vuln["cwe"] = {"id": content["cwe"], "name": cwe_name(content["cwe"])}
    notes = [{"category": "description", "title": "Description", "text": content["summary"]}]
    if content.get("cvss40_vector"):
        notes.append(cvss40_note(content["cvss40_vector"]))
    if content.get("ssvc"):
        # CSAF 2.0 has no SSVC member (2.1's metrics.content.ssvc_v1): a note, as for CVSS 4.0.
        notes.append({"category": "other", "title": "SSVC", "text": content["ssvc"]})
    vuln["notes"] = notes
    status: dict[str, list[str]] = {}
    if affected:
        status["known_affected"] = affected
    if fixed:
        status["fixed"] = fixed
    vuln["product_status"] = status
    # Scores and fixes are about the affected products (or all, if none is named affected).
    concerned = affected or fixed
    if content.get("cvss31_vector") and concerned:
        vuln["scores"] = [{"cvss_v3": cvss31(content["cvss31_vector"]), "products": concerned}]
    if content.get("remediation") and concerned:
        vuln["remediations"] = [
            {"category": "vendor_fix", "details": content["remediation"], "product_ids": concerned}
        ]
    return vuln


def build_document(
    advisory: Advisory,
    content: dict[str, Any],
    credits: list[str],
    revisions: list[dict[str, Any]],
    now: datetime,
    lang: str = "",
) -> dict[str, Any]:
    """The CSAF 2.0 security advisory for one publication (revisions include this one).

    With `lang` other than the advisory's language: the translation into it, whose
    `content` carries the translated texts.
    """
    history = sorted(revisions, key=lambda r: int(r["number"]))
    initial, latest = history[0], history[-1]
    identifier = advisory.identifier
    translated = lang if lang and lang != advisory.language else ""
    references: list[dict[str, Any]] = [
        {
            "category": "self",
            "summary": f"{identifier} (HTML)",
            "url": page_url(identifier, translated),
        },
        {
            "category": "self",
            "summary": f"{identifier} (CSAF)",
            "url": csaf_url(identifier, initial["date"], translated),
        },
    ]
    if content.get("packages"):
        # The same advisory as an OSV document (exports.osv_document), for package consumers.
        path = reverse("advisories_public:osv", args=[identifier])
        references.append(
            {
                "category": "self",
                "summary": f"{identifier} (OSV)",
                "url": f"{settings.MELDPUNT_BASE_URL}{path}",
            }
        )
    references += [
        {"category": "external", "summary": url, "url": url}
        for url in content.get("references", [])
        if url
    ]
    document: dict[str, Any] = {
        "category": "csaf_security_advisory",
        "csaf_version": "2.0",
        "title": content["title"],
        "lang": translated or advisory.language,
        "publisher": {
            "category": "vendor",
            "name": settings.MELDPUNT_ORG_NAME,
            "namespace": settings.MELDPUNT_BASE_URL,
            "contact_details": f"mailto:{settings.MELDPUNT_SECURITY_CONTACT}",
        },
        "distribution": {"tlp": {"label": "WHITE", "url": TLP_URL}},
        "notes": [{"category": "summary", "title": "Summary", "text": content["summary"]}],
        "references": references,
        "tracking": {
            "id": identifier,
            "status": "final",
            "version": str(latest["number"]),
            "initial_release_date": _utc(initial["date"]),
            "current_release_date": _utc(latest["date"]),
            "revision_history": [
                {"number": str(r["number"]), "date": _utc(r["date"]), "summary": r["summary"]}
                for r in history
            ],
            "generator": {"engine": {"name": "Meldpunt"}, "date": _utc(now)},
        },
    }
    if translated:
        document["source_lang"] = advisory.language
    if credits:
        document["acknowledgments"] = [{"names": list(credits)}]
    if severity := aggregate_severity(content):
        document["aggregate_severity"] = severity
    tree, affected, fixed = product_tree(content.get("products", []))
    return {
        "document": document,
        "product_tree": tree,
        "vulnerabilities": [_vulnerability(content, affected, fixed)],
    }


def validate(document: dict[str, Any]) -> list[str]:
    """[] if the document passes the schema and the mandatory tests; else one line per rule."""
    # Imported when first used: the package takes ~0.2 s to import, which every command and
    # process would pay (the URL checks import this module) though few ever validate.
    from csaf.csaf.v20 import validate as validate_v20  # type: ignore[import-untyped]

    report = validate_v20(document, preset="basic")
    messages = []
    for result in report.results:
        if result.passed or result.skipped or result.group == "informative":
            continue
        details = "; ".join(f"{e.instance_path}: {e.message}" for e in result.errors)
        messages.append(f"{result.id} {result.title}: {details}" if details else result.title)
    return messages
