from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from meldpunt.accounts import inactive, sessions
from meldpunt.advisories.publishing import publish_due
from meldpunt.lib import changes
from meldpunt.ops.heartbeat import WORKER, beat
from meldpunt.policy.securitytxt import renew_if_due
from meldpunt.reports import orphans, outbox, promises
from meldpunt.reports.retention import purge_due
from meldpunt.triage.reminders import send_due_reminders
from meldpunt.webhooks import delivery as webhooks

log = logging.getLogger(__name__)


def _reminders() -> None:
    if sent := send_due_reminders():
        log.info("sent %d reminders", sent)


def _outbox() -> None:
    if mailed := outbox.deliver_due():
        log.info("sent %d mails from the outbox", mailed)


def _webhooks() -> None:
    # Deliveries whose enqueue after commit was lost, and retries whose backoff ran out.
    if sent := webhooks.deliver_all():
        log.info("delivered %d webhooks", sent)


def _promises() -> None:
    # Time and mail delivery change promises without an event; reports without a ledger
    # get theirs here too (the backfill).
    if refreshed := promises.refresh_due():
        log.info("refreshed the promise ledger of %d reports", refreshed)


def _security_txt() -> None:
    if renew_if_due():
        log.info("security.txt signed anew")


def _retention() -> None:
    done = purge_due()
    if done.attachments or done.contacts:
        log.info(
            "purged attachments of %d and contact data of %d reports",
            done.attachments,
            done.contacts,
        )


def _advisories() -> None:
    if published := publish_due():
        log.info("published %d scheduled advisories", published)


def _orphan_files() -> None:
    # Walking every attachment file costs more than the other jobs: at most once an hour.
    global _orphans_checked
    if time.monotonic() - _orphans_checked < ORPHAN_PASS_SECONDS:
        return
    _orphans_checked = time.monotonic()
    if removed := orphans.remove_orphan_files():
        log.info("removed %d attachment files that no row names", removed)


def _staff_accounts() -> None:
    # Unused accounts are a way in after their owner left; each is reported once.
    if reported := inactive.report_inactive():
        log.info("reported %d unused staff accounts to the admins", reported)
    sessions.purge_stale()


def _data_version() -> None:
    # One row per writing transaction since the last pass, folded into one.
    changes.compact()


ORPHAN_PASS_SECONDS = 3600
_orphans_checked = -float(ORPHAN_PASS_SECONDS)

JOBS = [
    _reminders,
    _advisories,
    _outbox,
    _promises,
    _webhooks,
    _security_txt,
    _retention,
    _orphan_files,
    _staff_accounts,
    _data_version,
]


def run_schedule() -> None:
    """The periodic jobs; each is idempotent (several workers may run them) and runs alone."""
    for job in JOBS:
        try:
            # Between jobs too: a long one then reads as busy, a stuck one as stale.
            beat(WORKER)
            job()
        except Exception:
            log.exception(
                "%s failed; next try in %ss", job.__name__, settings.MELDPUNT_SCHEDULE_SECONDS
            )
        finally:
            close_old_connections()


class Command(BaseCommand):
    help = "Run background work: queued tasks, and reminders every MELDPUNT_SCHEDULE_SECONDS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once",
            action="store_true",
            help="run the periodic jobs and queued tasks once, then exit",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            run_schedule()
            call_command("db_worker", batch=True, startup_delay=False, verbosity=0)
            return
        stop = threading.Event()

        def schedule() -> None:
            while not stop.is_set():
                run_schedule()
                stop.wait(settings.MELDPUNT_SCHEDULE_SECONDS)

        threading.Thread(target=schedule, name="meldpunt-schedule", daemon=True).start()
        try:
            call_command("db_worker", startup_delay=True)  # handles SIGTERM/SIGINT itself
        finally:
            stop.set()
