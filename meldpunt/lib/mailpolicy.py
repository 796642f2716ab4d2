"""Python's `email` policies as Meldpunt reads and writes mail, with each header class made once.

`email.headerregistry.HeaderRegistry` makes a new class (`type(...)`) for every header it
parses or sets: 42 per mail taken in, its receipt included (bench/mail_intake_counts.py),
a few percent of the intake's time and garbage for the cycle collector. The class depends
only on which registered kind the header's name maps to, so it is made once per kind here
(a bounded set: unknown names share the default kind, so a mail with thousands of invented
headers adds nothing).
Otherwise these are the standard library's `policy.default` and `policy.SMTP`: the bytes
they write are the same.
"""

from __future__ import annotations

from email import policy
from email.headerregistry import HeaderRegistry
from typing import Any


class Headers(HeaderRegistry):
    """A HeaderRegistry that makes each kind's class once."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[type, type] = {}

    def map_to_type(self, name: str, cls: Any) -> None:
        super().map_to_type(name, cls)
        self._made.clear()

    def __getitem__(self, name: str) -> Any:
        kind = self.registry.get(name.lower(), self.default_class)
        made = self._made.get(kind)
        if made is None:
            made = self._made[kind] = super().__getitem__(name)
        return made


HEADERS = Headers()
DEFAULT = policy.default.clone(header_factory=HEADERS)
# CRLF line ends, as on the wire (`policy.SMTP`).
SMTP = DEFAULT.clone(linesep="\r\n")
