from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from meldpunt.scope.inventory import recheck


class Command(BaseCommand):
    help = (
        "Check the open reports against the scope inventory again (after it changed); a "
        "changed verdict is recorded on the report."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{recheck()} open reports have a new scope verdict.")
