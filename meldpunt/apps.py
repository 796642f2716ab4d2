from django.apps import AppConfig


class MeldpuntConfig(AppConfig):
    name = "meldpunt"
    verbose_name = "Meldpunt"

    def ready(self) -> None:
        from meldpunt import checks  # noqa: F401  (registers the system checks)
