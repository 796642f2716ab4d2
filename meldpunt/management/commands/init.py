from __future__ import annotations

import io
import os
import secrets
from pathlib import Path
from typing import Any

import segno
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from meldpunt.accounts.models import Role
from meldpunt.accounts.staff import create_staff
from meldpunt.lib.crypto import create_key_file
from meldpunt.policy import keys
from meldpunt.policy.commitments import current_version
from meldpunt.policy.models import OrgKey


class Command(BaseCommand):
    help = "Prepare a data directory: key file, database, static files, first staff account."
    # The key file this command creates is what the checks look for.
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        data_dir = Path(settings.DATA_DIR)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_file = Path(settings.MELDPUNT_KEY_FILE)
        if not key_file.exists():
            create_key_file(key_file)
            self.stdout.write(
                f"Created the at-rest key file {key_file}. Back it up: "
                "without it no report can be read."
            )
        call_command("check", fail_level="ERROR")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        current_version()
        if not OrgKey.objects.exists():
            key = keys.create_key()
            self.stdout.write(
                f"Created the organisation's OpenPGP key {key.fingerprint} "
                "(`meldpunt keys import FILE` replaces it with an existing one)."
            )
        self._first_staff_account()

    def _first_staff_account(self) -> None:
        if get_user_model().objects.exists():
            return
        email = os.environ.get("MELDPUNT_ADMIN_EMAIL", "admin@localhost")
        password = secrets.token_urlsafe(18)
        new = create_staff(email, Role.ADMIN, password)
        qr = io.StringIO()
        segno.make(new.totp_uri, error="m").terminal(out=qr, compact=True)
        self.stdout.write(
            "Created the first staff account (admin). This is shown once:\n"
            f"  sign in at: {settings.MELDPUNT_BASE_URL}/triage/login/\n"
            f"  user:       {email}\n"
            f"  password:   {password}\n"
            "  second factor: scan this with an authenticator app, or enter the URI by hand:\n"
            f"{qr.getvalue()}"
            f"  {new.totp_uri}\n"
            "  recovery codes (each works once): " + "  ".join(new.recovery_codes)
        )
