from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from meldpunt.intake import imap
from meldpunt.intake.management.stopping import stop_on_signals
from meldpunt.ops.heartbeat import FETCHMAIL, beat

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Take in mail from the security contact's IMAP mailbox every MELDPUNT_IMAP_POLL_SECONDS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        if problem := imap.config_problem():
            raise CommandError(problem)
        if options["once"]:
            self._once()
            return
        with stop_on_signals() as stop:  # the message under way is finished first
            while not stop.is_set():
                self._poll(stop)
                stop.wait(settings.MELDPUNT_IMAP_POLL_SECONDS)

    def _poll(self, stop: threading.Event) -> None:
        try:
            stats = imap.fetch_once(stop)
            beat(FETCHMAIL)  # a successful poll: /readyz knows the intake is not stalled
            if stats.found:
                log.info("fetchmail: %s", stats)
        except imap.ImapError as exc:
            # Network, TLS or login trouble: one line per pass, and try again next time.
            wait = settings.MELDPUNT_IMAP_POLL_SECONDS
            log.warning("fetchmail: %s; next try in %ss", exc, wait)
        finally:
            close_old_connections()

    def _once(self) -> None:
        try:
            stats = imap.fetch_once()
        except imap.ImapError as exc:
            raise CommandError(str(exc)) from exc
        beat(FETCHMAIL, force=True)
        if stats.deferred:
            raise CommandError(str(stats))
        self.stdout.write(str(stats))
