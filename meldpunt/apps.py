from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MeldpuntConfig(AppConfig):
    name = "meldpunt"
    verbose_name = "Meldpunt"

    def ready(self) -> None:
        from meldpunt import checks  # noqa: F401  (registers the system checks)
        from meldpunt.lib import changes

        # After every migrate: a trigger on each new table (the data version, PostgreSQL).
        post_migrate.connect(changes.on_migrate, sender=self, dispatch_uid="data-version")
