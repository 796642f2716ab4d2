from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from meldpunt.audit.log import append as audit
from meldpunt.scope.importing import load_file
from meldpunt.scope.inventory import recheck
from meldpunt.scope.matching import AssetError

OPERATOR = "operator"


class Command(BaseCommand):
    help = (
        "Load the scope inventory from a TOML file of [[asset]] tables (docs/scope.md): adds "
        "new assets and updates known ones; --replace also removes those not in the file. "
        "Then checks the open reports again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the TOML file")
        parser.add_argument(
            "--replace", action="store_true", help="remove the assets the file does not list"
        )
        parser.add_argument(
            "--no-recheck", action="store_true", help="do not check the open reports again"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with transaction.atomic():
                count = load_file(options["file"], replace=options["replace"])
                audit("scope_imported", OPERATOR, assets=count, replace=options["replace"])
        except (OSError, AssetError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{count} assets loaded.")
        if not options["no_recheck"]:
            self.stdout.write(f"{recheck()} open reports have a new scope verdict.")
