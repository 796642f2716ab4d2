"""A forwarding name for mail tasks queued before the outbox moved to `meldpunt.reports`.

The task queue stores each task by dotted path, so a mail queued by the previous release
still names `meldpunt.lib.outbox.deliver`. Remove this module (and its exception in the
import contracts in pyproject.toml) once no queue can hold such a task: one release later.
"""

from __future__ import annotations

from meldpunt.reports.outbox import deliver

__all__ = ["deliver"]
