"""Creating reports and messages: the one path every intake channel goes through.

Attachments stored as files are sealed and written before the database transaction; if
the transaction fails they are removed again, so nothing is half-stored. Attachments stored
in the database (attachment_store) are sealed into the same transaction as their rows.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from meldpunt.audit import log as audit
from meldpunt.audit.actors import Actor
from meldpunt.lib import chunks, crypto, deadlines, receipt
from meldpunt.lib.storage import save_durably
from meldpunt.lib.targets import Target
from meldpunt.lib.uploads import IncomingFile
from meldpunt.policy.models import PolicyVersion
from meldpunt.reports import attachment_store, promises, signals
from meldpunt.reports.models import (
    AffectedHost,
    Attachment,
    Channel,
    Credit,
    Event,
    Message,
    OutboundMail,
    Report,
)

log = logging.getLogger(__name__)


@dataclass
class NewReport:
    channel: str
    language: str
    policy_version: PolicyVersion
    category: str
    out_of_scope: bool
    targets: list[Target]
    content: dict[str, Any]
    finder: dict[str, Any]
    credit: str = Credit.NONE
    finder_disclosure_date: date | None = None
    files: list[IncomingFile] = field(default_factory=list)
    # A secret that identifies one submission attempt; a retry with it finds the first report.
    submission_seed: bytes | None = None
    # Mail only: whether it came encrypted (None for the web form).
    received_encrypted: bool | None = None


@dataclass(frozen=True)
class Receipt:
    report: Report
    code: str
    # Where the new report's attachment files were stored (none for attachments in the
    # database, and for a receipt found again).
    storage_names: tuple[str, ...] = ()


def host_digest(host: str) -> bytes:
    return crypto.load_keyring().index("host", host)


def submission_digest(seed: bytes) -> bytes:
    return crypto.load_keyring().index("submission", seed.hex())


class StorageFull(OSError):
    """The data directory is at its limit: nothing was stored; try again later."""


def check_space(incoming: int) -> None:
    """Refuse new attachment bytes when the disk or the configured quota would run out."""
    if incoming <= 0:
        return
    free = shutil.disk_usage(settings.DATA_DIR).free
    if free - incoming < settings.MELDPUNT_DISK_MIN_FREE_BYTES:
        raise StorageFull("too little free disk space")
    quota: int = settings.MELDPUNT_ATTACHMENTS_MAX_BYTES
    if quota:
        used = Attachment.objects.aggregate(total=Sum("size"))["total"] or 0
        if used + incoming > quota:
            raise StorageFull("attachment quota reached")


@dataclass
class StoredFile:
    """An attachment ready for its row: its file written (name), or its data to seal in."""

    attachment: Attachment
    name: str  # "" when it goes into the database
    data: bytes | None = None
    # Sealed while the upload came in (web uploads for the database store).
    sealed: chunks.SealingSpool | None = None


def _store_files(files: Iterable[IncomingFile]) -> list[StoredFile]:
    files = list(files)
    check_space(sum(f.size for f in files))
    in_database = attachment_store.store_in_database()
    stored: list[StoredFile] = []
    try:
        for incoming in files:
            if incoming.sealed is not None:
                stored.append(_sealed_file(incoming, incoming.sealed))
                continue
            att = Attachment(uid=uuid.uuid4(), size=len(incoming.data), in_database=in_database)
            att.meta = {
                "name": incoming.name,
                "content_type": incoming.content_type,
                "sha256": hashlib.sha256(incoming.data).hexdigest(),
            }
            if in_database:
                att.storage_name = att.new_storage_name()
                stored.append(StoredFile(att, "", incoming.data))
                continue
            sealed = crypto.load_keyring().seal(incoming.data, att.data_aad)
            name = save_durably(default_storage, att.new_storage_name(), sealed)
            att.storage_name = name
            stored.append(StoredFile(att, name))
    except BaseException:
        _remove_files(s.name for s in stored)
        raise
    return stored


def _sealed_file(incoming: IncomingFile, spool: chunks.SealingSpool) -> StoredFile:
    # Sealed under its uid while it came in: it goes into the database whatever the store
    # says now (each row says where its data is).
    if incoming.uid is None:
        raise ValueError("a sealed file comes with the uid it was sealed for")
    att = Attachment(uid=incoming.uid, size=spool.size, in_database=True)
    att.meta = {
        "name": incoming.name,
        "content_type": incoming.content_type,
        "sha256": spool.sha256,
    }
    att.storage_name = att.new_storage_name()
    return StoredFile(att, "", sealed=spool)


@contextmanager
def kept_files(files: Iterable[IncomingFile]) -> Iterator[list[StoredFile]]:
    """Seal and store files before the caller's transaction; gone again if the block fails.

    Wrap the transaction in it (`with kept_files(f) as stored, transaction.atomic():`): a
    refusal, a crash or a failed commit leaves neither the rows nor the files. Pieces sealed
    while an upload came in are stored in the transaction; their temporary files are
    closed (and so gone) when the block ends, however it ends.
    """
    files = list(files)
    try:
        stored = _store_files(files)
        try:
            yield stored
        except BaseException:
            _remove_files(s.name for s in stored)
            raise
    finally:
        for f in files:
            if f.sealed is not None:
                f.sealed.close()


def attach(
    stored: list[StoredFile],
    report: Report,
    now: datetime,
    message: Message | None = None,
) -> None:
    """Save the attachments' rows (and the data of those kept in the database) in the caller's
    transaction."""
    for s in stored:
        s.attachment.report, s.attachment.message, s.attachment.created_at = report, message, now
    # Both PostgreSQL and SQLite (3.35+) return the new keys, which the pieces refer to.
    Attachment.objects.bulk_create(s.attachment for s in stored)
    for s in stored:
        if s.data is not None:
            attachment_store.write_chunks(s.attachment, s.data)
        elif s.sealed is not None:
            attachment_store.write_sealed(s.attachment, s.sealed)


def _remove_files(names: Iterable[str]) -> None:
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except OSError:
            log.warning("could not remove orphaned attachment %s", name)


def submit_report(new: NewReport) -> Receipt:
    """Store a new report with its attachments; return it with its receipt code (shown once)."""
    code = (
        receipt.code_from_seed(new.submission_seed) if new.submission_seed else receipt.new_code()
    )
    with kept_files(new.files) as stored, transaction.atomic():
        now = timezone.now()
        report = Report(
            created_at=now,
            channel=new.channel,
            category=new.category,
            out_of_scope=new.out_of_scope,
            language=new.language,
            policy_version=new.policy_version,
            credit=new.credit,
            finder_disclosure_date=new.finder_disclosure_date,
            response_due_at=deadlines.due_after(now, settings.MELDPUNT_FIRST_RESPONSE_DAYS),
            has_contact=bool(new.finder.get("email")),
            has_pgp_key=bool(new.finder.get("pgp_key")),
            received_encrypted=new.received_encrypted,
            receipt_digest=receipt.digest(code),
            submission_digest=(
                submission_digest(new.submission_seed) if new.submission_seed else None
            ),
        )
        report.content = new.content
        report.finder = new.finder
        report.save()
        AffectedHost.objects.bulk_create(
            AffectedHost(report=report, digest=host_digest(h))
            for h in sorted({t.host for t in new.targets})
        )
        attach(stored, report, now)
        _record_event(report, "received", "finder", {"channel": new.channel}, first=True)
    log.info("report %s received via %s", report.reference, new.channel)
    # Files only: an attachment sealed into the database goes with the transaction.
    names = tuple(f.name for f in stored if f.name)
    return Receipt(report=report, code=code, storage_names=names)


def find_resubmission(seed: bytes) -> Receipt | None:
    """The report an earlier post of the same form created, if any."""
    report = Report.objects.filter(submission_digest=submission_digest(seed)).first()
    if report is None:
        return None
    return Receipt(report=report, code=receipt.code_from_seed(seed))


def may_show_again(earlier: Receipt) -> bool:
    """A receipt is shown again to a re-post of its form only for a short while."""
    window = timedelta(minutes=settings.MELDPUNT_RESUBMIT_MINUTES)
    return earlier.report.created_at >= timezone.now() - window


def record_event(report: Report, kind: str, actor: Actor | str, **data: Any) -> Event:
    """Append to the report's history and, in the same transaction, to the audit log."""
    return _record_event(report, kind, actor, data)


def _record_event(
    report: Report, kind: str, actor: Actor | str, data: dict[str, Any], first: bool = False
) -> Event:
    """record_event; first: the report was stored in this transaction and this is its first
    event (its ledger is then written at once, not read back and compared)."""
    who = actor if isinstance(actor, Actor) else Actor(actor, actor)
    event = Event.objects.create(
        report=report, created_at=timezone.now(), kind=kind, actor=who.event, data=data
    )
    audit.append(kind, who.audit, report.reference, **data)
    # The ledger follows every change in the same transaction: what changes a report is an event.
    if first:
        promises.start(report, event)
    else:
        promises.refresh(report, event.created_at)
    # Listeners (webhooks) queue their work in this same transaction: it exists iff the event does.
    signals.event_recorded.send(sender=Report, report=report, event=event)
    return event


def add_message(
    report: Report,
    author: str,
    text: str,
    files: list[IncomingFile],
    *,
    channel: str = Channel.WEB,
    received_encrypted: bool | None = None,
    extra: dict[str, Any] | None = None,
) -> Message:
    """A message on a report; mail adds its channel, encryption and e.g. signature (extra)."""
    with kept_files(files) as stored, transaction.atomic():
        now = timezone.now()
        message = Message(
            report=report,
            created_at=now,
            author=author,
            channel=channel,
            received_encrypted=received_encrypted,
        )
        message.body = {**(extra or {}), "text": text}
        message.save()
        attach(stored, report, now, message)
        via = {} if channel == Channel.WEB else {"channel": channel}
        record_event(report, "message", author, attachments=len(stored), **via)
    log.info("message added to %s by %s", report.reference, author)
    return message


def set_credit(report: Report, credit: str, actor: Actor | str) -> None:
    with transaction.atomic():
        Report.objects.filter(pk=report.pk).update(credit=credit)
        report.credit = credit
        record_event(report, "credit_changed", actor, credit=credit)


def read_attachment(att: Attachment) -> bytes:
    """The whole plaintext (for mail and tests); downloads stream it (download_attachment)."""
    return attachment_store.read(att)


def download_attachment(
    report: Report, attachment_uid: Any, by: Actor | str
) -> tuple[Attachment, Iterator[bytes]] | None:
    """A file of this report, recorded as a download: for staff (desk and API) any of its
    files; for the finder ("finder") only what the team sent them (portal).

    None when the report has no such file (for the finder: no such file from the team), or
    the retention schedule purged it. The data comes in pieces, the first one already
    opened: a file that is gone answers None rather than a broken download.
    """
    files = report.attachments.all()
    if by == "finder":
        files = files.filter(message__author=Message.Author.STAFF)
    attachment = files.filter(uid=attachment_uid).first()
    if attachment is None:
        return None
    try:
        data = attachment_store.first_piece(attachment)
    except FileNotFoundError:
        return None
    record_event(report, "attachment_downloaded", by, attachment=str(attachment.uid))
    return attachment, data


def forget_contact(locked: Report) -> list[str]:
    """Remove who the finder is from a report locked by the caller, and from its outbox.

    Returns the report fields it changed, for the caller's save(). Mail still queued to
    the finder is cancelled: its address is gone (a mail being handed over may still arrive).
    """
    locked.finder = {**locked.finder, "name": "", "email": "", "email_raw": "", "pgp_key": ""}
    locked.has_contact = locked.has_pgp_key = False
    for mail in OutboundMail.objects.select_for_update().filter(report=locked):
        mail.envelope = {"to": [], "raw": ""}
        fields = ["envelope_blob"]
        if mail.status in OutboundMail.PENDING:
            mail.status, mail.last_error = OutboundMail.Status.CANCELLED, "contact data erased"
            mail.status_changed_at = timezone.now()
            fields += ["status", "last_error", "status_changed_at"]
        mail.save(update_fields=fields)
    return ["finder_blob", "has_contact", "has_pgp_key"]
