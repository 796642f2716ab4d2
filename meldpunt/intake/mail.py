"""The mail channel: one function from raw message bytes to a report, a message, or a
failed intake the team can inspect. `meldpunt fetchmail` and `meldpunt smtpd` are thin
adapters over `process_message`.

Nothing is lost and nothing doubles: the same Message-ID twice makes one report, every
mail that cannot become one is kept (sealed) with a reason, and only a database or
storage outage raises (TemporaryFailure), so the adapter retries later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.message import Message as MailMessage

import pysequoia
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone

from meldpunt import ratelimit
from meldpunt.intake import mime
from meldpunt.intake.forms import MAX_TARGETS
from meldpunt.intake.models import InboundMail
from meldpunt.lib import crypto, pgp, replyaddr
from meldpunt.lib.language import detect
from meldpunt.lib.targets import find_targets
from meldpunt.policy.commitments import current_version
from meldpunt.reports import bounces, outbox
from meldpunt.reports.models import REFERENCE, Channel, Message, OutboundMail, Report
from meldpunt.reports.services import NewReport, add_message, submit_report

log = logging.getLogger(__name__)

# Kept for failed and ignored mail so the team can read it; a larger mail keeps its start.
MAX_KEPT_BYTES = 2 * 1024 * 1024
EMPTY = mime.Envelope("", "", "", "", [], [], "", "")


class TemporaryFailure(Exception):
    """Cannot store right now (database or storage down): try the same mail again later."""


@dataclass(frozen=True)
class IntakeResult:
    outcome: str  # "report" | "message" | "duplicate" | "failed" | "ignored"
    report: Report | None
    # For "failed"/"ignored": a short machine code, e.g. "too_large", or for automatic
    # answers "bounce", "bounce_unmatched", "delay", "delivery_notice", "auto_reply",
    # "auto_reply_unmatched" (meldpunt.reports.bounces).
    reason: str = ""


def process_message(raw: bytes) -> IntakeResult:
    """Turn one received mail into a report, a message on one, or a failed intake."""
    try:
        return _process(raw)
    except TemporaryFailure:
        raise
    except (OperationalError, InterfaceError, OSError) as exc:
        log.warning("mail intake unavailable (%s)", type(exc).__name__)
        raise TemporaryFailure(type(exc).__name__) from exc
    except Exception as exc:
        # A bug must not become a crash loop: keep the mail for the team and move on.
        log.error("mail intake error (%s)", type(exc).__name__)
        return _safely_failed(raw, "internal_error")


def _safely_failed(raw: bytes, reason: str) -> IntakeResult:
    try:
        return _store_failed(raw, _digest_of(raw), reason, EMPTY)
    except (OperationalError, InterfaceError, OSError) as exc:
        raise TemporaryFailure(type(exc).__name__) from exc
    except Exception as exc:  # even storing it failed: let the adapter try again later
        raise TemporaryFailure(type(exc).__name__) from exc


def _process(raw: bytes) -> IntakeResult:
    digest = _digest_of(raw)
    if (earlier := _duplicate(digest)) is not None:
        return earlier
    try:
        msg = mime.parse(raw)
        env = mime.envelope(msg)
    except mime.MailError as error:
        return _store_failed(raw, digest, error.reason, EMPTY)
    if notice := bounces.classify(msg):
        return _store_notice(raw, digest, env, notice)
    if reason := ignore_reason(msg, env):
        return _store_failed(raw, digest, reason, env, outcome=InboundMail.Outcome.IGNORED)
    report = thread(env)
    known = mime.sender_certs([str(report.finder.get("pgp_key") or "")]) if report else []
    try:
        content = mime.read(msg, raw, known)
        if report is None:
            content = _trust_on_first_use(msg, raw, env, content)
    except mime.MailError as error:
        return _store_failed(raw, digest, error.reason, env)
    return _store(raw, digest, msg, env, content, report)


def _duplicate(digest: bytes) -> IntakeResult | None:
    """The answer to a mail taken in before (the same Message-ID), or None: its report's id
    only, not the row (whose sealed summary nobody reads here)."""
    found = InboundMail.objects.filter(key_digest=digest).values_list("report_id", flat=True)
    earlier = list(found[:1])  # [] (none), [None] (kept as failed or ignored), [report id]
    if not earlier:
        return None
    report = Report.objects.filter(pk=earlier[0]).first() if earlier[0] else None
    return IntakeResult("duplicate", report)


def _digest_of(raw: bytes) -> bytes:
    keyring = crypto.load_keyring()
    msg_id = mime.message_id(mime.header_block(raw))
    if msg_id:
        return keyring.index("mail", msg_id)
    return keyring.index("mail", "sha256:" + hashlib.sha256(raw).hexdigest())


# --- Loops and bounces --------------------------------------------------------------------


def _header(msg: MailMessage, name: str) -> str:
    return mime.header(msg, name).lower()


def _is_own(address: str) -> bool:
    contact = str(settings.MELDPUNT_SECURITY_CONTACT).lower()
    address = address.lower()
    if address in (contact, str(settings.DEFAULT_FROM_EMAIL).lower()):
        return True
    local, _, domain = contact.rpartition("@")
    separator = str(settings.MELDPUNT_REPLY_SEPARATOR)
    return (
        bool(separator) and address.endswith("@" + domain) and address.startswith(local + separator)
    )


def _store_notice(
    raw: bytes, digest: bytes, env: mime.Envelope, notice: bounces.Notice
) -> IntakeResult:
    # A bounce, delay notice or automatic answer: noted on our mail it answers (if it is
    # ours), kept for the team, and never a report, a message or answered, matched or not.
    with transaction.atomic():
        reason = bounces.apply(notice, env.recipients)
        return _store_failed(raw, digest, reason, env, outcome=InboundMail.Outcome.IGNORED)


def ignore_reason(msg: MailMessage, env: mime.Envelope) -> str:
    """Why this mail is no report at all (our own mail, no sender), or "".

    Bounces and automatic answers are recognised before, by `bounces.classify`."""
    if env.sender and _is_own(env.sender):
        return "own_mail"
    if not env.sender and not env.sender_raw:
        return "no_sender"
    return ""


def no_answer_reason(msg: MailMessage, env: mime.Envelope) -> str:
    """Why a report from this mail gets no automatic answer (RFC 3834), or ""."""
    auto = _header(msg, "Auto-Submitted")
    if auto and auto != "no":
        return "auto_submitted"
    if _header(msg, "Precedence") in ("bulk", "list", "junk"):
        return "bulk"
    if _header(msg, "List-Id") or _header(msg, "List-Unsubscribe"):
        return "list"
    if "Return-Path" in msg and _header(msg, "Return-Path") in ("", "<>"):
        return "null_sender"
    if env.sender.lower().partition("@")[0] in ("mailer-daemon", "postmaster"):
        return "system_sender"
    if not env.sender:
        # A From we cannot write to (mime.mailbox): the report is taken in, never answered.
        return "bad_sender"
    return ""


# --- Threading ----------------------------------------------------------------------------


def thread(env: mime.Envelope) -> Report | None:
    """The report this mail answers, by proof only: reply address, our Message-ID, or
    a reference in the subject from the finder's own address. Never by guessing."""
    return _by_address(env) or _by_return_path(env) or _by_references(env) or _by_subject(env)


def _by_address(env: mime.Envelope) -> Report | None:
    references = {ref for a in env.recipients if (ref := replyaddr.reference_for_address(a))}
    found = {r.pk: r for ref in references if (r := Report.objects.by_reference(ref))}
    return next(iter(found.values())) if len(found) == 1 else None


def _by_return_path(env: mime.Envelope) -> Report | None:
    """A person (not a mail system) who answered the envelope sender of one of our mails:
    the keyed return path names that mail, and so its report."""
    mail = bounces.by_return_path(env.recipients)
    return mail.report if mail is not None else None


def _by_references(env: mime.Envelope) -> Report | None:
    if not env.references:
        return None
    ids = [f"<{ref}>" for ref in env.references]
    sent = OutboundMail.objects.filter(message_id__in=ids, report__isnull=False)
    reports: set[int] = {m.report_id for m in sent if m.report_id}
    keyring = crypto.load_keyring()
    digests = [keyring.index("mail", ref) for ref in env.references]
    received = InboundMail.objects.filter(key_digest__in=digests, report__isnull=False)
    reports |= {m.report_id for m in received if m.report_id}
    if len(reports) != 1:
        return None
    return Report.objects.filter(pk=reports.pop()).first()


def _by_subject(env: mime.Envelope) -> Report | None:
    match = REFERENCE.search(env.subject.upper())
    if match is None or not env.sender:
        return None
    report = Report.objects.by_reference(match[0])
    if report is None:
        return None
    # The reference is public: only the finder's own address may post into the report.
    finder_email = str(report.finder.get("email") or "").strip().lower()
    if finder_email and hmac.compare_digest(
        finder_email.encode(), env.sender.strip().lower().encode()
    ):
        return report
    return None


# --- Keys ---------------------------------------------------------------------------------


def _first_key(content: mime.Content, env: mime.Envelope) -> pgp.PublicKey | None:
    """A public key the first mail brought along (attached, or in an Autocrypt header)."""
    for armored in [*content.keys, env.autocrypt_key]:
        if not armored:
            continue
        try:
            return pgp.check_public_key(armored)
        except pgp.KeyProblem:
            continue
    return None


def _trust_on_first_use(
    msg: EmailMessage, raw: bytes, env: mime.Envelope, content: mime.Content
) -> mime.Content:
    # A first mail signed by the key it carries: check the signature against that key.
    if content.signature != "unknown_key":
        return content
    key = _first_key(content, env)
    if key is None:
        return content
    again = mime.read(msg, raw, mime.sender_certs([key.armored]))
    content.signature, content.signers = again.signature, again.signers
    return content


# --- Storing ------------------------------------------------------------------------------


def _summary(env: mime.Envelope, content: mime.Content | None = None) -> dict[str, str]:
    subject = (content.subject if content and content.subject else "") or env.subject
    return {"from": env.sender or env.sender_raw, "name": env.sender_name, "subject": subject}


def _store_failed(
    raw: bytes,
    digest: bytes,
    reason: str,
    env: mime.Envelope,
    outcome: str = InboundMail.Outcome.FAILED,
) -> IntakeResult:
    row = InboundMail(
        received_at=timezone.now(),
        key_digest=digest,
        outcome=outcome,
        reason=reason[:40],
        size=len(raw),
    )
    row.summary = _summary(env)
    kept = raw[:MAX_KEPT_BYTES]
    row.payload = {
        "raw": base64.b64encode(kept).decode("ascii"),
        "truncated": len(kept) < len(raw),
    }
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        if (earlier := _duplicate(digest)) is None:
            raise
        return earlier
    log.info("mail %s not taken in (%s: %s)", row.uid, outcome, row.reason)
    return IntakeResult(str(outcome), None, row.reason)


def _language(env: mime.Envelope, content: mime.Content) -> str | None:
    for value in (content.language, env.language):
        tag = value.split(",")[0].split(";")[0].strip().lower().split("-")[0]
        if tag in dict(settings.LANGUAGES):
            return tag
    return None


def _store(
    raw: bytes,
    digest: bytes,
    msg: EmailMessage,
    env: mime.Envelope,
    content: mime.Content,
    report: Report | None,
) -> IntakeResult:
    now = timezone.now()
    row = InboundMail(
        received_at=now,
        key_digest=digest,
        outcome=InboundMail.Outcome.MESSAGE if report else InboundMail.Outcome.REPORT,
        encrypted=content.encrypted,
        size=len(raw),
    )
    row.summary = _summary(env, content)
    stored: list[str] = []
    try:
        with transaction.atomic():
            if report is None:
                report = _new_report(msg, env, content, row, stored)
            else:
                row.message = _new_message(report, env, content, stored)
            row.report = report
            # Last, with all it refers to: one INSERT. The same mail delivered twice at
            # once stops at its unique key here (and its work is rolled back, its files
            # removed); one delivered again later stops at _duplicate, before any work.
            row.save()
    except IntegrityError:
        _remove(stored)
        if (earlier := _duplicate(digest)) is None:
            raise
        return earlier
    except BaseException:
        # The report's files were written before its transaction; this one rolled back.
        _remove(stored)
        raise
    log.info("mail %s became a %s on %s", row.uid, row.outcome, report.reference)
    return IntakeResult(str(row.outcome), report)


def _new_report(
    msg: EmailMessage,
    env: mime.Envelope,
    content: mime.Content,
    row: InboundMail,
    stored: list[str],
) -> Report:
    language = _language(env, content)
    key = _first_key(content, env)
    subject = content.subject or env.subject
    # What the web form asks for, read from the mail: its language when no header names one
    # (the receipt below still goes out in every language then: a guess may be wrong), and
    # the systems it names, parsed as the form parses its "affected systems" lines.
    written = f"{subject}\n{content.text}"
    offered = [code for code, _name in settings.LANGUAGES]
    targets = find_targets(written, MAX_TARGETS)
    new = NewReport(
        channel=Channel.EMAIL,
        language=language or detect(written, offered) or settings.LANGUAGE_CODE,
        policy_version=current_version(),
        category="other",
        out_of_scope=False,
        targets=targets,
        content={
            "subject": subject,
            "description": content.text,
            "steps": "",
            "impact": "",
            "affected_systems": [t.text for t in targets],
            "references": [],
            "signature": content.signature,
            "signers": list(content.signers),
        },
        # "email" is an address we can write to or "" (so has_contact is False and the
        # finder is never mailed); a From we cannot use is kept as given, for the team.
        finder={
            "name": env.sender_name,
            "email": env.sender,
            "pgp_key": key.armored if key else "",
            **({"email_raw": env.sender_raw} if env.sender_raw else {}),
        },
        files=content.files,
        received_encrypted=content.encrypted,
    )
    receipt = submit_report(new)
    report = receipt.report
    # Noted at once: whatever fails after this point must take these files away again.
    stored.extend(receipt.storage_names)
    if not no_answer_reason(msg, env) and not ratelimit.first_refused(
        (_autoreply_limit(), env.sender.lower()), (_autoreply_global_limit(), "all")
    ):
        languages = [language] if language else _default_languages()
        outbox.queue_receipt(
            report,
            to=env.sender,
            receipt_code=receipt.code,
            languages=languages,
            in_reply_to=f"<{env.message_id}>" if env.message_id else None,
            encrypt_to=pysequoia.Cert.from_bytes(key.armored.encode()) if key else None,
            include_key=not content.encrypted,
        )
        row.answered = True
    return report


def _autoreply_limit() -> ratelimit.Limit:
    return ratelimit.Limit("autoreply", settings.MELDPUNT_AUTOREPLY_LIMIT, timedelta(days=1))


def _autoreply_global_limit() -> ratelimit.Limit:
    # Many forged senders must not turn us into a mail cannon either.
    return ratelimit.Limit(
        "autoreply-global", settings.MELDPUNT_AUTOREPLY_GLOBAL_LIMIT, timedelta(days=1)
    )


def _default_languages() -> list[str]:
    codes = [code for code, _name in settings.LANGUAGES]
    return [settings.LANGUAGE_CODE] + [c for c in codes if c != settings.LANGUAGE_CODE]


def _new_message(
    report: Report, env: mime.Envelope, content: mime.Content, stored: list[str]
) -> Message:
    message = add_message(
        report,
        Message.Author.FINDER,
        content.text,
        content.files,
        channel=Channel.EMAIL,
        received_encrypted=content.encrypted,
        extra={
            "subject": content.subject or env.subject,
            "signature": content.signature,
            "signers": list(content.signers),
        },
    )
    stored.extend(message.attachments.values_list("storage_name", flat=True))
    return message


def _remove(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            log.warning("could not remove orphaned attachment %s", name)
