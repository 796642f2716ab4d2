from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meldpunt.policy import keys
from meldpunt.policy.models import OrgKey


class Command(BaseCommand):
    help = "The organisation's OpenPGP key: show, create (rollover) or import a secret key."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("show", help="print the primary key's fingerprint and the older keys")
        sub.add_parser("create", help="make a new key the primary one; older keys still decrypt")
        imp = sub.add_parser("import", help="import a secret key (armored or binary) as primary")
        imp.add_argument("file", help="path to the secret key, or - for standard input")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "show":
            self._show()
        elif action == "create":
            key = keys.create_key()
            self.stdout.write(f"created {key.fingerprint} (now primary)")
        elif action == "import":
            self._import(options["file"])

    def _show(self) -> None:
        rows = list(OrgKey.objects.all())
        if not rows:
            raise CommandError("no organisation key yet; run `meldpunt keys create`")
        self.stdout.write(rows[0].fingerprint)
        for old in rows[1:]:
            self.stdout.write(f"{old.fingerprint} (older, kept for decryption)")

    def _import(self, name: str) -> None:
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {name}: {exc.strerror}") from exc
        try:
            key = keys.import_key(data)
        except keys.KeyImportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"imported {key.fingerprint} (now primary)")
        if not keys.names_contact(keys.primary().cert):
            self.stderr.write(
                "warning: no user ID of this key carries MELDPUNT_SECURITY_CONTACT; "
                "Web Key Directory clients will not accept it for that address"
            )
