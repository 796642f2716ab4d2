from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from meldpunt.scope.importing import dump


class Command(BaseCommand):
    help = "Write the scope inventory as TOML (the format scope-import reads) to stdout."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(dump(), ending="")
