"""One report for the team: decrypted, with its files, messages, notes and history.

Every page here shows what a finder wrote, so it is never cached, and everything the
finder sent is rendered as text (templates escape; nothing is marked safe).
"""

from __future__ import annotations

import logging
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST, require_safe

from meldpunt.accounts.access import can_change, staff_profile
from meldpunt.accounts.gate import staff_required
from meldpunt.accounts.models import Role
from meldpunt.audit.actors import actor, staff
from meldpunt.audit.log import append as audit
from meldpunt.lib.forms import Form, TextField
from meldpunt.lib.pages import render_private
from meldpunt.policy.commitments import category_label
from meldpunt.reports.assessment import primary_score, scores
from meldpunt.reports.labels import (
    CREDIT_LABELS,
    EVENT_LABELS,
    RESOLUTION_LABELS,
    SEVERITY_LABELS,
    STATE_LABELS,
    event_details,
)
from meldpunt.reports.lifecycle import duplicates_earn_credit
from meldpunt.reports.models import (
    Attachment,
    Channel,
    Event,
    Message,
    Note,
    Report,
)
from meldpunt.reports.services import read_attachment, record_event
from meldpunt.triage import custody
from meldpunt.triage.access import get_report_for_staff, get_report_for_triager

log = logging.getLogger(__name__)

ANSWERS: dict[str, Any] = {
    "yes": _("Yes"),
    "no": _("No"),
    "unknown": _("Unknown"),
    "planned": _("Not yet, but planned"),
}
ANSWERED = ("exploited", "already_public", "csirt_notified")
# What the OpenPGP signature of a mail proves, in the team's words.
SIGNATURE_LABELS: dict[str, Any] = {
    "none": _("not signed"),
    "good": _("good signature by the finder's key"),
    "unknown_key": _("signed by a key we do not know for this finder"),
    "bad": _("BAD signature: the mail was changed or the signature is forged"),
    "unverifiable": _("signed, but the signature could not be checked"),
}
# A downloaded file must never run in our origin: no sniffing, no inline display, and a
# sandbox in case a browser renders it anyway.
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


class NoteForm(Form):
    text = TextField(
        label=_("Internal note"),
        help_text=_("Only the team sees notes; the finder never does."),
        max_length=settings.MELDPUNT_MAX_TEXT_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


@dataclass(frozen=True)
class File:
    attachment: Attachment
    name: str


@dataclass(frozen=True)
class Post:
    message: Message
    files: list[File]
    signature: Any = ""


@dataclass(frozen=True)
class EventRow:
    event: Event
    label: Any
    details: list[tuple[str, str]]


@require_safe
@staff_required
def report_detail(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    report = get_report_for_staff(request, uid)
    log.info("staff %s read report %s", request.user.pk, report.reference)
    audit("report_viewed", staff(request.user), report.reference)
    return _detail_page(request, report, NoteForm() if can_change(request) else None)


def _detail_page(
    request: HttpRequest, report: Report, note_form: NoteForm | None, status: int = 200
) -> HttpResponse:
    content, finder = report.content, report.finder
    context = {
        "report": report,
        "can_change": can_change(request),
        "content": content,
        "category": category_label(report.category),
        "answers": {key: ANSWERS.get(v := content.get(key, ""), v) for key in ANSWERED},
        "finder_name": finder.get("name", ""),
        "finder_email": finder.get("email", ""),
        # A From the mail intake could not use (issue 21): shown, but never mailed.
        "finder_email_raw": finder.get("email_raw", ""),
        "finder_pgp": bool(finder.get("pgp_key")),
        "credit": CREDIT_LABELS.get(report.credit, report.credit),
        "state": STATE_LABELS.get(report.state, report.state),
        "severity": SEVERITY_LABELS.get(report.severity, ""),
        "severity_score": primary_score(report.cvss31_vector, report.cvss40_vector),
        # Both versions when both are scored, the one that decides the severity first.
        "cvss_scores": scores(report.cvss31_vector, report.cvss40_vector),
        "duplicates_earn_credit": duplicates_earn_credit(),
        "resolution": RESOLUTION_LABELS.get(report.resolution, ""),
        "overdue": report.is_overdue(timezone.now()),
        "attachments": [File(a, file_name(a)) for a in report.attachments.order_by("pk")],
        "thread": [
            Post(m, [File(a, file_name(a)) for a in m.attachments.all()], signature_label(m.body))
            for m in report.messages.select_related("staff_author").prefetch_related("attachments")
        ],
        "notes": report.notes.select_related("author"),
        "note_form": note_form,
        "events": [_event_row(e) for e in report.events.all()],
        "by_mail": report.channel == Channel.EMAIL,
        "signature": signature_label(content),
        "accesses": custody.accesses(report),
        "retention": custody.retention(report),
        "is_admin": staff_profile(request).role == Role.ADMIN,
    }
    return render_private(request, "triage/detail.html", context, status)


def signature_label(body: dict[str, Any]) -> Any:
    """The signature result of a mail (report content or message body), or "" for web posts."""
    result = str(body.get("signature", ""))
    return SIGNATURE_LABELS.get(result, "") if result else ""


def _event_row(event: Event) -> EventRow:
    # Pairs, not the dict: a template would read a key named "items" as the dict's method.
    return EventRow(event, EVENT_LABELS.get(event.kind, event.kind), event_details(event.data))


@require_POST
@staff_required
def add_note(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    report = get_report_for_triager(request, uid)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _detail_page(request, report, form, status=400)
    with transaction.atomic():
        author = staff_profile(request).user
        note = Note(report=report, author=author, created_at=timezone.now())
        note.body = {"text": form.cleaned_data["text"]}
        note.save()
        record_event(report, "note_added", actor(request.user), note=str(note.uid))
    messages.success(request, _("Your note has been added."))
    url = reverse("triage:report", args=[report.uid])
    return HttpResponseRedirect(f"{url}#notes", status=303)


@require_GET
@staff_required
def download(request: HttpRequest, uid: uuid.UUID, att_uid: uuid.UUID) -> HttpResponse:
    report = get_report_for_staff(request, uid)
    attachment = report.attachments.filter(uid=att_uid).first()
    if attachment is None:
        raise Http404
    try:
        data = read_attachment(attachment)
    except FileNotFoundError:
        raise Http404 from None  # purged by the retention schedule
    record_event(report, "attachment_downloaded", actor(request.user), attachment=str(att_uid))
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition(file_name(attachment))
    for header, value in DOWNLOAD_HEADERS.items():
        response[header] = value
    return response


def file_name(attachment: Attachment) -> str:
    """The name as sent, minus control and bidi-override characters that disguise a file type."""
    name = str(attachment.meta.get("name", ""))
    kept = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    return " ".join(kept.split()).strip(" .")[:200] or "attachment"


def content_disposition(name: str) -> str:
    """RFC 6266: always an attachment, an ASCII fallback name and the exact name in UTF-8."""
    kept = name.translate({ord(ch): None for ch in "\"'\\/"}).strip(" .") or "attachment"
    fallback = "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in "._-+() ") else "_" for ch in kept
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(kept, safe='')}"
