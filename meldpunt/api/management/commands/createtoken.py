from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from meldpunt.api.models import SCOPES
from meldpunt.api.tokens import ScopeRefused, issue_token


class Command(BaseCommand):
    help = "Create an API token for a staff member; prints it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--name", required=True, help="what the token is for")
        parser.add_argument(
            "--scope",
            action="append",
            choices=SCOPES,
            help="repeat for several; default read, and triage where the role may change",
        )
        parser.add_argument("--days", type=int, help="expires after this many days")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username__iexact=options["email"], is_active=True).first()
        if user is None or getattr(user, "staff", None) is None:
            raise CommandError(f"no active staff account {options['email']}")
        days = options["days"]
        expires_at = timezone.now() + timedelta(days=days) if days else None
        try:
            token = issue_token(user, options["name"], options["scope"], expires_at)
        except ScopeRefused as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(f"API token for {user.get_username()} (shown once):\n  {token}")
