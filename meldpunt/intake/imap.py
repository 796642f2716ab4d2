"""`meldpunt fetchmail`: take mail from the security contact's IMAP mailbox.

A message is marked (keyword + \\Seen, or moved) only after `process_message` returned,
i.e. after its report or failed intake was committed. A crash in between leaves it
unmarked, and the next pass finds its Message-ID already taken in ("duplicate") and
marks it then: nothing is lost and nothing doubles. Logs carry UIDs and counts only.
"""

from __future__ import annotations

import contextlib
import imaplib
import ipaddress
import logging
import re
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings

from meldpunt.intake.mail import TemporaryFailure, process_message

log = logging.getLogger(__name__)

# Our mark. \Seen alone is not enough: a person may read the mailbox too.
DONE = "$Meldpunt"
TIMEOUT = 60  # seconds per network operation


class ImapError(Exception):
    """The mailbox cannot be used (configuration, network, TLS, login); one line says why."""


@dataclass
class FetchStats:
    found: int = 0  # messages not yet processed when the pass began
    processed: int = 0  # taken in and marked
    outcomes: Counter[str] = field(default_factory=Counter)
    deferred: bool = False  # the intake could not store: the rest waits for the next pass

    def __str__(self) -> str:
        details = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.outcomes.items()))
        text = f"{self.processed} of {self.found} messages processed"
        text += f" ({details})" if details else ""
        return text + ("; the rest waits: the intake cannot store now" if self.deferred else "")


def config_problem() -> str:
    """Why `fetchmail` cannot run with these settings, or ""."""
    missing = [
        name
        for name in ("MELDPUNT_IMAP_HOST", "MELDPUNT_IMAP_USER", "MELDPUNT_IMAP_PASSWORD")
        if not getattr(settings, name)
    ]
    if missing:
        return f"IMAP is not configured: set {', '.join(missing)}"
    if settings.MELDPUNT_IMAP_SECURITY == "none" and not _is_loopback(settings.MELDPUNT_IMAP_HOST):
        # The password and every report would cross the network in clear.
        return (
            f"MELDPUNT_IMAP_SECURITY=none is only allowed for a server on this machine, "
            f"not {settings.MELDPUNT_IMAP_HOST}; use tls or starttls"
        )
    return ""


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def connect() -> imaplib.IMAP4:
    """A logged-in connection, over verified TLS unless the server is on loopback."""
    if problem := config_problem():
        raise ImapError(problem)
    host, port = settings.MELDPUNT_IMAP_HOST, settings.MELDPUNT_IMAP_PORT
    security = settings.MELDPUNT_IMAP_SECURITY
    where = f"{host}:{port}"
    conn: imaplib.IMAP4 | None = None
    try:
        context = ssl.create_default_context(cafile=settings.MELDPUNT_IMAP_CA_FILE or None)
        if security == "tls":
            conn = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=TIMEOUT)
        else:
            conn = imaplib.IMAP4(host, port, timeout=TIMEOUT)
            if security == "starttls":
                conn.starttls(context)
        conn.login(settings.MELDPUNT_IMAP_USER, settings.MELDPUNT_IMAP_PASSWORD)
        return conn
    except ssl.SSLCertVerificationError as exc:
        _drop(conn)
        raise ImapError(f"{where}: certificate not trusted ({exc.verify_message})") from exc
    except ssl.SSLError as exc:
        _drop(conn)
        raise ImapError(f"{where}: TLS failed ({exc.reason or type(exc).__name__})") from exc
    except imaplib.IMAP4.error as exc:
        _drop(conn)
        raise ImapError(f"{where}: {_first_line(exc)}") from exc
    except OSError as exc:
        _drop(conn)
        raise ImapError(f"cannot reach {where}: {exc.strerror or type(exc).__name__}") from exc


def _first_line(exc: BaseException) -> str:
    # imaplib puts the server's answer in as bytes.
    arg = exc.args[0] if exc.args else ""
    text = arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def _drop(conn: imaplib.IMAP4 | None) -> None:
    if conn is not None:
        with contextlib.suppress(OSError):
            conn.shutdown()


def fetch_once(stop: threading.Event | None = None) -> FetchStats:
    """One pass over the folder: take in every unmarked message, oldest first."""
    conn = connect()
    try:
        return _pass(conn, stop)
    except (imaplib.IMAP4.error, OSError) as exc:
        where = f"{settings.MELDPUNT_IMAP_HOST}:{settings.MELDPUNT_IMAP_PORT}"
        raise ImapError(f"{where}: {_first_line(exc)}") from exc
    finally:
        try:
            conn.logout()
        except (imaplib.IMAP4.error, OSError):
            _drop(conn)


def _quote(name: str) -> str:
    # imaplib sends arguments as they are; a folder name may hold spaces or quotes.
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pass(conn: imaplib.IMAP4, stop: threading.Event | None) -> FetchStats:
    folder = settings.MELDPUNT_IMAP_FOLDER
    target = settings.MELDPUNT_IMAP_PROCESSED_FOLDER
    target = "" if target == folder else target
    typ, _ = conn.select(_quote(folder))
    if typ != "OK":
        raise ImapError(f"the folder {folder!r} cannot be opened")
    if not target and not _can_keep_keyword(conn):
        raise ImapError(
            f"the server cannot mark messages in {folder!r} with {DONE}; "
            "set MELDPUNT_IMAP_PROCESSED_FOLDER"
        )
    capabilities = _capabilities(conn)
    if target:
        _ensure_folder(conn, target)
    typ, data = conn.uid("SEARCH", "UNKEYWORD", DONE, "UNDELETED")
    uids = [u.decode() for u in (data[0] or b"").split()] if typ == "OK" else []
    stats = FetchStats(found=len(uids))
    for uid in uids:
        if stop is not None and stop.is_set():
            break
        raw = _fetch(conn, uid)
        if raw is None:  # expunged by someone else since the search
            continue
        try:
            result = process_message(raw)
        except TemporaryFailure:
            log.warning("imap uid %s left for the next pass: the intake cannot store now", uid)
            stats.deferred = True
            break
        _mark(conn, uid, target, capabilities)
        stats.processed += 1
        stats.outcomes[result.outcome] += 1
        log.info("imap uid %s: %s (%d bytes)", uid, result.outcome, len(raw))
    return stats


def _can_keep_keyword(conn: imaplib.IMAP4) -> bool:
    _, data = conn.response("PERMANENTFLAGS")
    flags = b" ".join(d for d in data if isinstance(d, bytes))
    if not flags:  # RFC 3501: without PERMANENTFLAGS, every flag is permanent
        return True
    return b"\\*" in flags or DONE.encode() in flags


def _capabilities(conn: imaplib.IMAP4) -> set[str]:
    # Asked again after login: servers announce MOVE and UIDPLUS only to a logged-in user.
    typ, data = conn.capability()
    if typ != "OK" or not data or not isinstance(data[0], bytes):
        return set()
    return set(data[0].decode(errors="replace").upper().split())


def _ensure_folder(conn: imaplib.IMAP4, name: str) -> None:
    typ, data = conn.list('""', _quote(name))
    if typ == "OK" and data and data[0] is not None:
        return
    typ, _ = conn.create(_quote(name))
    if typ != "OK":
        raise ImapError(f"the folder {name!r} does not exist and cannot be created")
    log.info("created the IMAP folder for processed mail")


def _fetch(conn: imaplib.IMAP4, uid: str) -> bytes | None:
    """The message, or its first MAX+1 bytes if it is larger.

    The intake records a larger mail as a failed "too_large" intake and keeps its start,
    so the team sees it; a partial fetch keeps our memory bounded by the limit.
    """
    limit = settings.MELDPUNT_MAIL_MAX_BYTES + 1
    typ, data = conn.uid("FETCH", uid, f"(BODY.PEEK[]<0.{limit}>)")
    if typ != "OK":
        raise ImapError(f"the server refused to give message uid {uid}")
    for item in data:
        # Other untagged FETCH answers (flag changes by another client) may come along.
        if isinstance(item, tuple) and b"BODY[" in item[0] and _uid_in(item[0]) in (uid, None):
            return bytes(item[1])
    return None


def _uid_in(header: bytes) -> str | None:
    match = re.search(rb"\bUID (\d+)", header)
    return match[1].decode() if match else None


def _mark(conn: imaplib.IMAP4, uid: str, target: str, capabilities: set[str]) -> None:
    # The keyword first: if the move fails, the message is still never taken in twice.
    typ, _ = conn.uid("STORE", uid, "+FLAGS.SILENT", f"({DONE} \\Seen)")
    if typ != "OK":
        raise ImapError(f"the server refused to mark message uid {uid}")
    if not target:
        return
    if "MOVE" in capabilities:
        typ, _ = conn.uid("MOVE", uid, _quote(target))
    else:
        typ, _ = conn.uid("COPY", uid, _quote(target))
        if typ == "OK":
            typ, _ = conn.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
        if typ == "OK":
            # UID EXPUNGE removes only this message, not others someone marked \Deleted.
            typ, _ = conn.uid("EXPUNGE", uid) if "UIDPLUS" in capabilities else conn.expunge()
    if typ != "OK":
        log.warning("imap uid %s is marked but could not be moved", uid)
