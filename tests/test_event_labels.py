"""Every kind of event the code records has a label on the staff page."""

from __future__ import annotations

import re
from pathlib import Path

from meldpunt.audit.labels import ACTION_LABELS
from meldpunt.reports.labels import EVENT_LABELS

SOURCE = Path(__file__).resolve().parents[1] / "meldpunt"
# record_event(report, "kind", ...), and kinds passed on through a helper: the first string
# argument of a call spread over lines (`    "advisory_updated",`).
RECORDED = re.compile(
    r'record_event\(\s*\w+,\s*"([a-z_]+)"'
    r'|\(\w+, "(advisory_[a-z_]+)"'
    r'|^\s+"(advisory_[a-z_]+)",$'
    r'|_tell_report\(\s*\w+,\s*"([a-z_]+)"',
    re.M,
)


def test_it_labels_every_recorded_event_kind() -> None:
    kinds = set()
    for path in SOURCE.rglob("*.py"):
        for found in RECORDED.findall(path.read_text()):
            kinds.add(next(k for k in found if k))
    assert len(kinds) > 20  # the pattern still finds them
    assert sorted(kinds - set(EVENT_LABELS)) == []


# append("action", ...) / audit("action", ...): the audit log's own entries.
APPENDED = re.compile(r'\b(?:audit|append)\(\s*"([a-z_]+)"', re.S)


def test_it_labels_every_audit_log_action() -> None:
    actions = set()
    for path in SOURCE.rglob("*.py"):
        actions.update(APPENDED.findall(path.read_text()))
    assert {"login", "report_viewed", "personal_data_disclosed"} <= actions
    # changed.append("severity") / fields.append(...): lists, not the log
    actions -= {"severity", "bounce_detail"}
    assert sorted(actions - set(ACTION_LABELS) - set(EVENT_LABELS)) == []
