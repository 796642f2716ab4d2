"""`meldpunt smtpd`: an SMTP listener (aiosmtpd) that takes mail for the security contact.

It answers 250 only after the intake committed the mail, and 451 (try again later) when
it cannot store it, so the sending server keeps the mail until we can. It listens on
loopback by default: on the Internet it belongs behind the organisation's MX, which
does spam filtering, TLS and retries, and relays the contact address here.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.conf import settings
from django.db import close_old_connections, connections

from meldpunt.intake.mail import IntakeResult, TemporaryFailure, process_message
from meldpunt.ops.heartbeat import SMTPD, beat

log = logging.getLogger(__name__)

WORKERS = 2  # concurrent intakes; the database serialises their commits anyway


def accepts(address: str) -> bool:
    """Is this our contact address, or one of its sub-addresses (reply addresses)?"""
    local, _, domain = address.strip().lower().rpartition("@")
    own_local, _, own_domain = str(settings.MELDPUNT_SECURITY_CONTACT).lower().rpartition("@")
    if not local or domain != own_domain:
        return False
    separator = str(settings.MELDPUNT_REPLY_SEPARATOR)
    return local == own_local or (bool(separator) and local.startswith(own_local + separator))


def _take_in(raw: bytes) -> IntakeResult:
    # Runs in a worker thread: Django's ORM is synchronous. The thread holds no database
    # connection between mails, so a restarted database is never met through a dead one.
    close_old_connections()
    try:
        result = process_message(raw)
        beat(SMTPD)  # the last mail accepted, for /metrics
        return result
    finally:
        connections.close_all()


class IntakeHandler:
    """aiosmtpd handler: recipients are checked at RCPT, the mail is taken in at DATA."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="meldpunt-intake")

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not accepts(address):
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        # As a mail server's final delivery does, so a reply sent as Bcc to a report's
        # reply address still finds its report.
        delivered = "".join(f"Delivered-To: {rcpt}\r\n" for rcpt in envelope.rcpt_tos)
        raw = delivered.encode() + content
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.executor, _take_in, raw)
        except TemporaryFailure:
            return "451 4.3.0 Cannot store the message now, try again later"
        except Exception as exc:  # never 250 for a mail we may not have kept
            log.error("smtp intake error (%s)", type(exc).__name__)
            return "451 4.3.0 Cannot store the message now, try again later"
        log.info("smtp mail taken in: %s", result.outcome)
        return "250 OK"

    def close(self) -> None:
        """Wait for intakes under way (their senders get no answer, and will retry)."""
        self.executor.shutdown(wait=True)


def controller(host: str, port: int, handler: IntakeHandler | None = None) -> Controller:
    """A listener on host:port with our size limit; call `.start()` and `.stop()`."""
    # aiosmtpd logs every command line (with addresses) at INFO; we log outcomes only.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    own_domain = str(settings.MELDPUNT_SECURITY_CONTACT).rpartition("@")[2]
    options: dict[str, Any] = {
        "data_size_limit": settings.MELDPUNT_MAIL_MAX_BYTES,
        "server_hostname": own_domain or "localhost",
        "ident": "Meldpunt",
    }
    return Controller(handler or IntakeHandler(), hostname=host, port=port, **options)


def parse_bind(value: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 host in brackets) → (host, port); ValueError with a reason."""
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return host, int(port)
