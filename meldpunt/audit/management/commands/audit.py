from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meldpunt.audit.log import verify


class Command(BaseCommand):
    help = (
        "The audit log: `meldpunt audit verify` checks that no entry was edited, removed or moved."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("verify", help="check the hash chain; exit 1 naming the first bad entry")

    def handle(self, *args: Any, **options: Any) -> None:
        verdict = verify()
        if not verdict.ok:
            raise CommandError(f"audit log damaged: {verdict.problem}")
        self.stdout.write(f"audit log intact: {verdict.checked} entries")
