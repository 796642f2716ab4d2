from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email

from meldpunt.accounts.models import Role
from meldpunt.accounts.staff import create_staff


class Command(BaseCommand):
    help = "Create a staff account; prints its TOTP provisioning URI and recovery codes once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--role", required=True, choices=Role.values)

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["email"]
        try:
            validate_email(email)
        except ValidationError as exc:
            raise CommandError(f"{email!r} is not an e-mail address") from exc
        password = os.environ.get("MELDPUNT_STAFF_PASSWORD") or self._ask_password()
        try:
            new = create_staff(email, options["role"], password)
        except ValidationError as exc:
            raise CommandError("password refused: " + " ".join(exc.messages)) from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Created {options['role']} {email}. Shown once; add it to an authenticator app:\n"
            f"  {new.totp_uri}\n"
            "Recovery codes (each works once if the authenticator is lost):\n  "
            + "  ".join(new.recovery_codes)
        )

    def _ask_password(self) -> str:
        if not sys.stdin.isatty():
            raise CommandError("set MELDPUNT_STAFF_PASSWORD or run interactively")
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("the passwords differ")
        return password
