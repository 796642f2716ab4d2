"""Every mail to a finder goes through here: built and sealed when queued, sent with retries.

Plain mail crosses servers we do not control, so it never carries report content: a finder
who gave us a key gets PGP/MIME mail encrypted to it and signed by us, anyone else a notice
that there is news on /status/. A mail is queued in the caller's transaction (it exists
exactly when the news does) with the task that sends it (both in the same commit), or by
the worker's periodic pass `deliver_due`.

Delivery states: QUEUED (not tried yet) and DEFERRED (an attempt failed for a reason that
may pass: no connection, a time-out, an SMTP 4xx; tried again after BACKOFF) are pending;
SENT (our mail server accepted it), FAILED (an SMTP 5xx to the sender, recipient or data,
or out of attempts, or it could not be built), BOUNCED (a delivery failure came back),
UNKNOWN and CANCELLED are final until staff resend.

Never twice: an attempt first claims the mail (a lease of MELDPUNT_OUTBOX_LEASE_SECONDS),
then connects to the mail server, then commits `handover_at` and only then gives the
server the bytes; recording the outcome clears `handover_at`. A mail is sent only by a
worker that committed that mark itself, and a mail found with the mark set once its lease
ran out (its worker died or hung between the mark and the outcome) is never sent again:
it becomes UNKNOWN ("the worker stopped while handing it over; it may have arrived") and
staff decide whether to resend it. A worker that dies before the mark (e.g. while
connecting) leaves a mail that was plainly not handed over, tried again after the lease.
So a finder gets a mail at most once per time staff queued or resent it; the price is
that a crash at the wrong moment asks a human instead of sending again. It holds as long
as one attempt cannot outlast the lease: the settings refuse a lease not longer than
MELDPUNT_SMTP_TIMEOUT.
"""

from __future__ import annotations

import base64
import copy
import email
import email.errors
import functools
import logging
import re
import smtplib
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import pysequoia
from django.conf import settings
from django.core.mail import EmailMessage as DjangoEmailMessage
from django.core.mail import get_connection
from django.db import DatabaseError, transaction
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_tasks import task

from meldpunt.audit import log as audit
from meldpunt.audit.actors import SYSTEM, Actor
from meldpunt.lib import mailpolicy, pgp, pgpmime, replyaddr
from meldpunt.policy import keys
from meldpunt.policy.models import OrgKey
from meldpunt.reports.labels import label
from meldpunt.reports.models import Message, OutboundMail, Report
from meldpunt.reports.services import read_attachment, record_event

log = logging.getLogger(__name__)

# Pauses after the 1st, 2nd, … failed attempt; the last one repeats.
BACKOFF = [
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
]


# How long a claimed mail stays with the worker that claimed it: far longer than a send can
# take (EMAIL_TIMEOUT), so only a worker that died leaves a mail for another pass to settle.
def lease() -> timedelta:
    return timedelta(seconds=settings.MELDPUNT_OUTBOX_LEASE_SECONDS)


BATCH = 100
# A Message-ID as we take it from a finder's mail into In-Reply-To/References: one token in
# angle brackets, so no line break (header injection) or second header can come along.
MSG_ID_RE = re.compile(r"<[^<>\s]{1,245}>")


FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"


def mail_sink() -> str | None:
    """The directory mail is written to instead of being sent, if no mail server is set."""
    return str(settings.EMAIL_FILE_PATH) if settings.EMAIL_BACKEND == FILE_BACKEND else None


def status_url() -> str:
    return f"{settings.MELDPUNT_BASE_URL}{reverse('portal:status')}"


def form_url() -> str:
    return f"{settings.MELDPUNT_BASE_URL}{reverse('report')}"


# --- Queueing ------------------------------------------------------------------------


def _one_line(value: str) -> str:
    """Finder-controlled text for a header: no CR/LF (or other whitespace runs) survive."""
    return " ".join(str(value).split())


def _address(addr_spec: str, name: str = "") -> Address:
    if any(c in addr_spec for c in "\r\n\0"):
        raise ValueError("an address with a line break")
    return Address(display_name=_one_line(name), addr_spec=addr_spec.strip())


def _domain() -> str:
    contact: str = settings.MELDPUNT_SECURITY_CONTACT
    return contact.rpartition("@")[2]


def _sender() -> Address:
    return _address(settings.MELDPUNT_SECURITY_CONTACT, f"{settings.MELDPUNT_ORG_NAME} Security")


def _set_header(mail: EmailMessage, name: str, value: Any) -> None:
    del mail[name]
    mail[name] = value


# What building a mail raises on a bad address or name (the standard library says
# ValueError for an invalid addr_spec, UnicodeError for bytes it cannot encode, …).
UNBUILDABLE = (ValueError, TypeError, UnicodeError, LookupError, email.errors.MessageError)


def queue(
    report: Report | None,
    kind: str,
    to: list[str],
    mail: EmailMessage,
    *,
    name: str = "",
    message: Message | None = None,
) -> OutboundMail:
    """Seal mail in the outbox, to be sent once the caller's transaction commits.

    A mail that cannot be built from what we stored (an address or name the standard
    library refuses, issue 21) is kept as FAILED with the reason, and the caller's action
    (a message, the first response) goes on: the news waits on /status/ instead.
    """
    if not to:
        raise ValueError("a mail needs a recipient")
    now = timezone.now()
    row = OutboundMail(
        report=report,
        thread_message=message,
        created_at=now,
        kind=kind,
        next_attempt_at=now,
        status_changed_at=now,
    )
    try:
        recipients = [str(_address(a).addr_spec) for a in to]
        raw = _build(row, mail, recipients, name, now)
    except UNBUILDABLE as exc:
        return _unbuildable(row, exc)
    row.message_id = str(mail["Message-ID"]).strip()
    row.encrypted = mail.get_content_type() == "multipart/encrypted"
    row.envelope = {"to": recipients, "raw": base64.b64encode(raw).decode("ascii")}
    # Mail and task together; inside the caller's transaction no savepoint of its own (two
    # statements less per mail): nothing here is undone without undoing the caller's work.
    with transaction.atomic(savepoint=False):
        row.save()
        _enqueue_with(str(row.uid))
    log.info("mail %s (%s) queued for %s", row.uid, kind, report.reference if report else "-")
    return row


def _build(
    row: OutboundMail, mail: EmailMessage, recipients: list[str], name: str, now: datetime
) -> bytes:
    _set_header(mail, "From", _sender())
    if row.report is not None:
        _set_header(mail, "Reply-To", _address(replyaddr.reply_address(row.report.reference)))
    if "To" not in mail:
        mail["To"] = [_address(a, name) for a in recipients]
    if "Date" not in mail:
        mail["Date"] = format_datetime(timezone.localtime(now))
    if "Message-ID" not in mail:
        mail["Message-ID"] = f"<{row.uid}@{_domain()}>"
    if "MIME-Version" not in mail:
        mail["MIME-Version"] = "1.0"
    return mail.as_bytes(policy=mailpolicy.SMTP)


def _unbuildable(row: OutboundMail, exc: Exception) -> OutboundMail:
    row.status_changed_at = timezone.now()
    # Only the error's class: its text quotes the address, which is personal data.
    row.status = OutboundMail.Status.FAILED
    row.last_error = f"cannot be built: {type(exc).__name__}"
    row.message_id = f"<{row.uid}@{_domain()}>"
    row.envelope = {"to": [], "raw": ""}
    with transaction.atomic():
        row.save()
        _tell_report(row, "mail_failed", error=row.last_error)
    log.error(
        "mail %s (%s) for %s cannot be built: %s",
        row.uid,
        row.kind,
        row.report.reference if row.report else "-",
        type(exc).__name__,
    )
    return row


def _enqueue(uid: str) -> None:
    deliver.enqueue(uid)


def _enqueue_with(uid: str) -> None:
    """The delivery task, committed with the mail that is to be sent.

    The task queue is a table of this database (django_tasks_db): its row goes into the
    caller's transaction, so a worker sees both at once, and neither if it rolls back. No
    second commit after the main one (on PostgreSQL, one more WAL flush per mail). A task
    that cannot be inserted does not undo the mail: the periodic pass sends it anyway.
    """
    if not _tasks_in_database():
        # Another task backend: only a committed mail may be handed to it.
        transaction.on_commit(functools.partial(_enqueue, uid), robust=True)
        return
    try:
        with transaction.atomic():
            _enqueue(uid)
    except DatabaseError as exc:
        log.warning("delivery task for mail %s not queued (%s)", uid, type(exc).__name__)


def _tasks_in_database() -> bool:
    backend = str(settings.TASKS.get(deliver.backend, {}).get("BACKEND", ""))
    return backend == "django_tasks_db.DatabaseBackend"


# --- News for the finder ------------------------------------------------------------------


def finder_key(report: Report) -> pysequoia.Cert | None:
    """The finder's key if we may still encrypt to it (not expired, not revoked)."""
    armored = str(report.finder.get("pgp_key") or "")
    if not armored:
        return None
    if not OrgKey.objects.exists():
        # Without a key of our own we cannot sign; the news waits on /status/ instead.
        log.warning("no organisation key: notice in clear for %s", report.reference)
        return None
    try:
        checked = pgp.check_public_key(armored)
    except pgp.KeyProblem as problem:
        log.info("key of the finder of %s not usable (%s)", report.reference, problem)
        return None
    return pysequoia.Cert.from_bytes(checked.armored.encode())


def _language(report: Report) -> str:
    return report.language or settings.LANGUAGE_CODE


def notice_text(report: Report, message: Message | None = None) -> str:
    """There is news, and where to read it: nothing else (sent in clear).

    A message's files never travel in clear: the notice only says how many wait there.
    """
    values = _values(report)
    paragraphs = [
        _("There is news about your report %(reference)s.") % values,
        _("To read it, open %(url)s and enter your receipt code.") % values,
    ]
    if count := (message.attachments.count() if message is not None else 0):
        paragraphs.append(
            ngettext(
                "The message has %(count)d attachment; you can download it there.",
                "The message has %(count)d attachments; you can download them there.",
                count,
            )
            % {"count": count}
        )
    paragraphs += [
        _(
            "For your safety this e-mail does not contain the news itself. "
            "Ignore it if you did not report a vulnerability to %(organisation)s."
        )
        % values,
        _("The %(organisation)s security team") % values,
    ]
    return "\n\n".join(paragraphs) + "\n"


def news_text(report: Report, message: Message | None) -> str:
    """The news itself, for a mail encrypted to the finder."""
    values = _values(report)
    if message is not None:
        first = _("The %(organisation)s security team wrote about your report %(reference)s:")
        paragraphs = [first % values, str(message.body.get("text") or "").strip()]
    else:
        values["state"] = label(report.state)
        paragraphs = [_("The status of your report %(reference)s is now: %(state)s.") % values]
    paragraphs += [
        _(
            "You can answer on %(url)s with your receipt code, or by replying to this "
            "e-mail, encrypted to our OpenPGP key."
        )
        % values,
        _("The %(organisation)s security team") % values,
    ]
    return "\n\n".join(paragraphs) + "\n"


def _values(report: Report) -> dict[str, str]:
    return {
        "reference": report.reference,
        "url": status_url(),
        "organisation": settings.MELDPUNT_ORG_NAME,
    }


def _message_files(message: Message | None) -> list[tuple[str, str, bytes]]:
    if message is None:
        return []
    return [
        (
            str(a.meta.get("name") or "attachment"),
            str(a.meta.get("content_type") or ""),
            read_attachment(a),
        )
        for a in message.attachments.all()
    ]


def queue_news(report: Report, message: Message | None = None) -> OutboundMail | None:
    """Tell the finder there is news; the news itself only encrypted to their key."""
    address = str(report.finder.get("email") or "")
    if not address:
        return None
    key = finder_key(report)
    with translation.override(_language(report)):
        if key is not None:
            inner = pgpmime.with_attachments(news_text(report, message), _message_files(message))
            mail = pgpmime.encrypted(keys.encrypt_and_sign(pgpmime.canonical(inner), key))
            subject = _("[%(reference)s] Encrypted message") % _values(report)
        else:
            mail = pgpmime.text_part(notice_text(report, message))
            subject = _("[%(reference)s] News about your report") % _values(report)
    mail["Subject"] = subject
    mail["Content-Language"] = _language(report)
    name = str(report.finder.get("name") or "")
    return queue(report, "news", [address], mail, name=name, message=message)


# --- The automatic answer to a mailed report --------------------------------------------


def _grouped(fingerprint: str) -> str:
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))


def receipt_text(report: Report, receipt_code: str, include_key: bool) -> str:
    """One language's section of the receipt (the active language)."""
    due = formats.date_format(timezone.localtime(report.response_due_at), "DATE_FORMAT")
    values = {**_values(report), "code": receipt_code, "date": due}
    paragraphs = [
        _("Thank you for your report. We received it as %(reference)s.") % values,
        _("We will answer by %(date)s at the latest.") % values,
        _(
            "Your receipt code is %(code)s. With it you can follow your report, read our "
            "messages and answer them on %(url)s. Keep it safe: anyone who has it can "
            "read what we write to you there."
        )
        % values,
    ]
    if include_key:
        values.update(fingerprint=_grouped(keys.fingerprint()), form=form_url())
        paragraphs += [
            _(
                "Your e-mail reached us unencrypted. Our OpenPGP key is attached "
                "(our-key.asc); its fingerprint is %(fingerprint)s. Please encrypt any "
                "further e-mail to us with it, or use our web form at %(form)s."
            )
            % values
        ]
    paragraphs.append(_("The %(organisation)s security team") % values)
    return "\n\n".join(paragraphs) + "\n"


def _clean_msg_id(value: str | None) -> str | None:
    match = MSG_ID_RE.search(value or "")
    return match[0] if match else None


def queue_receipt(
    report: Report,
    *,
    to: str,
    receipt_code: str,
    languages: list[str],
    in_reply_to: str | None,
    encrypt_to: pysequoia.Cert | None,
    include_key: bool,
) -> OutboundMail:
    """The automatic answer to a report that came in by mail (see the module docstring)."""
    languages = languages or [_language(report)]
    sections = []
    for language in languages:
        with translation.override(language):
            sections.append(receipt_text(report, receipt_code, include_key))
    files = []
    if include_key:
        key = keys.public_armored().encode()
        files.append(("our-key.asc", "application/pgp-keys", key))
    entity = pgpmime.with_attachments("\n* * *\n\n".join(sections), files)
    with translation.override(languages[0]):
        if encrypt_to is not None:
            mail = pgpmime.encrypted(keys.encrypt_and_sign(pgpmime.canonical(entity), encrypt_to))
            subject = _("[%(reference)s] Encrypted message") % _values(report)
        else:
            mail = entity
            subject = _("[%(reference)s] We received your report") % _values(report)
    mail["Subject"] = subject
    mail["Content-Language"] = ", ".join(languages)
    mail["Auto-Submitted"] = "auto-replied"
    # Exchange and friends: no out-of-office answers to our automatic answer.
    mail["X-Auto-Response-Suppress"] = "All"
    if msg_id := _clean_msg_id(in_reply_to):
        mail["In-Reply-To"] = msg_id
        mail["References"] = msg_id
    return queue(report, "receipt", [to], mail)


# --- Delivery -----------------------------------------------------------------------------


class _Raw:
    """The stored bytes, as Django's mail backends ask a message for them."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def as_bytes(self, unixfrom: bool = False, linesep: str = "\n") -> bytes:
        return self.raw if linesep == "\r\n" else self.raw.replace(b"\r\n", linesep.encode())

    def as_string(self, unixfrom: bool = False, linesep: str = "\n") -> str:
        return self.as_bytes(unixfrom, linesep).decode("ascii", "replace")


class QueuedMail(DjangoEmailMessage):
    """A mail built when it was queued: every backend gets the same bytes on every attempt."""

    def __init__(self, raw: bytes, to: list[str], return_path: str) -> None:
        parsed = email.message_from_bytes(raw, policy=mailpolicy.DEFAULT)
        plain = parsed.get_body(("plain",))
        super().__init__(
            subject=str(parsed.get("Subject", "")),
            body=plain.get_content() if plain is not None else "",
            from_email=return_path,  # the envelope sender: bounces come back to it (VERP)
            to=to,
        )
        self.raw = raw

    def message(self) -> Any:
        return _Raw(self.raw)

    def __deepcopy__(self, memo: dict[int, Any]) -> QueuedMail:
        return copy.copy(self)  # the locmem backend copies; bytes and lists need no more


# SMTP commands whose 5xx answer refuses this mail for good (sender, recipient, data);
# a 5xx elsewhere (e.g. AUTH) is our configuration and may be fixed: tried again.
PERMANENT_REFUSALS = (
    smtplib.SMTPSenderRefused,
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPDataError,
)


class OutboxError(Exception):
    """A staff action on a mail that its state does not allow; the text says why."""


def smtp_code(exc: BaseException) -> int | None:
    """The SMTP reply code of a refusal, if the server gave one."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [int(v[0]) for v in exc.recipients.values() if v]
        # All refused: permanent only if every refusal is (a 4xx for one may pass).
        return min(codes) if codes else None
    code = getattr(exc, "smtp_code", None)
    return int(code) if isinstance(code, int) and code > 0 else None


def error_text(exc: BaseException) -> str:
    """The exception's class and SMTP code only: the server's text can quote the address."""
    code = smtp_code(exc)
    return f"{type(exc).__name__} {code}" if code else type(exc).__name__


def is_permanent(exc: BaseException) -> bool:
    code = smtp_code(exc)
    return isinstance(exc, PERMANENT_REFUSALS) and code is not None and 500 <= code < 600


def _claim(uid: str, now: datetime) -> OutboundMail | None:
    """Take the mail for this worker, if it is still due: one conditional UPDATE.

    Works alike on PostgreSQL (a concurrent UPDATE waits, then finds the row no longer
    due) and SQLite (writes are serialised). The attempt counts now, so a mail that kills
    its worker cannot be retried forever. A mail whose hand-over was started is never
    claimed again (see `_settle_interrupted`).
    """
    taken = OutboundMail.objects.filter(
        uid=uid,
        status__in=OutboundMail.PENDING,
        next_attempt_at__lte=now,
        handover_at__isnull=True,
    ).update(next_attempt_at=now + lease(), attempts=F("attempts") + 1)
    return OutboundMail.objects.get(uid=uid) if taken else None


def _start_handover(row: OutboundMail) -> bool:
    """Record, committed, that the bytes are about to go to the server; False if not ours.

    The claim must still be ours (same lease, not cancelled meanwhile): a conditional
    UPDATE, committed before any byte of the mail leaves, so a crash from here on leaves
    a mark that keeps every later pass from sending the mail again.
    """
    return bool(
        OutboundMail.objects.filter(
            pk=row.pk,
            status__in=OutboundMail.PENDING,
            next_attempt_at=row.next_attempt_at,
            handover_at__isnull=True,
        ).update(handover_at=timezone.now())
    )


def _mark_sent(row: OutboundMail) -> None:
    now = timezone.now()
    # Still our claim (a resend meanwhile starts a new one); an UNKNOWN set by another
    # pass after our lease ran out is replaced: we know the outcome after all.
    OutboundMail.objects.filter(pk=row.pk, next_attempt_at=row.next_attempt_at).update(
        status=OutboundMail.Status.SENT,
        sent_at=now,
        last_error="",
        handover_at=None,
        status_changed_at=now,
    )
    log.info("mail %s sent (%s)", row.uid, _ref(row))


def _mark_failed(row: OutboundMail, now: datetime, exc: Exception) -> None:
    error = error_text(exc)
    permanent = is_permanent(exc)
    # Only while the claim is still ours: staff may have cancelled the mail meanwhile.
    ours = OutboundMail.objects.filter(
        pk=row.pk, next_attempt_at=row.next_attempt_at, status__in=OutboundMail.PENDING
    )
    if permanent or row.attempts >= settings.MELDPUNT_OUTBOX_MAX_ATTEMPTS:
        with transaction.atomic():
            if ours.update(
                status=OutboundMail.Status.FAILED,
                last_error=error,
                handover_at=None,
                status_changed_at=timezone.now(),
            ):
                _tell_report(row, "mail_failed", error=error)
        log.error(
            "mail %s (%s) failed for good after %d attempts: %s",
            row.uid,
            _ref(row),
            row.attempts,
            error,
        )
        return
    pause = BACKOFF[min(row.attempts, len(BACKOFF)) - 1]
    changed = {} if row.status == OutboundMail.Status.DEFERRED else {"status_changed_at": now}
    ours.update(
        status=OutboundMail.Status.DEFERRED,
        next_attempt_at=now + pause,
        last_error=error,
        handover_at=None,
        **changed,
    )
    log.warning(
        "mail %s (%s) not sent, attempt %d: %s; next try in %s",
        row.uid,
        _ref(row),
        row.attempts,
        error,
        pause,
    )


def _tell_report(row: OutboundMail, kind: str, actor: Actor | str = SYSTEM, **data: Any) -> None:
    """A mail's change that the team must know of goes into its report's history."""
    if row.report_id is None:
        who = actor.audit if isinstance(actor, Actor) else actor
        audit.append(kind, who, "", mail=str(row.uid), mail_kind=row.kind, **data)
        return
    report = Report.objects.get(pk=row.report_id)
    record_event(report, kind, actor, mail=str(row.uid), mail_kind=row.kind, **data)


def _ref(row: OutboundMail) -> str:
    return row.report.reference if row.report_id is not None and row.report else "-"


def _settle_interrupted(now: datetime) -> int:
    """Mark UNKNOWN every mail whose worker stopped while handing it to the server.

    Its lease ran out with the hand-over mark still set: the server may have accepted the
    mail, so it is never sent again; the team decides (resend or leave it).
    """
    stuck = OutboundMail.objects.filter(
        status__in=OutboundMail.PENDING, next_attempt_at__lte=now, handover_at__isnull=False
    )
    settled = 0
    for row in stuck.select_related("report")[:BATCH]:
        with transaction.atomic():
            taken = OutboundMail.objects.filter(
                pk=row.pk, status__in=OutboundMail.PENDING, handover_at=row.handover_at
            ).update(
                status=OutboundMail.Status.UNKNOWN,
                last_error="worker stopped during hand-over",
                status_changed_at=timezone.now(),
            )
            if taken:
                _tell_report(row, "mail_unknown")
        if taken:
            settled += 1
            log.error("mail %s (%s): worker stopped while handing it over", row.uid, _ref(row))
    return settled


def deliver_now(uid: str, now: datetime | None = None) -> bool:
    """Send one queued mail if it is due and no other worker has it; True if it went out."""
    now = now or timezone.now()
    row = _claim(uid, now)
    if row is None:
        return False
    envelope = row.envelope
    raw, to = base64.b64decode(envelope["raw"]), list(envelope["to"])
    mail = QueuedMail(raw, to, replyaddr.bounce_address(row.uid.hex))
    connection = get_connection(fail_silently=False)
    try:
        try:
            # Connect (and STARTTLS, AUTH) before the hand-over mark: a server that is down
            # leaves a mail that is plainly not sent, to be tried again.
            connection.open()
            if not _start_handover(row):
                return False  # cancelled, or another worker took it over meanwhile
            if connection.send_messages([mail]) != 1:
                raise RuntimeError("the mail backend did not send the mail")
        # Whatever the server or network did; only its class name and code are kept, as
        # the server's text can quote the recipient's address.
        except Exception as exc:
            _mark_failed(row, now, exc)
            return False
        # Recorded before QUIT: a worker that dies while saying goodbye leaves it sent.
        _mark_sent(row)
        return True
    finally:
        _close(connection)


def _close(connection: Any) -> None:
    try:
        connection.close()
    # The outcome is known already; a server that hangs up rudely after it changes nothing.
    except Exception as exc:
        log.info("closing the mail connection: %s", type(exc).__name__)


@task()
def deliver(uid: str) -> None:
    """Send one queued mail right after the commit that queued it."""
    deliver_now(uid)


def deliver_due(now: datetime | None = None) -> int:
    """The worker's periodic pass: every pending mail that is due; returns how many went out."""
    now = now or timezone.now()
    _settle_interrupted(now)
    due = OutboundMail.objects.filter(
        status__in=OutboundMail.PENDING, next_attempt_at__lte=now, handover_at__isnull=True
    ).order_by("next_attempt_at")
    return sum(deliver_now(str(uid), now) for uid in due.values_list("uid", flat=True)[:BATCH])


# --- What staff may do with a mail ----------------------------------------------------------

RESENDABLE = (*OutboundMail.LOST, OutboundMail.Status.CANCELLED)


def resend(mail: OutboundMail, actor: Actor) -> OutboundMail:
    """Queue a mail that did not (or may not have) reach(ed) the finder again, same bytes."""
    with transaction.atomic():
        locked = OutboundMail.objects.select_for_update().get(pk=mail.pk)
        if locked.status not in RESENDABLE:
            raise OutboxError(
                _("Only a failed, bounced, unknown or cancelled mail can be sent again.")
            )
        if not locked.envelope.get("to") or not locked.envelope.get("raw"):
            raise OutboxError(
                _("This mail cannot be sent again: it has no recipient or content any more.")
            )
        now = timezone.now()
        before = locked.status
        locked.status = OutboundMail.Status.QUEUED
        locked.attempts = 0
        locked.next_attempt_at = now
        locked.status_changed_at = now
        locked.handover_at = None
        locked.last_error = ""
        locked.save(
            update_fields=[
                "status",
                "attempts",
                "next_attempt_at",
                "status_changed_at",
                "handover_at",
                "last_error",
            ]
        )
        _tell_report(locked, "mail_resent", actor, before=before)
        transaction.on_commit(functools.partial(_enqueue, str(locked.uid)), robust=True)
    log.info("mail %s (%s) queued again by %s", locked.uid, _ref(locked), actor.audit)
    return locked


def cancel(mail: OutboundMail, actor: Actor) -> OutboundMail:
    """Stop a mail that has not gone out yet; refused while a worker is handing it over."""
    with transaction.atomic():
        locked = OutboundMail.objects.select_for_update().get(pk=mail.pk)
        if locked.status not in OutboundMail.PENDING:
            raise OutboxError(_("Only a queued or deferred mail can be cancelled."))
        if locked.handover_at is not None:
            raise OutboxError(
                _("This mail is being handed to the mail server right now; it cannot be cancelled.")
            )
        now = timezone.now()
        OutboundMail.objects.filter(pk=locked.pk).update(
            status=OutboundMail.Status.CANCELLED, status_changed_at=now
        )
        locked.status, locked.status_changed_at = OutboundMail.Status.CANCELLED, now
        _tell_report(locked, "mail_cancelled", actor)
    log.info("mail %s (%s) cancelled by %s", locked.uid, _ref(locked), actor.audit)
    return locked


def listing(state: str = "") -> QuerySet[OutboundMail]:
    """The outbox as staff and the API list it: newest first, optionally one state."""
    mails = OutboundMail.objects.select_related("report").defer("envelope_blob")
    if state:
        mails = mails.filter(status=state)
    return mails.order_by("-created_at", "-pk")


def delivery(mail: OutboundMail | None) -> dict[str, Any] | None:
    """A mail's delivery facts, without address or content (the API and the thread show it)."""
    if mail is None:
        return None
    return {
        "state": mail.status,
        "attempts": mail.attempts,
        "next_attempt_at": mail.next_attempt_at if mail.status in OutboundMail.PENDING else None,
        "last_error": mail.last_error,
        "sent_at": mail.sent_at,
        "bounced_at": mail.bounced_at,
    }
