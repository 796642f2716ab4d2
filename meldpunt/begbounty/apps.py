from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync(sender: AppConfig, apps: Any = None, using: str = "default", **kwargs: Any) -> None:
    from meldpunt.begbounty.store import sync_shipped

    try:  # the model as migrated so far: absent when migrating back before this app
        rule_model = apps.get_model("begbounty", "Rule") if apps else None
    except LookupError:
        return
    if rule_model is not None:
        sync_shipped(rule_model.objects.db_manager(using).model)


class BegbountyConfig(AppConfig):
    name = "meldpunt.begbounty"
    label = "begbounty"

    def ready(self) -> None:
        # Labels reports on intake (the domain core's event signal).
        from meldpunt.begbounty import events  # noqa: F401

        # After every migrate: new shipped rules arrive, an admin's edits stay.
        post_migrate.connect(_sync, sender=self, dispatch_uid="begbounty-sync-shipped")
