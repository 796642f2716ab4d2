from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meldpunt.management.backup import BackupError, write_backup


class Command(BaseCommand):
    help = "Write an encrypted backup of the database and attachments (safe while serving)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="where to write the backup; it must not exist yet")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if path.exists():
            raise CommandError(f"{path} exists already; choose another name")
        try:
            summary = write_backup(path)
        except (BackupError, OSError) as exc:
            raise CommandError(f"backup failed: {exc}") from exc
        self.stdout.write(
            f"wrote {summary.path} ({summary.size} bytes, {summary.attachments} attachments); "
            "it opens only with this instance's key file: back that up separately"
        )
