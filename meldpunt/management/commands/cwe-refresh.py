from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meldpunt.reports import cwe


class Command(BaseCommand):
    help = (
        "Rebuild the CWE catalogue from MITRE's download "
        "(cwec_vX.Y.xml from cwec_latest.xml.zip, or a view's .csv)."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("download", type=Path, help="cwec_vX.Y.xml or a CWE .csv file")
        parser.add_argument(
            "--cwe-version", default="", help="the CWE version, when the file does not say it"
        )
        parser.add_argument(
            "--output", type=Path, default=cwe.CATALOGUE, help="where the catalogue is written"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            found = cwe.read_download(options["download"], options["cwe_version"])
        except (OSError, cwe.CatalogueError) as exc:
            raise CommandError(str(exc)) from None
        before = cwe.catalogue(options["output"]) if options["output"].exists() else None
        cwe.write(found, options["output"])
        was = f" (was {before.version}, {len(before.weaknesses)})" if before else ""
        self.stdout.write(f"CWE {found.version}: {len(found.weaknesses)} weaknesses{was}.")
