from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "meldpunt.webhooks"
    label = "webhooks"

    def ready(self) -> None:
        # Connects the listeners to the domain core's signals (record_event, the promise ledger).
        from meldpunt.webhooks import events  # noqa: F401
