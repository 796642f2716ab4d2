from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from gunicorn.app.base import BaseApplication

from meldpunt.lib.bind import bind_mismatch
from meldpunt.lib.gunicorn_log import PrivateLogger
from meldpunt.policy.commitments import current_version
from meldpunt.reports import outbox
from meldpunt.reports.assessment import align_severities

# The access log shows what was asked and how it went, never who asked: no client
# address, user agent or referrer (the policy promises pseudonymous reporting).
ACCESS_LOG_FORMAT = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from meldpunt.wsgi import application

        return application


def _metrics_across_workers() -> dict[str, Any]:
    """prometheus-client's multiprocess mode: each gunicorn worker writes its request counts
    to a file, and a scrape (answered by any one worker) adds them all up.

    The settings named the directory; it is emptied at each start (counters restart at 0,
    which Prometheus reads as a restart), and a worker that exits is marked dead.
    """
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()

    def child_exit(server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

    return {"child_exit": child_exit}


class Command(BaseCommand):
    help = "Run Meldpunt with gunicorn (several workers) and its static files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bind", default=settings.MELDPUNT_BIND, help="HOST:PORT (MELDPUNT_BIND)"
        )
        parser.add_argument("--workers", type=int, default=settings.MELDPUNT_WORKERS)
        parser.add_argument("--threads", type=int, default=settings.MELDPUNT_THREADS)

    def handle(self, *args: Any, **options: Any) -> None:
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError("the database is not up to date; run `meldpunt migrate` first")
        # The report form shows the policy version: recorded here, before the workers fork
        # and inherit it, the form needs no database (it still answers when that hangs).
        current_version()
        # MELDPUNT_PRIMARY_CVSS may have changed since the last start: the inbox filters on
        # the stored severity, so it must follow the setting before the first request.
        align_severities()
        connection.close()  # workers open their own
        call_command("collectstatic", interactive=False, verbosity=0)
        # The system checks compared MELDPUNT_BIND with the base URL; a --bind of its own
        # is compared here, for the links were already made from the settings.
        if options["bind"] != settings.MELDPUNT_BIND and (
            problem := bind_mismatch(options["bind"], settings.MELDPUNT_BASE_URL)
        ):
            self.stderr.write(f"Warning: {problem} (Set MELDPUNT_BIND instead of --bind.)")
        self.stdout.write(
            f"Meldpunt listening on {options['bind']}, links name {settings.MELDPUNT_BASE_URL}/ "
            f"({options['workers']} workers, {options['threads']} threads each)"
        )
        if sink := outbox.mail_sink():
            self.stdout.write(f"Outbound mail is not sent: mails are written to {sink}")
        self.stdout.flush()
        metrics = _metrics_across_workers() if settings.MELDPUNT_METRICS else {}
        _Server(
            metrics
            | {
                "bind": options["bind"],
                "workers": options["workers"],
                # Threads: one request stuck on the database blocks its thread, not the
                # worker (whose heartbeat goes on, so gunicorn does not kill it either).
                "worker_class": "gthread",
                "threads": options["threads"],
                "logger_class": PrivateLogger,
                "accesslog": "-",
                "access_log_format": ACCESS_LOG_FORMAT,
                "timeout": 60,
                "graceful_timeout": 20,
                "forwarded_allow_ips": "127.0.0.1" if settings.MELDPUNT_TRUSTED_PROXIES else "",
                "limit_request_line": 8190,
                # Several instances may run on one host; none needs gunicorn's control socket.
                "control_socket_disable": True,
            }
        ).run()
