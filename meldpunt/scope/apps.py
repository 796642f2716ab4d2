"""The scope inventory: what the policy covers, and what the systems a report names are."""

from django.apps import AppConfig


class ScopeConfig(AppConfig):
    name = "meldpunt.scope"
    label = "scope"

    def ready(self) -> None:
        # Checks each report on intake (the domain core's event_recorded signal).
        from meldpunt.scope import events  # noqa: F401
