from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from meldpunt.management.backup import BackupError, restore_backup


class Command(BaseCommand):
    help = "Restore a backup from `meldpunt backup` into an empty instance with the same key file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the backup file")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        call_command("migrate", interactive=False, verbosity=0)
        try:
            summary = restore_backup(path)
        except (BackupError, OSError) as exc:
            raise CommandError(f"restore failed: {exc}") from exc
        # A backup from an older version: bring its tables up to date.
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write(f"restored the database and {summary.attachments} attachments")
