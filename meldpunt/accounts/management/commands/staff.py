from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from meldpunt.accounts import staff


class Command(BaseCommand):
    help = (
        "Staff accounts from the command line, the way back in after a lost password or "
        "second factor: list, set-password, reset-second-factor, deactivate, activate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser(
            "list", help="user name, role, active, second factor, last sign-in"
        )
        listing.add_argument(
            "--inactive",
            action="store_true",
            help="only active accounts unused for MELDPUNT_STAFF_INACTIVE_DAYS",
        )
        password = sub.add_parser(
            "set-password", help="ask for a new password (twice) and end the user's sessions"
        )
        password.add_argument("username")
        password.add_argument(
            "--stdin", action="store_true", help="read the password from one line of stdin"
        )
        for action, what in [
            ("reset-second-factor", "forget TOTP and recovery codes: the next sign-in enrols"),
            ("deactivate", "no more sign-ins or API calls; ends the user's sessions"),
            ("activate", "allow a deactivated account again"),
        ]:
            sub.add_parser(action, help=what).add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            self._list(only_inactive=options["inactive"])
            return
        user = staff.find_staff(options["username"])
        if user is None:
            raise CommandError(f"no staff account {options['username']!r}")
        name = user.get_username()
        if action == "set-password":
            password = self._read_password() if options["stdin"] else self._ask_password()
            try:
                ended = staff.set_password(user, password)
            except ValidationError as exc:
                raise CommandError("password refused: " + " ".join(exc.messages)) from exc
            self.stdout.write(f"New password set for {name}; {_sessions(ended)} ended.")
        elif action == "reset-second-factor":
            ended = staff.reset_second_factor(user)
            self.stdout.write(
                f"Second factor of {name} removed; {_sessions(ended)} ended. "
                "The next sign-in with the password shows a new QR code to enrol."
            )
        else:
            self._set_active(user, active=action == "activate")

    def _set_active(self, user: User, active: bool) -> None:
        try:
            ended = staff.set_active(user, active)
        except staff.Refused as refused:
            raise CommandError(
                f"{user.get_username()} is the last active administrator; "
                "make another account an administrator first"
            ) from refused
        if active:
            self.stdout.write(f"{user.get_username()} may sign in again.")
        else:
            self.stdout.write(f"{user.get_username()} deactivated; {_sessions(ended)} ended.")

    def _list(self, only_inactive: bool) -> None:
        rows = [("user", "role", "active", "second factor", "last sign-in")]
        for row in staff.list_staff():
            if only_inactive and not row.inactive:
                continue
            factor = (
                f"yes ({row.recovery_codes_left} recovery codes)" if row.second_factor else "no"
            )
            last = (
                timezone.localtime(row.last_login).strftime("%Y-%m-%d %H:%M")
                if row.last_login
                else "never"
            )
            active = ("yes (unused)" if row.inactive else "yes") if row.active else "no"
            rows.append((row.username, row.role, active, factor, last))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            self.stdout.write(
                "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            )

    def _read_password(self) -> str:
        # One line; only its line ending is dropped, spaces belong to the password.
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("no password on standard input")
        return password

    def _ask_password(self) -> str:
        if not sys.stdin.isatty():
            raise CommandError("run it in a terminal, or pass --stdin")
        password = getpass.getpass("New password: ")
        if password != getpass.getpass("New password (again): "):
            raise CommandError("the passwords differ")
        return password


def _sessions(count: int) -> str:
    return "1 session" if count == 1 else f"{count} sessions"
