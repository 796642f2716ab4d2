"""The MITRE CWE catalogue shipped with Meldpunt: look a weakness up, search it, refresh it.

The catalogue is data in the package (data/cwe.json: the weaknesses' ids and names, with the
CWE version), so the desk works offline. `meldpunt cwe-refresh <cwec_vX.Y.xml or .csv>`
rebuilds it from MITRE's official download; bin/cwe-from-csaf built the shipped copy.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from defusedxml import ElementTree as SafeET

CATALOGUE = Path(__file__).resolve().parent / "data" / "cwe.json"
NUMBER_RE = re.compile(r"(?:CWE)?[-\s]*([1-9]\d{0,5})", re.IGNORECASE)
VERSION_RE = re.compile(r"cwec_v(\d+\.\d+(?:\.\d+)?)", re.IGNORECASE)
NOTICE = (
    "MITRE CWE, https://cwe.mitre.org/ - Terms of Use: https://cwe.mitre.org/about/termsofuse.html"
)


class CatalogueError(ValueError):
    """A file that is not one of MITRE's CWE downloads."""


@dataclass(frozen=True)
class Weakness:
    number: int
    name: str

    @property
    def id(self) -> str:
        return f"CWE-{self.number}"


@dataclass(frozen=True)
class Catalogue:
    version: str
    weaknesses: dict[int, str]


@cache
def catalogue(path: Path = CATALOGUE) -> Catalogue:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Catalogue(str(data["version"]), {int(n): str(name) for n, name in data["weaknesses"]})


def version() -> str:
    return catalogue().version


def number(cwe_id: str) -> int | None:
    """79 for "CWE-79", "cwe 79" or "79"; None for anything else."""
    match = NUMBER_RE.fullmatch(cwe_id.strip())
    return int(match.group(1)) if match else None


def name(cwe_id: str) -> str:
    """The weakness's name, "" when the catalogue does not have it."""
    found = number(cwe_id)
    return catalogue().weaknesses.get(found, "") if found is not None else ""


def search(query: str, limit: int = 25) -> list[Weakness]:
    """Weaknesses by number ("79", "CWE-79": that one first, then ids starting so) or words."""
    entries = catalogue().weaknesses
    query = query.strip()
    if not query:
        return []
    if (wanted := number(query)) is not None:
        digits = str(wanted)
        hits = sorted(n for n in entries if str(n).startswith(digits))
        return [Weakness(n, entries[n]) for n in hits[:limit]]
    words = query.casefold().split()
    found = [
        Weakness(n, text)
        for n, text in sorted(entries.items())
        if all(word in text.casefold() for word in words)
    ]
    # Current weaknesses before the deprecated ones, which MITRE keeps under their old ids.
    found.sort(key=lambda w: w.name.startswith("DEPRECATED"))
    return found[:limit]


def _version_from(path: Path, given: str) -> str:
    if given:
        return given
    if match := VERSION_RE.search(path.name):
        return match.group(1)
    raise CatalogueError(f"{path.name}: name the CWE version (e.g. --cwe-version 4.20)")


def _from_xml(path: Path) -> tuple[str, dict[int, str]]:
    # An admin's own download from MITRE, not finder input; ElementTree fetches no external
    # entities, and expat >= 2.4.1 (Python 3.11's) stops entity-expansion bombs.
    try:
        root = SafeET.parse(path).getroot()
    except SafeET.ParseError as exc:
        raise CatalogueError(f"{path.name}: not XML ({exc})") from None
    namespace = root.tag.partition("}")[0] + "}" if root.tag.startswith("{") else ""
    if root.tag != f"{namespace}Weakness_Catalog":
        raise CatalogueError(f"{path.name}: not a CWE Weakness_Catalog")
    entries = {
        int(w.get("ID", "0")): w.get("Name", "").strip()
        for w in root.iter(f"{namespace}Weakness")
        if w.get("ID", "").isdigit() and w.get("Name")
    }
    return root.get("Version", ""), entries


def _from_csv(path: Path) -> dict[int, str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = csv.DictReader(handle)
        if not rows.fieldnames or not {"CWE-ID", "Name"} <= set(rows.fieldnames):
            raise CatalogueError(f"{path.name}: a CWE CSV has the columns CWE-ID and Name")
        # MITRE's CSV leaves the "CWE-" prefix off the ID; take it either way.
        found = ((number(row["CWE-ID"] or ""), (row["Name"] or "").strip()) for row in rows)
        return {n: text for n, text in found if n is not None and text}


def read_download(path: Path, cwe_version: str = "") -> Catalogue:
    """The catalogue in one of MITRE's downloads: cwec_vX.Y.xml, or a view's .csv."""
    if path.suffix.lower() == ".xml":
        found_version, entries = _from_xml(path)
        found_version = cwe_version or found_version or _version_from(path, "")
    elif path.suffix.lower() == ".csv":
        entries = _from_csv(path)
        found_version = _version_from(path, cwe_version)
    else:
        raise CatalogueError(f"{path.name}: expected MITRE's cwec_vX.Y.xml or a .csv download")
    if not entries:
        raise CatalogueError(f"{path.name}: no weaknesses found")
    return Catalogue(found_version, entries)


def write(found: Catalogue, path: Path = CATALOGUE) -> None:
    # One weakness a line, so that a refresh reads as a diff.
    rows = ",\n".join(
        json.dumps([n, found.weaknesses[n]], ensure_ascii=False) for n in sorted(found.weaknesses)
    )
    head = {"notice": NOTICE, "version": found.version}
    text = json.dumps(head, ensure_ascii=False)[:-1] + ', "weaknesses": [\n' + rows + "\n]}\n"
    path.write_text(text, encoding="utf-8")
    catalogue.cache_clear()
