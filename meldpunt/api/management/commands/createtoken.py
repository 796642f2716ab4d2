from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from meldpunt.api.tokens import issue_token


class Command(BaseCommand):
    help = "Create an API token for a staff member; prints it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--name", required=True, help="what the token is for")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username__iexact=options["email"], is_active=True).first()
        if user is None or getattr(user, "staff", None) is None:
            raise CommandError(f"no active staff account {options['email']}")
        token = issue_token(user, options["name"])
        self.stdout.write(f"API token for {user.get_username()} (shown once):\n  {token}")
