from __future__ import annotations

from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from meldpunt.audit.log import append as audit
from meldpunt.lib import crypto
from meldpunt.lib.sealed import Sealed
from meldpunt.lib.storage import save_durably
from meldpunt.reports import attachment_store
from meldpunt.reports.models import Attachment


def _sealed_fields(model: type) -> list[Sealed]:
    return [v for v in vars(model).values() if isinstance(v, Sealed)]


def sealed_models() -> list[type]:
    """Every model with a sealed field; Attachment also has files."""
    found = [m for m in apps.get_models() if _sealed_fields(m)]
    return found + ([Attachment] if Attachment not in found else [])


class Command(BaseCommand):
    help = "Add a new master key and re-wrap every sealed value and attachment under it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-new-key",
            action="store_true",
            help="only finish re-wrapping under the current primary key (after an interruption)",
        )
        parser.add_argument(
            "--retire-old",
            action="store_true",
            help="afterwards remove the old master keys from the key file",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(settings.MELDPUNT_KEY_FILE)
        if not options["no_new_key"]:
            new_id = crypto.add_master_key(path)
            self.stdout.write(f"new primary master key {new_id}")
        keyring = crypto.load_keyring()
        rows = files = 0
        for model in sealed_models():
            fields = _sealed_fields(model)
            for pk in model.objects.values_list("pk", flat=True).iterator():  # type: ignore[attr-defined]
                with transaction.atomic():
                    obj = model.objects.select_for_update().get(pk=pk)  # type: ignore[attr-defined]
                    changed = []
                    for f in fields:
                        blob = bytes(getattr(obj, f.column) or b"")
                        if blob and keyring.key_id_of(blob) != keyring.primary:
                            setattr(obj, f.column, keyring.rewrap(blob, f.aad(obj)))
                            changed.append(f.column)
                    if changed:
                        obj.save(update_fields=changed)
                        rows += 1
                if model is Attachment:
                    files += self._rewrap_file(keyring, pk)
        self.stdout.write(f"re-wrapped {rows} rows and {files} attachment files")
        audit("master_key_rotated", "operator", primary=keyring.primary, rows=rows, files=files)
        if options["retire_old"]:
            retired = crypto.retire_master_keys(path, keep=keyring.primary)
            audit("master_keys_retired", "operator", retired=retired)
            self.stdout.write(f"retired master keys: {', '.join(retired) or 'none'}")

    def _rewrap_file(self, keyring: crypto.Keyring, pk: int) -> int:
        att = Attachment.objects.get(pk=pk)
        if att.in_database:
            return int(attachment_store.rewrap(att, keyring))
        with default_storage.open(att.storage_name, "rb") as fh:
            blob = fh.read()
        if keyring.key_id_of(blob) == keyring.primary:
            return 0
        # New file first, then point the row at it, then drop the old one: crash-safe.
        new_name = save_durably(
            default_storage, att.new_storage_name(), keyring.rewrap(blob, att.data_aad)
        )
        old_name = att.storage_name
        Attachment.objects.filter(pk=pk).update(storage_name=new_name)
        default_storage.delete(old_name)
        return 1
