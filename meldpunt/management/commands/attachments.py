from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meldpunt.lib import crypto
from meldpunt.reports import attachment_store
from meldpunt.reports.models import Attachment


class Command(BaseCommand):
    help = (
        "Move existing attachments between the data directory and the database, one by one, "
        "each verified by its SHA-256 before its source goes; safe to interrupt and run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["move"])
        parser.add_argument("--to", required=True, choices=["database", "files"])

    def handle(self, *args: Any, **options: Any) -> None:
        to_database = options["to"] == "database"
        move = attachment_store.move_to_database if to_database else attachment_store.move_to_files
        # Those still in the other place; a re-run after an interruption picks up the rest.
        # (Rows already moved are passed once more when going to the database, so a file
        # left by a run stopped between its commit and the file's removal goes too.)
        todo = Attachment.objects.order_by("pk")
        if not to_database:
            todo = todo.filter(in_database=True)
        pks = list(todo.values_list("pk", flat=True))
        moved = failed = 0
        for done, pk in enumerate(pks, 1):
            try:
                moved += move(pk)
            except Attachment.DoesNotExist:
                continue  # purged meanwhile
            except (attachment_store.MoveError, crypto.DecryptionError) as exc:
                failed += 1
                self.stderr.write(f"attachment #{pk}: {exc}")
            if done % 100 == 0 or done == len(pks):
                self.stdout.write(f"{done}/{len(pks)} checked, {moved} moved")
        self.stdout.write(f"moved {moved} attachments to the {options['to']}; {failed} failed")
        if failed:
            raise CommandError(
                f"{failed} attachments could not be moved; they stay where they were"
            )
