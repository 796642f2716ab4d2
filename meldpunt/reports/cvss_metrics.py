"""The CVSS base metrics a triager picks, and the vector they make.

Only the vector is assembled here; `assessment.score_cvss31/40` (the `cvss` package) checks
and scores it, as for a typed vector. Metrics other than the base ones (threat,
environmental, supplemental) are not offered as choices, but a vector that carries them
keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import pgettext_lazy

PREFIXES = {"3.1": "CVSS:3.1/", "4.0": "CVSS:4.0/"}


@dataclass(frozen=True)
class Metric:
    key: str  # the abbreviation in the vector, e.g. "AV"
    label: Any  # lazy text
    values: tuple[tuple[str, Any], ...]


# The specification's terms, in a context of their own: "None", "Low", "High" need other
# words (and genders) here than as a severity.
_NETWORK = ("N", pgettext_lazy("CVSS", "Network"))
_LOCAL, _PHYSICAL = ("L", pgettext_lazy("CVSS", "Local")), ("P", pgettext_lazy("CVSS", "Physical"))
_LOW_HIGH = (("L", pgettext_lazy("CVSS", "Low")), ("H", pgettext_lazy("CVSS", "High")))
_NONE_LOW_HIGH = (("N", pgettext_lazy("CVSS", "None")), *_LOW_HIGH)
_IMPACT = (
    ("H", pgettext_lazy("CVSS", "High")),
    ("L", pgettext_lazy("CVSS", "Low")),
    ("N", pgettext_lazy("CVSS", "None")),
)

# The base metrics in the order the specifications write them in a vector.
BASE: dict[str, tuple[Metric, ...]] = {
    "3.1": (
        Metric(
            "AV",
            pgettext_lazy("CVSS", "Attack Vector"),
            (_NETWORK, ("A", pgettext_lazy("CVSS", "Adjacent Network")), _LOCAL, _PHYSICAL),
        ),
        Metric("AC", pgettext_lazy("CVSS", "Attack Complexity"), _LOW_HIGH),
        Metric("PR", pgettext_lazy("CVSS", "Privileges Required"), _NONE_LOW_HIGH),
        Metric(
            "UI",
            pgettext_lazy("CVSS", "User Interaction"),
            (("N", pgettext_lazy("CVSS", "None")), ("R", pgettext_lazy("CVSS", "Required"))),
        ),
        Metric(
            "S",
            pgettext_lazy("CVSS", "Scope"),
            (("U", pgettext_lazy("CVSS", "Unchanged")), ("C", pgettext_lazy("CVSS", "Changed"))),
        ),
        Metric("C", pgettext_lazy("CVSS", "Confidentiality"), _IMPACT),
        Metric("I", pgettext_lazy("CVSS", "Integrity"), _IMPACT),
        Metric("A", pgettext_lazy("CVSS", "Availability"), _IMPACT),
    ),
    "4.0": (
        Metric(
            "AV",
            pgettext_lazy("CVSS", "Attack Vector"),
            (_NETWORK, ("A", pgettext_lazy("CVSS", "Adjacent")), _LOCAL, _PHYSICAL),
        ),
        Metric("AC", pgettext_lazy("CVSS", "Attack Complexity"), _LOW_HIGH),
        Metric(
            "AT",
            pgettext_lazy("CVSS", "Attack Requirements"),
            (("N", pgettext_lazy("CVSS", "None")), ("P", pgettext_lazy("CVSS", "Present"))),
        ),
        Metric("PR", pgettext_lazy("CVSS", "Privileges Required"), _NONE_LOW_HIGH),
        Metric(
            "UI",
            pgettext_lazy("CVSS", "User Interaction"),
            (
                ("N", pgettext_lazy("CVSS", "None")),
                ("P", pgettext_lazy("CVSS", "Passive")),
                ("A", pgettext_lazy("CVSS", "Active")),
            ),
        ),
        Metric("VC", pgettext_lazy("CVSS", "Vulnerable System Confidentiality"), _IMPACT),
        Metric("VI", pgettext_lazy("CVSS", "Vulnerable System Integrity"), _IMPACT),
        Metric("VA", pgettext_lazy("CVSS", "Vulnerable System Availability"), _IMPACT),
        Metric("SC", pgettext_lazy("CVSS", "Subsequent System Confidentiality"), _IMPACT),
        Metric("SI", pgettext_lazy("CVSS", "Subsequent System Integrity"), _IMPACT),
        Metric("SA", pgettext_lazy("CVSS", "Subsequent System Availability"), _IMPACT),
    ),
}


def _parts(version: str, vector: str) -> list[tuple[str, str]]:
    vector = vector.strip()
    if not vector.startswith(PREFIXES[version]):
        return []
    pairs = (part.partition(":") for part in vector[len(PREFIXES[version]) :].split("/"))
    return [(key, value) for key, _sep, value in pairs if key]


def base_choices(version: str, vector: str) -> dict[str, str]:
    """The base metrics a vector of this version carries, by abbreviation; {} for none."""
    keys = {m.key for m in BASE[version]}
    return {key: value for key, value in _parts(version, vector) if key in keys}


def other_metrics(version: str, vector: str) -> list[str]:
    """The vector's other metrics ("E:P", "CR:H", …), in their order, to keep them."""
    keys = {m.key for m in BASE[version]}
    return [f"{key}:{value}" for key, value in _parts(version, vector) if key not in keys]


def missing(version: str, choices: dict[str, str]) -> list[Metric]:
    return [m for m in BASE[version] if not choices.get(m.key)]


def build(version: str, choices: dict[str, str], keep_from: str = "") -> str:
    """The vector of these base choices plus the other metrics `keep_from` carries."""
    base = [f"{m.key}:{choices[m.key]}" for m in BASE[version]]
    return PREFIXES[version] + "/".join([*base, *other_metrics(version, keep_from)])
