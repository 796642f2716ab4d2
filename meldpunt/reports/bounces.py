"""Mail that answers our outbound mail automatically: bounces, delay notices, auto-replies.

A received mail is classified by its structure and headers, never by body words alone:
  - an RFC 3464 delivery status notification (multipart/report; report-type=delivery-status)
    is read per recipient: an Action of "failed" is a bounce, "delayed" a note, and
    "delivered"/"relayed"/"expanded" nothing at all;
  - a non-standard non-delivery answer (Postfix, Exim, qmail, Exchange, Gmail) comes from a
    mail system (MAILER-DAEMON, postmaster, or a null return path) with a known subject;
  - an RFC 3834 automatic answer (out of office, vacation) says so in its headers.

It is matched to the outbound mail it answers by proof only: the keyed return path it was
delivered to (VERP, lib/replyaddr), else our Message-ID quoted in it. Only a bounce marks a
mail bounced. An automatic answer does not: an out-of-office message proves the mailbox
exists and the mail arrived, so the finder was reached; it is noted (`auto_replied_at`).
"""

from __future__ import annotations

import email.policy
import logging
import re
import uuid
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses

from django.db import transaction
from django.utils import timezone

from meldpunt.audit.actors import SYSTEM
from meldpunt.lib import replyaddr
from meldpunt.reports.models import OutboundMail
from meldpunt.reports.services import record_event

log = logging.getLogger(__name__)

FAILED = "failed"
DELAYED = "delayed"
DELIVERED = "delivered"  # a DSN saying all went well, or another mail-system notice
AUTO_REPLY = "auto_reply"

STATUS_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
MESSAGE_ID = re.compile(r"<([^<>\s@]{1,200}@[^<>\s@]{1,200})>")
SCAN_CHARS = 64 * 1024  # of each text part, when looking for a quoted Message-ID or code
SYSTEM_SENDERS = ("mailer-daemon", "postmaster")
# The subjects mail systems give a non-delivery answer, at the start of the subject only:
# a person's "Re: Undeliverable: …" is a reply, not a bounce.
FAILURE_SUBJECTS = re.compile(
    r"^(undelivered mail returned to sender"  # Postfix
    r"|mail delivery failed"  # Exim
    r"|failure notice"  # qmail
    r"|undeliverable ?:|undeliverable mail|onbestelbaar ?:|non remis ?:|unzustellbar ?:"  # Exchange
    r"|delivery status notification \(failure\)"  # Gmail
    r"|returned mail ?:"  # sendmail
    r"|delivery failure|delivery has failed)",
    re.IGNORECASE,
)
DELAY_SUBJECTS = re.compile(
    r"^(delayed mail|delivery status notification \(delay\)|delivery delayed"
    r"|warning: message .* delayed|vertraagd ?:|retardé ?:)",
    re.IGNORECASE,
)
# Out-of-office subjects count only together with a header that says a machine sent the
# mail (see _is_auto_reply): a person may well write "Out of office" in a report's subject.
AUTO_REPLY_SUBJECTS = re.compile(
    r"^(automatic reply|automatisch antwoord|réponse automatique|out of office|afwezig"
    r"|autoreply|auto-reply|automatische antwort)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Notice:
    """What an automatic answer says: its kind, a detail such as "5.1.1 failed" (a status
    code and action, never an address), and the Message-IDs it quotes, most telling first."""

    kind: str
    detail: str
    message_ids: tuple[str, ...]


def _header(msg: Message, name: str) -> str:
    # The header parser can raise on hostile input; a header that cannot be read is absent.
    try:
        value = msg.get(name)
        return " ".join(str(value).split()) if value is not None else ""
    except Exception:
        return ""


def _sender_local(msg: Message) -> str:
    addresses = getaddresses([_header(msg, "From")])
    return addresses[0][1].lower().rpartition("@")[0] if addresses else ""


def _null_return_path(msg: Message) -> bool:
    return "Return-Path" in msg and _header(msg, "Return-Path") in ("", "<>")


def classify(msg: Message) -> Notice | None:
    """The automatic answer this mail is, or None for mail a person (or a scanner) sent."""
    if msg.get_content_type() == "multipart/report":
        return _report(msg)
    if notice := _non_standard(msg):
        return notice
    if _is_auto_reply(msg):
        ids = _ids(_header(msg, "In-Reply-To")) + tuple(reversed(_ids(_header(msg, "References"))))
        return Notice(AUTO_REPLY, "auto-replied", ids)
    return None


# --- RFC 3464 -----------------------------------------------------------------------------


def _report(msg: Message) -> Notice:
    report_type = str(msg.get_param("report-type", "")).lower()
    parts = list(msg.walk())
    ids = tuple(i for p in parts for i in _original_ids(p))
    if report_type != "delivery-status":
        # A read receipt (RFC 8098) or another machine report: nothing to apply.
        return Notice(DELIVERED, "", ids)
    failed: list[str] = []
    delayed: list[str] = []
    delivered: list[str] = []
    for part in parts:
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            for block in _blocks(part):
                action = _header(block, "Action").lower()
                match = STATUS_CODE.search(_header(block, "Status"))
                code = match[1] if match else ("5.0.0" if action == FAILED else "4.0.0")
                if action == FAILED:
                    failed.append(f"{code} {FAILED}")
                elif action == DELAYED:
                    delayed.append(f"{code} {DELAYED}")
                elif action in ("delivered", "relayed", "expanded"):
                    delivered.append(action)
    if failed or not (delayed or delivered):
        # A delivery report with no readable recipient block is taken for what most are.
        return Notice(FAILED, failed[0] if failed else f"5.0.0 {FAILED}", ids)
    if delayed:
        return Notice(DELAYED, delayed[0], ids)
    return Notice(DELIVERED, "", ids)


def _blocks(part: Message) -> list[Message]:
    """The per-message and per-recipient field blocks of a delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the standard library splits message/delivery-status
        return [p for p in payload if isinstance(p, Message)]
    text = _text(part)
    parser = HeaderParser(policy=email.policy.compat32)
    return [parser.parsestr(b.strip() + "\n") for b in re.split(r"\r?\n\s*\r?\n", text)]


def _original_ids(part: Message) -> tuple[str, ...]:
    """The Message-ID of the returned mail, from its message/rfc822 or headers part."""
    ctype = part.get_content_type()
    if ctype in ("message/rfc822", "message/global"):
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return _ids(_header(inner[0], "Message-ID"))[:1]
    if ctype in ("text/rfc822-headers", "message/global-headers"):
        headers = HeaderParser(policy=email.policy.compat32).parsestr(_text(part))
        return _ids(_header(headers, "Message-ID"))[:1]
    return ()


# --- Non-standard answers -----------------------------------------------------------------


def _non_standard(msg: Message) -> Notice | None:
    subject = _header(msg, "Subject")
    local = _sender_local(msg)
    system = local in SYSTEM_SENDERS or _null_return_path(msg)
    if not system:
        return None
    texts = [_text(p) for p in msg.walk() if p.get_content_type().startswith("text/")]
    quoted = tuple(i for p in msg.walk() for i in _original_ids(p))
    ids = quoted + tuple(i for t in texts for i in _ids(t))
    if FAILURE_SUBJECTS.match(subject):
        codes = [c for t in texts for c in STATUS_CODE.findall(t) if c.startswith("5.")]
        return Notice(FAILED, f"{codes[0] if codes else '5.0.0'} {FAILED}", ids)
    if DELAY_SUBJECTS.match(subject):
        return Notice(DELAYED, f"4.0.0 {DELAYED}", ids)
    if local == "mailer-daemon":
        # Always a machine; a subject we do not know is kept for the team, applied to nothing.
        return Notice(DELIVERED, "", ids)
    return None


def _is_auto_reply(msg: Message) -> bool:
    auto = _header(msg, "Auto-Submitted").lower()
    if auto.startswith("auto-replied") or _header(msg, "X-Autoreply"):
        return True
    if _header(msg, "X-Autorespond") or _header(msg, "Precedence").lower() == "auto_reply":
        return True
    # "Automatic reply: …" from Exchange also carries X-Auto-Response-Suppress; a scanner's
    # report with Auto-Submitted: auto-generated and another subject stays a report.
    machine = (
        (auto and auto != "no")
        or _header(msg, "X-Auto-Response-Suppress")
        or _header(msg, "Precedence").lower() in ("bulk", "junk")
        or _null_return_path(msg)
    )
    return bool(machine) and bool(AUTO_REPLY_SUBJECTS.match(_header(msg, "Subject")))


def _text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        payload = part.get_payload()
        return payload[:SCAN_CHARS] if isinstance(payload, str) else ""
    try:
        return data[:SCAN_CHARS].decode(part.get_content_charset() or "utf-8", "replace")
    except (LookupError, ValueError):
        return data[:SCAN_CHARS].decode("utf-8", "replace")


def _ids(text: str) -> tuple[str, ...]:
    return tuple(f"<{i}>" for i in MESSAGE_ID.findall(text))


# --- Matching and applying ----------------------------------------------------------------


def by_return_path(recipients: list[str]) -> OutboundMail | None:
    """Our outbound mail whose keyed return path (VERP) one of these addresses is."""
    for address in recipients:
        token = replyaddr.token_for_bounce_address(address)
        if token is None:
            continue
        try:
            uid = uuid.UUID(hex=token)
        except ValueError:
            continue
        if found := OutboundMail.objects.filter(uid=uid).first():
            return found
    return None


def match(notice: Notice, recipients: list[str]) -> OutboundMail | None:
    """Our outbound mail this answers: by its keyed return path, else by our Message-ID."""
    if found := by_return_path(recipients):
        return found
    for message_id in notice.message_ids[:50]:
        if found := OutboundMail.objects.filter(message_id=message_id).first():
            return found
    return None


def apply(notice: Notice, recipients: list[str]) -> str:
    """Note the answer on the mail it belongs to; the intake's reason code for it."""
    with transaction.atomic():
        found = match(notice, recipients)
        if found is None:
            return {FAILED: "bounce_unmatched", AUTO_REPLY: "auto_reply_unmatched"}.get(
                notice.kind, "delay" if notice.kind == DELAYED else "delivery_notice"
            )
        mail = OutboundMail.objects.select_for_update().get(pk=found.pk)
        if notice.kind == FAILED:
            _bounce(mail, notice.detail)
            return "bounce"
        if notice.kind == AUTO_REPLY:
            _auto_replied(mail)
            return "auto_reply"
        if notice.kind == DELAYED and mail.status == OutboundMail.Status.SENT:
            # Not a bounce: the server keeps trying. Noted, so staff can see why it is slow.
            mail.bounce_detail = notice.detail
            mail.save(update_fields=["bounce_detail"])
        return "delay" if notice.kind == DELAYED else "delivery_notice"


# A mail the worker may have handed over (unknown) or did hand over (sent) can bounce; one
# that was never sent cannot, and one already bounced stays as it is (the same DSN twice).
CAN_BOUNCE = (OutboundMail.Status.SENT, OutboundMail.Status.UNKNOWN)


def _bounce(mail: OutboundMail, detail: str) -> None:
    if mail.status not in CAN_BOUNCE:
        log.info("bounce for outbound mail %s in state %s: not applied", mail.uid, mail.status)
        return
    now = timezone.now()
    mail.status = OutboundMail.Status.BOUNCED
    mail.bounced_at = now
    mail.status_changed_at = now
    mail.bounce_detail = detail[:200]
    mail.save(update_fields=["status", "bounced_at", "status_changed_at", "bounce_detail"])
    if (report := mail.report) is not None:
        record_event(report, "mail_bounced", SYSTEM, **_facts(mail))
    log.info("outbound mail %s bounced (%s)", mail.uid, mail.bounce_detail)


def _auto_replied(mail: OutboundMail) -> None:
    if mail.auto_replied_at is not None:
        return
    mail.auto_replied_at = timezone.now()
    fields = ["auto_replied_at"]
    if mail.status != OutboundMail.Status.BOUNCED and not mail.bounce_detail:
        mail.bounce_detail = "auto-replied"
        fields.append("bounce_detail")
    mail.save(update_fields=fields)
    if (report := mail.report) is not None:
        record_event(report, "mail_auto_replied", SYSTEM, **_facts(mail))
    log.info("outbound mail %s answered automatically", mail.uid)


def _facts(mail: OutboundMail) -> dict[str, str]:
    # Facts only, for the report's history: which mail (kind, when sent) and the status code.
    sent = mail.sent_at or mail.created_at
    return {
        "mail": mail.kind,
        "sent_at": sent.isoformat(timespec="minutes"),
        "detail": mail.bounce_detail,
    }
