"""What the domain core tells listeners above it (webhooks), inside the caller's transaction.

The core does not know who listens: `meldpunt.webhooks` connects to these in its app config,
so the report rules never import it (the layers in pyproject.toml hold that).
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent by `services.record_event` after the event row is written: sender=Report,
# report=<Report>, event=<Event>. Every change to a report passes here exactly once.
event_recorded = Signal()

# Sent by `promises.refresh` when a promise newly becomes at risk or broken: sender=Report,
# report=<Report>, promise=<Promise>.
promise_changed = Signal()
