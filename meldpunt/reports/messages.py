"""Messages from the team to the finder, and the first response that stops the clock.

A message is shown on /status/ and mailed by the outbox in the same transaction. The first
response is the policy's promise: it carries an assessment and, for a valid report, an
expected fix date, and it triages (or closes) the report.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from meldpunt.audit import log as audit
from meldpunt.audit.actors import actor
from meldpunt.lib.uploads import IncomingFile
from meldpunt.reports import assessment, lifecycle, outbox
from meldpunt.reports.lifecycle import WorkflowError, check_transition, lock, move_locked
from meldpunt.reports.models import Message, Report, Resolution, State
from meldpunt.reports.services import StoredFile, attach, kept_files, record_event

PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")
PLACEHOLDERS = (
    "reference",
    "organisation",
    "expected_fix_date",
    "status_url",
    "security_contact",
    "cvss",
    "duplicate_credit",
)
# The kind of message template a duplicate's message starts from (triage's TemplateKind).
DUPLICATE_TEMPLATE = "duplicate"


def placeholder_values(report: Report) -> dict[str, str]:
    """What the placeholders stand for in this report's language; unknown ones stay empty."""
    with translation.override(report.language):
        fix_date = (
            formats.date_format(report.expected_fix_date, "DATE_FORMAT")
            if report.expected_fix_date
            else ""
        )
        duplicate_credit = str(
            _(
                "As our policy credits everyone who finds a vulnerability independently, "
                "you will be credited for it as you chose once it is published."
            )
            if lifecycle.duplicates_earn_credit()
            else _(
                "As we credit the person who reported a vulnerability first, we cannot "
                "credit you for this one."
            )
        )
    # The primary version first: the one that decides the severity (MELDPUNT_PRIMARY_CVSS).
    cvss = "; ".join(
        f"{s.vector} ({s.score})"
        for s in assessment.scores(report.cvss31_vector, report.cvss40_vector)
    )
    return {
        "reference": report.reference,
        "organisation": settings.MELDPUNT_ORG_NAME,
        "expected_fix_date": fix_date,
        "status_url": outbox.status_url(),
        "security_contact": settings.MELDPUNT_SECURITY_CONTACT,
        "cvss": cvss,
        "duplicate_credit": duplicate_credit,
    }


def fill_placeholders(text: str, values: dict[str, str]) -> str:
    """Known placeholders with a value are filled; the rest stay, for the triager to see."""
    # A regular expression, not str.format: template text must not reach attributes.
    return PLACEHOLDER_RE.sub(lambda m: values.get(m[1]) or m[0], text)


def unfilled_placeholders(text: str) -> list[str]:
    return sorted({m for m in PLACEHOLDER_RE.findall(text) if m in PLACEHOLDERS})


def _team_message(
    locked: Report,
    user: User,
    text: str,
    template: str,
    first_response: bool = False,
    stored: list[StoredFile] | None = None,
) -> Message:
    """The message, its files (stored by the caller, see `kept_files`), event and mail."""
    stored = stored or []
    message = Message(
        report=locked,
        created_at=timezone.now(),
        author=Message.Author.STAFF,
        staff_author=user,
        is_first_response=first_response,
    )
    message.body = {"text": text}
    message.save()
    attach(stored, locked, message.created_at, message)
    who = actor(user)
    record_event(
        locked,
        "message_sent",
        who,
        message=str(message.uid),
        template=template,
        first_response=first_response,
        attachments=len(stored),
    )
    for att in (s.attachment for s in stored):
        # Each file the team sends is on the record: which one, how large, its digest.
        audit.append(
            "attachment_sent",
            who.audit,
            locked.reference,
            message=str(message.uid),
            attachment=str(att.uid),
            size=att.size,
            sha256=att.meta.get("sha256", ""),
        )
    if template == "fixed":
        # The policy asks finders to delete what they obtained once the fix is in; the
        # "fixed" template says so, and this records that the reminder went out.
        record_event(locked, "deletion_reminder_sent", actor(user), message=str(message.uid))
    # In the same transaction: the mail is queued exactly when the message exists, and the
    # outbox sends it after the commit, with retries.
    outbox.queue_news(locked, message)
    return message


def check_text(text: str) -> None:
    if not text.strip():
        raise WorkflowError(_("Write the message first."))
    if missing := unfilled_placeholders(text):
        raise WorkflowError(
            _("Fill in or remove %(placeholders)s before sending.")
            % {"placeholders": ", ".join(f"{{{name}}}" for name in missing)}
        )


def send_message(
    report: Report,
    actor_user: User,
    text: str,
    template: str = "",
    files: Sequence[IncomingFile] = (),
) -> Message:
    """A message from the team to the finder, shown on /status/ and mailed by the outbox.

    Files (checked by the caller like a finder's uploads) are stored with it or not at all;
    services.StorageFull when there is no room for them.
    """
    check_text(text)
    with kept_files(files) as stored, transaction.atomic():
        locked = lock(report)
        return _team_message(locked, actor_user, text, template, stored=stored)


def first_response_target(report: Report, close: bool) -> tuple[str, str]:
    """Where the first response takes the report: triaged, or closed as invalid/out of scope."""
    if not close:
        return State.TRIAGED, ""
    return State.CLOSED, (Resolution.INVALID if report.valid is False else Resolution.OUT_OF_SCOPE)


def first_response_due(report: Report) -> bool:
    return report.first_response_at is None and report.state in (State.RECEIVED, State.NEEDS_INFO)


def check_first_response(report: Report, close: bool = False) -> None:
    """The policy's promise: the first response carries an assessment and an expected fix date."""
    if report.first_response_at is not None:
        raise WorkflowError(_("The first response to this report has been sent already."))
    if report.valid is None or report.in_scope is None:
        raise WorkflowError(_("Assess the report first: is it valid, is it in scope?"))
    if close and report.valid and report.in_scope:
        raise WorkflowError(_("Only an invalid or out-of-scope report is closed right away."))
    if not close and report.valid and report.expected_fix_date is None:
        raise WorkflowError(
            _("Set the expected fix date first: the first response to a valid report gives it.")
        )
    check_transition(report.state, *first_response_target(report, close))


def send_first_response(
    report: Report,
    actor_user: User,
    text: str,
    close: bool = False,
    template: str = "",
    files: Sequence[IncomingFile] = (),
) -> Message:
    """Send the first response: it stops the clock and triages (or closes) the report."""
    check_text(text)
    with kept_files(files) as stored, transaction.atomic():
        locked = lock(report)
        # Checked again under the lock: of two triagers clicking at once, one sends it.
        check_first_response(locked, close)
        message = _team_message(
            locked, actor_user, text, template, first_response=True, stored=stored
        )
        locked.first_response_at = message.created_at
        locked.first_response_kept = message.created_at <= locked.response_due_at
        locked.save(update_fields=["first_response_at", "first_response_kept"])
        to_state, resolution = first_response_target(locked, close)
        move_locked(locked, to_state, actor_user, resolution)
    report.refresh_from_db()
    return message


def mark_duplicate(report: Report, original: Report, actor_user: User, text: str = "") -> Report:
    """Close a report as a duplicate of an earlier one; a text goes to its finder with it.

    The desk always sends the text (the finder is owed a reason); the API may leave it out,
    and the finder's status page says "closed as a duplicate of an earlier report" either way.
    """
    if text:
        check_text(text)
    with transaction.atomic():
        locked = lock(report)
        move_locked(locked, State.CLOSED, actor_user, Resolution.DUPLICATE, original)
        if text:
            # Closed and told in one transaction: never a silent close, never a stray message.
            _team_message(locked, actor_user, text, DUPLICATE_TEMPLATE)
    report.refresh_from_db()
    return report


def close_with_message(
    locked: Report, actor_user: User, resolution: str, text: str, template: str = ""
) -> Message:
    """Close a report the caller has locked and tell its finder why, in one transaction."""
    check_text(text)
    move_locked(locked, State.CLOSED, actor_user, resolution)
    return _team_message(locked, actor_user, text, template)


# The kind of message template a question to the finder starts from (triage's TemplateKind).
NEEDS_INFO_TEMPLATE = "needs_info"


def ask_for_information(report: Report, actor_user: User, text: str) -> Message:
    """Ask the finder for what the report lacks, and wait for the answer: one transaction.

    A report still in "received" moves to "needs_info" (the life cycle's move; the clock
    keeps running: a question is not the first response). In any other state the question
    is a plain message and the state stays.
    """
    check_text(text)
    with transaction.atomic():
        locked = lock(report)
        message = _team_message(locked, actor_user, text, NEEDS_INFO_TEMPLATE)
        if locked.state == State.RECEIVED:
            move_locked(locked, State.NEEDS_INFO, actor_user)
    report.refresh_from_db()
    return message
