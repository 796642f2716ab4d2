"""SSVC: CISA's decision for a report from four decision points, beside its CVSS scores.

The table is CERT/CC's own data (data/ssvc_cisa.json: the CISA Coordinator decision table
of the `certcc-ssvc` package, its decision points, values and outcomes), built by
bin/ssvc-from-wheel: that package needs Python 3.12 and a scientific stack, so Meldpunt
ships its data rather than depending on it. Every screen, the API and CSAF decide here.

Values are the package's value names as slugs ("Public PoC" -> "public_poc",
"Track*" -> "track_star"): one vocabulary for the database, the forms and the API.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

TABLE = Path(__file__).resolve().parent / "data" / "ssvc_cisa.json"

# The report's fields, in the table's order of decision points (by SSVC key).
FIELDS = {
    "E": "ssvc_exploitation",
    "A": "ssvc_automatable",
    "TI": "ssvc_technical_impact",
    "MWI": "ssvc_mission_impact",
}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("*", " star")).strip("_")


@dataclass(frozen=True)
class Value:
    key: str  # SSVC's key, e.g. "P"
    name: str  # SSVC's name, e.g. "Public PoC"
    slug: str  # ours, e.g. "public_poc"
    definition: str


@dataclass(frozen=True)
class Point:
    id: str  # namespace:key:version, e.g. "ssvc:E:1.1.0"
    namespace: str
    key: str
    version: str
    name: str
    definition: str
    field: str  # the Report field
    values: tuple[Value, ...]

    def by_slug(self, value: str) -> Value | None:
        return next((v for v in self.values if v.slug == value), None)


@dataclass(frozen=True)
class Table:
    name: str  # "CISA Coordinator"
    version: str  # the table's version, e.g. "2.0.3"
    namespace: str
    key: str
    source: str
    points: tuple[Point, ...]
    outcome: Point
    decisions: dict[tuple[str, ...], str]  # the points' slugs, in order -> the outcome's slug

    @property
    def label(self) -> str:
        """What a report records: the tree's name and version."""
        return f"{self.name} {self.version}"


def _point(data: dict[str, Any], field: str) -> Point:
    namespace = data["id"].split(":", 1)[0]
    values = tuple(
        Value(v["key"], v["name"], slug(v["name"]), v["definition"]) for v in data["values"]
    )
    return Point(
        data["id"],
        namespace,
        data["key"],
        data["version"],
        data["name"],
        data["definition"],
        field,
        values,
    )


@cache
def table() -> Table:
    data = json.loads(TABLE.read_text(encoding="utf-8"))
    points = tuple(_point(p, FIELDS[p["key"]]) for p in data["decision_points"])
    outcome = _point(data["outcome"], "ssvc_decision")
    slugs = {p.id: {v.key: v.slug for v in p.values} for p in (*points, outcome)}
    decisions = {
        tuple(slugs[p.id][row[p.id]] for p in points): slugs[outcome.id][row[outcome.id]]
        for row in data["mapping"]
    }
    return Table(
        data["name"],
        data["version"],
        data["namespace"],
        data["key"],
        data["source"],
        points,
        outcome,
        decisions,
    )


def point(field: str) -> Point:
    return next(p for p in table().points if p.field == field)


def decide(answers: dict[str, str]) -> str:
    """The decision's slug for the answers (Report field -> value slug); "" until all four
    are answered. An unknown value is a KeyError: check values with `point().by_slug`."""
    chosen = tuple(answers.get(p.field, "") for p in table().points)
    if not all(chosen):
        return ""
    return table().decisions[chosen]


def decision(value: str) -> Value | None:
    return table().outcome.by_slug(value)


DECISIONS: tuple[str, ...] = tuple(v.slug for v in table().outcome.values)


def statement(report: Any) -> str:
    """The decision in words for an advisory (CISA's terms, English), "" when undecided:
    "Act (CISA Coordinator 2.0.3; Exploitation: Active, Automatable: Yes, ...)"."""
    chosen = decision(getattr(report, "ssvc_decision", ""))
    if chosen is None:
        return ""
    answers = []
    for p in table().points:
        value = p.by_slug(getattr(report, p.field))
        if value:
            answers.append(f"{p.name}: {value.name}")
    return f"{chosen.name} ({report.ssvc_tree}; {', '.join(answers)})"
