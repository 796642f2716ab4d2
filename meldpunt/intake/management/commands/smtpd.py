from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from meldpunt.intake import smtp
from meldpunt.intake.management.stopping import stop_on_signals


class Command(BaseCommand):
    help = (
        "Take mail for the security contact over SMTP. Listens on loopback by default; "
        "on the Internet, put it behind the organisation's MX."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bind", default=settings.MELDPUNT_SMTPD_BIND, help="HOST:PORT (MELDPUNT_SMTPD_BIND)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            host, port = smtp.parse_bind(options["bind"])
        except ValueError as exc:
            raise CommandError(f"--bind: {exc}") from exc
        intake = smtp.IntakeHandler()
        listener = smtp.controller(host, port, intake)
        with stop_on_signals() as stop:
            try:
                listener.start()
            except OSError as exc:  # the address is taken, or not one of this host's
                intake.close()
                raise CommandError(
                    f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                ) from exc
            self.stdout.write(f"Meldpunt takes mail on {host}:{port}")
            self.stdout.flush()
            try:
                while not stop.wait(1.0):
                    pass
            finally:
                # New connections are refused first; then the intakes under way finish.
                listener.stop()
                intake.close()
        self.stdout.write("stopped")
