"""CVE JSON 5 records and OSV documents for published advisories.

Both are built from what was published (the latest AdvisoryRevision: its content, its
credits exactly as printed, its revision history), never from the draft, so they say no
more than the public page. Neither calls a CVE or OSV service: a CNA (or the CNA the team
works with) submits the CVE record itself; the OSV document is served for importers.

- CVE Record Format 5.1: the CNA container with affected products and versions, the CWE,
  the descriptions in every published language (the format needs one in English), CVSS
  3.1 and 4.0 metrics, references, credits (type "finder", as the finder chose to be
  credited: name or pseudonym, never an anonymous finder) and the revisions as timeline.
  Needs the advisory's CVE id; the CNA's organisation UUID comes from settings.
- OSV 1.7: only for advisories that name packages (ecosystem, name, introduced/fixed).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from meldpunt.advisories import csaf, publishing
from meldpunt.reports import assessment

if TYPE_CHECKING:
    from meldpunt.advisories.models import Advisory, AdvisoryRevision

CVE_DATA_VERSION = "5.1"
OSV_SCHEMA_VERSION = "1.7.5"
# OSV schema 1.7.5, $defs.ecosystemName (tests/fixtures/schemas/osv-schema.json).
OSV_ECOSYSTEMS = (
    "AlmaLinux", "Alpaquita", "Alpine", "Android", "Azure Linux",
    "BellSoft Hardened Containers", "Bioconductor", "Bitnami", "Chainguard", "CleanStart",
    "ConanCenter", "CRAN", "crates.io", "Debian", "Docker Hardened Images", "Echo", "FreeBSD",
    "GHC", "GitHub Actions", "Go", "Hackage", "Hex", "Julia", "Kubernetes", "Linux", "Mageia",
    "Maven", "MinimOS", "npm", "NuGet", "opam", "openEuler", "openSUSE", "OSS-Fuzz",
    "Packagist", "Photon OS", "Pub", "PyPI", "Red Hat", "Rocky Linux", "Root", "RubyGems",
    "SUSE", "SwiftURL", "TuxCare", "Ubuntu", "VSCode", "Wolfi",
)  # fmt: skip
# OSV ids start with a registered database prefix, or "x_" for a database that has none.
OSV_ID_PREFIX = "x_"


def _utc(moment: datetime | str) -> str:
    return csaf._utc(moment)  # the same UTC form as the CSAF documents


def _latest(revisions: list[AdvisoryRevision]) -> AdvisoryRevision:
    return max(revisions, key=lambda r: r.number)


def _texts(advisory: Advisory, content: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The published texts by language, the advisory's own language first."""
    primary = advisory.language
    languages = [primary, *publishing.translations_of(content, primary)]
    return {code: publishing.in_language(content, code, primary) for code in languages}


def cve_missing(advisory: Advisory, revisions: list[AdvisoryRevision]) -> list[str]:
    """Why no CVE record can be made of what was published; [] when one can."""
    if not revisions:
        return [str(_("The advisory is not published."))]
    content = _latest(revisions).content
    problems = []
    if not content.get("cve"):
        problems.append(str(_("The published advisory has no CVE id.")))
    if "en" not in _texts(advisory, content):
        problems.append(str(_("A CVE record needs the description in English (or a translation).")))
    return problems


def cna_org_id() -> str:
    """The CNA's organisation UUID from the CVE Program (MELDPUNT_CVE_ORG_ID).

    Without one, a stable UUID derived from the site's address, for the CNA the team works
    with to replace when it submits the record.
    """
    configured = str(getattr(settings, "MELDPUNT_CVE_ORG_ID", "") or "")
    if configured:
        return configured
    derived = uuid.uuid5(uuid.NAMESPACE_URL, settings.MELDPUNT_BASE_URL)
    return str(uuid.UUID(bytes=derived.bytes, version=4))  # the format wants a version 4


def _cve_versions(product: dict[str, Any]) -> dict[str, Any]:
    affected = str(product.get("affected") or "").strip()
    fixed = str(product.get("fixed") or "").strip()
    single = bool(affected) and bool(csaf.SINGLE_VERSION_RE.fullmatch(affected))
    versions: list[dict[str, Any]] = []
    if affected and (single or not fixed):
        versions.append({"version": affected, "status": "affected"})
    elif fixed:
        # A range written in words ("< 2.3", "2.0 to 2.2"): everything before the fix.
        versions.append(
            {"version": "0", "lessThan": fixed, "status": "affected", "versionType": "custom"}
        )
    if fixed:
        versions.append({"version": fixed, "status": "unaffected"})
    entry: dict[str, Any] = {"vendor": settings.MELDPUNT_ORG_NAME, "product": product["name"]}
    if versions:
        entry["versions"] = versions
        entry["defaultStatus"] = "unknown"
    else:
        entry["defaultStatus"] = "affected"  # a system, e.g. a web site: no versions
    return entry


def _cvss_metrics(content: dict[str, Any]) -> list[dict[str, Any]]:
    metrics: list[dict[str, Any]] = []
    for vector, scorer, key in (
        (content.get("cvss40_vector"), assessment.score_cvss40, "cvssV4_0"),
        (content.get("cvss31_vector"), assessment.score_cvss31, "cvssV3_1"),
    ):
        if not vector:
            continue
        score = scorer(str(vector))
        metrics.append(
            {
                "format": "CVSS",
                "scenarios": [{"lang": "en", "value": "GENERAL"}],
                key: {
                    "version": score.version,
                    "vectorString": score.vector,
                    "baseScore": float(score.score),
                    "baseSeverity": score.severity.upper(),
                },
            }
        )
    return metrics


def cve_record(advisory: Advisory, revisions: list[AdvisoryRevision]) -> dict[str, Any] | None:
    """The CVE JSON 5 record of the published advisory; None when cve_missing says why not."""
    if cve_missing(advisory, revisions):
        return None
    history = sorted(revisions, key=lambda r: r.number)
    first, latest = history[0], history[-1]
    content = latest.content
    texts = _texts(advisory, content)
    org_id = cna_org_id()
    cna: dict[str, Any] = {
        "providerMetadata": {"orgId": org_id, "dateUpdated": _utc(latest.published_at)},
        "datePublic": _utc(first.published_at),
        "title": str(texts["en"]["title"])[:256],
        "descriptions": [
            {"lang": code, "value": str(text["summary"])} for code, text in texts.items()
        ],
        "affected": [_cve_versions(p) for p in content.get("products", [])],
        "references": [
            {"url": csaf.page_url(advisory.identifier), "tags": ["vendor-advisory"]},
            *({"url": url} for url in content.get("references", []) if url),
        ],
        "source": {"discovery": "EXTERNAL"},
        "timeline": [
            {"time": _utc(r.published_at), "lang": advisory.language, "value": r.summary}
            for r in history
        ],
    }
    if cwe := str(content.get("cwe") or ""):
        cna["problemTypes"] = [
            {
                "descriptions": [
                    {
                        "lang": "en",
                        "description": f"{cwe} {csaf.cwe_name(cwe)}",
                        "cweId": cwe,
                        "type": "CWE",
                    }
                ]
            }
        ]
    if metrics := _cvss_metrics(content):
        cna["metrics"] = metrics
    if str(content.get("remediation") or "").strip():
        cna["solutions"] = [
            {"lang": code, "value": str(text["remediation"])}
            for code, text in texts.items()
            if str(text.get("remediation") or "").strip()
        ]
    if latest.credits:
        cna["credits"] = [
            {"lang": advisory.language, "value": line, "type": "finder"} for line in latest.credits
        ]
    return {
        "dataType": "CVE_RECORD",
        "dataVersion": CVE_DATA_VERSION,
        "cveMetadata": {
            "cveId": content["cve"],
            "assignerOrgId": org_id,
            "state": "PUBLISHED",
            "datePublished": _utc(first.published_at),
            "dateUpdated": _utc(latest.published_at),
        },
        "containers": {"cna": cna},
    }


# --- OSV ------------------------------------------------------------------------------------


def has_packages(content: dict[str, Any]) -> bool:
    return bool(content.get("packages"))


def osv_id(advisory: Advisory) -> str:
    return f"{OSV_ID_PREFIX}{advisory.identifier}"


def _osv_affected(packages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per package; its lines become one ECOSYSTEM range of introduced/fixed pairs."""
    grouped: dict[tuple[str, str], list[dict[str, str]]] = {}
    for line in packages:
        key = (str(line["ecosystem"]), str(line["name"]))
        events = grouped.setdefault(key, [])
        events.append({"introduced": str(line.get("introduced") or "0")})
        if line.get("fixed"):
            events.append({"fixed": str(line["fixed"])})
    return [
        {
            "package": {"ecosystem": ecosystem, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": events}],
        }
        for (ecosystem, name), events in grouped.items()
    ]


def osv_document(advisory: Advisory, revisions: list[AdvisoryRevision]) -> dict[str, Any] | None:
    """The OSV document of a published advisory about packages; None for any other."""
    if not revisions:
        return None
    history = sorted(revisions, key=lambda r: r.number)
    first, latest = history[0], history[-1]
    content = latest.content
    if not has_packages(content):
        return None
    text = _texts(advisory, content).get("en") or content
    document: dict[str, Any] = {
        "schema_version": OSV_SCHEMA_VERSION,
        "id": osv_id(advisory),
        "modified": _utc(latest.published_at),
        "published": _utc(first.published_at),
        "summary": str(text["title"]),
        "details": str(text["summary"]),
        "affected": _osv_affected(content["packages"]),
        "references": [
            {"type": "ADVISORY", "url": csaf.page_url(advisory.identifier)},
            *({"type": "WEB", "url": url} for url in content.get("references", []) if url),
        ],
        "database_specific": {"source": csaf.page_url(advisory.identifier)},
    }
    if content.get("cve"):
        document["aliases"] = [content["cve"]]
    if cwe := str(content.get("cwe") or ""):
        document["database_specific"]["cwe_ids"] = [cwe]
    severity = []
    if content.get("cvss31_vector"):
        severity.append({"type": "CVSS_V3", "score": str(content["cvss31_vector"])})
    if content.get("cvss40_vector"):
        severity.append({"type": "CVSS_V4", "score": str(content["cvss40_vector"])})
    if severity:
        document["severity"] = severity
    if latest.credits:
        document["credits"] = [{"name": line, "type": "FINDER"} for line in latest.credits]
    return document
