"""Who did something, named the same way wherever it is recorded.

A report's history names staff by user name, so the team reads who acted; the audit log
names them by account number, never by name, so the log itself holds no personal data.
`actor(user)` gives both forms at once, and `record_event` writes each where it belongs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from meldpunt.audit.labels import ACTOR_LABELS


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


def staff_id(audit_actor: str) -> int | None:
    """The account number in `staff:<n>`, or None for any other actor."""
    kind, _sep, rest = audit_actor.partition(":")
    return int(rest) if kind == "staff" and rest.isdigit() else None


def actor_names(audit_actors: Iterable[str]) -> dict[str, str]:
    """How to show each audit actor to the team: staff by name, in one query; the log itself
    keeps account numbers. A deleted account stays "staff #n"."""
    actors = set(audit_actors)
    ids = {n for a in actors if (n := staff_id(a)) is not None}
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=ids)}
    names = {}
    for a in actors:
        n = staff_id(a)
        if n is None:
            names[a] = str(ACTOR_LABELS.get(a, a))
        elif n in users:
            full, username = users[n].get_full_name(), users[n].get_username()
            names[a] = f"{full} ({username})" if full else username
        else:
            names[a] = _("staff #%(id)d") % {"id": n}
    return names
