"""How web submissions ended, counted for /metrics (mail intake is counted from its rows).

A refused submission leaves no row behind, so only a counter can say how many there were.
Counting is cheap and always on; /metrics shows it only when an operator enabled it.
"""

from __future__ import annotations

from prometheus_client import Counter

WEB_SUBMISSIONS = Counter(
    "meldpunt_web_submissions",
    "Report form submissions by outcome.",
    ["outcome"],
    registry=None,
)

# report: stored; repeated: a resubmitted form shown its receipt again; invalid: the form
# was given back with errors; rate_limited, unavailable (database down), storage_full.
OUTCOMES = ("report", "repeated", "invalid", "rate_limited", "unavailable", "storage_full")


def count(outcome: str) -> None:
    WEB_SUBMISSIONS.labels(outcome).inc()
