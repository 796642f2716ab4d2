"""Who did something, named the same way wherever it is recorded.

A report's history names staff by user name, so the team reads who acted; the audit log
names them by account number, never by name, so the log itself holds no personal data.
`actor(user)` gives both forms at once, and `record_event` writes each where it belongs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    event: str  # in a report's history: staff:<user name>, finder, system
    audit: str  # in the audit log: staff:<account number>, finder, system


FINDER = Actor("finder", "finder")
SYSTEM = Actor("system", "system")  # a scheduled job


def staff(user: Any) -> str:
    """How the audit log names a staff member: by account number, never by name."""
    return f"staff:{user.pk}"


def actor(user: Any | None) -> Actor:
    """A staff member, or the system when there is no user (a scheduled job)."""
    if user is None:
        return SYSTEM
    # Event.actor holds 80 characters; a user name may be longer.
    return Actor(event=f"staff:{user.get_username()}"[:80], audit=staff(user))
