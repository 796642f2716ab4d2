"""One report for the team: decrypted, with its files, messages, notes and history.

Every page here shows what a finder wrote, so it is never cached, and everything the
finder sent is rendered as text (templates escape; nothing is marked safe).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST, require_safe

from meldpunt.accounts.access import can_change, staff_profile
from meldpunt.accounts.gate import staff_required
from meldpunt.accounts.models import Role
from meldpunt.advisories.publishing import EARLY_REASONS
from meldpunt.audit.actors import actor, staff
from meldpunt.audit.log import append as audit
from meldpunt.lib.forms import Form, TextField
from meldpunt.lib.middleware import allow_same_origin_fetch
from meldpunt.lib.pages import render_private
from meldpunt.lib.uploads import file_response, shown_file_name
from meldpunt.policy.commitments import category_label
from meldpunt.reports import ssvc
from meldpunt.reports.assessment import primary_score, scores
from meldpunt.reports.labels import (
    ASSESSMENT_LABELS,
    CREDIT_LABELS,
    EVENT_LABELS,
    NOT_REACHED_LABELS,
    PROMISE_LABELS,
    PROMISE_STATE_LABELS,
    RESOLUTION_LABELS,
    SCOPE_VERDICT_LABELS,
    SEVERITY_LABELS,
    SSVC_EXPLANATIONS,
    STATE_LABELS,
    SUBMISSION_LABELS,
    delivery_label,
    event_details,
)
from meldpunt.reports.lifecycle import duplicates_earn_credit
from meldpunt.reports.models import (
    Attachment,
    Channel,
    Event,
    Message,
    OutboundMail,
    Promise,
    Report,
)
from meldpunt.reports.notes import add_note as add_note_to
from meldpunt.reports.promises import ledger
from meldpunt.reports.reach import UNREAD, Reach, finder_reach
from meldpunt.reports.reporting_clocks import STEPS
from meldpunt.reports.services import download_attachment
from meldpunt.scope.inventory import contact_url, current_rules
from meldpunt.scope.matching import Match, matches
from meldpunt.triage import custody, low_value
from meldpunt.triage import regulatory as regulatory_panel
from meldpunt.triage.access import get_report_for_staff, get_report_for_triager
from meldpunt.triage.tags import report_tags_form
from meldpunt.webhooks.trackers import issues as tracker_issues

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
    "partial": _("good signature by the finder's key over part of the mail only"),
    "unknown_key": _("signed by a key we do not know for this finder"),
    "bad": _("BAD signature: the mail was changed or the signature is forged"),
    "unverifiable": _("signed, but the signature could not be checked"),
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
class Delivery:
    """A mail's delivery state as the thread shows it next to its message."""

    mail: OutboundMail
    label: str
    pending: bool


def delivery(mail: OutboundMail | None) -> Delivery | None:
    if mail is None:
        return None
    return Delivery(mail, delivery_label(mail.status), mail.status in OutboundMail.PENDING)


@dataclass(frozen=True)
class Post:
    message: Message
    files: list[File]
    signature: Any = ""
    delivery: Delivery | None = None


def _post(message: Message) -> Post:
    # A message has at most one mail (a resend reuses it); the newest if ever more.
    mails = sorted(message.mails.all(), key=lambda m: m.created_at)
    return Post(
        message,
        [File(a, file_name(a)) for a in message.attachments.all()],
        signature_label(message.body),
        delivery(mails[-1] if mails else None),
    )


@dataclass(frozen=True)
class PromiseRow:
    promise: Promise
    label: Any
    state: Any
    evidence: list[str]


def promise_rows(report: Report, mails: dict[str, OutboundMail]) -> list[PromiseRow]:
    """The ledger for the report page; `mails` is each thread message's newest mail by the
    message's uid (the thread loaded them already), for the evidence's mail state now."""
    return [
        PromiseRow(
            p,
            PROMISE_LABELS.get(p.kind, p.kind),
            PROMISE_STATE_LABELS.get(p.state, p.state),
            evidence_lines(p.evidence, mails),
        )
        for p in ledger(report)
        # A legal clock that does not run on this report (most reports) is not listed.
        if not (p.kind in STEPS and p.state == Promise.State.NOT_APPLICABLE)
    ]


def _moment(value: Any) -> str:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:  # a date
        return formats.date_format(moment.date(), "DATE_FORMAT")
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def evidence_lines(evidence: dict[str, Any], mails: dict[str, OutboundMail]) -> list[str]:
    """The ledger's evidence in the team's words: what happened when, and the mail's state now
    (the ledger keeps the facts; the API gives them as they are)."""
    lines = []
    if kind := evidence.get("kind"):
        what = str(EVENT_LABELS.get(str(kind), kind))
        lines.append(f"{what}, {_moment(evidence['at'])}" if evidence.get("at") else what)
    elif evidence.get("at"):
        lines.append(_("since %(when)s") % {"when": _moment(evidence["at"])})
    if (uid := evidence.get("message")) and (mail := mails.get(str(uid))):
        lines.append(_("e-mail: %(state)s") % {"state": delivery_label(mail.status)})
    if moved := evidence.get("moved_to"):
        lines.append(_("new date: %(date)s") % {"date": _moment(moved)})
    if credit := evidence.get("credit"):
        lines.append(_("credit: %(choice)s") % {"choice": CREDIT_LABELS.get(credit, credit)})
    if published := evidence.get("published"):
        lines.append(_("published %(when)s") % {"when": _moment(published)})
    if via := evidence.get("submitted_via"):
        how = SUBMISSION_LABELS.get(str(via), via)
        lines.append(_("submitted via %(how)s") % {"how": how})
    if reference := evidence.get("reference"):
        lines.append(_("reference: %(reference)s") % {"reference": reference})
    if reason := evidence.get("early_reason"):
        lines.append(
            _("early, because: %(reason)s") % {"reason": EARLY_REASONS.get(reason, reason)}
        )
    return lines


def not_reached_reason(reach: Reach) -> str:
    """Why the finder was not reached, in the team's words ("" when they were)."""
    if reach.reached:
        return ""
    if reach.reason == UNREAD and reach.since is not None:
        when = formats.date_format(timezone.localtime(reach.since), "DATETIME_FORMAT")
        return str(_("has not read the message of %(date)s")) % {"date": when}
    return str(NOT_REACHED_LABELS.get(reach.reason, reach.reason))


@dataclass(frozen=True)
class EventRow:
    event: Event
    label: Any
    details: list[tuple[str, str]]


@dataclass(frozen=True)
class ScopeRow:
    match: Match
    label: Any
    contact_url: str  # a link to the contact (mailto: for a mail address)


def scope_rows(content: dict[str, Any]) -> list[ScopeRow]:
    """Each system the report names with what the inventory says: computed for this page from
    the decrypted content, never stored (it names hosts)."""
    rules = current_rules()
    if not rules:
        return []
    rows = []
    for found in matches(content, rules):
        url = contact_url(found.rule.contact if found.rule else "")
        rows.append(ScopeRow(found, SCOPE_VERDICT_LABELS.get(found.verdict, found.verdict), url))
    return rows


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
    thread = [
        _post(m)
        for m in report.messages.select_related("staff_author").prefetch_related(
            "attachments", Prefetch("mails", OutboundMail.objects.defer("envelope_blob"))
        )
    ]
    newest_mails = {str(p.message.uid): p.delivery.mail for p in thread if p.delivery}
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
        "ssvc": _ssvc(report),
        "duplicates_earn_credit": duplicates_earn_credit(),
        "resolution": RESOLUTION_LABELS.get(report.resolution, ""),
        "overdue": report.is_overdue(timezone.now()),
        "attachments": [File(a, file_name(a)) for a in report.attachments.order_by("pk")],
        "thread": thread,
        "receipt_mail": delivery(
            report.outbound_mails.filter(kind="receipt")
            .defer("envelope_blob")
            .order_by("-created_at")
            .first()
        ),
        "notes": report.notes.select_related("author"),
        "note_form": note_form,
        "events": [_event_row(e) for e in report.events.all()],
        "by_mail": report.channel == Channel.EMAIL,
        "signature": signature_label(content),
        "accesses": custody.accesses(report),
        "retention": custody.retention(report),
        "is_admin": staff_profile(request).role == Role.ADMIN,
        "reach": (reach := finder_reach(report)),
        "not_reached_reason": not_reached_reason(reach),
        "promises": promise_rows(report, newest_mails),
        "regulatory": regulatory_panel.panel(report, ledger(report), can_change(request)),
        "tags": report.tags.all(),
        "tracker_issues": tracker_issues(report),
        "tags_form": report_tags_form(report) if can_change(request) else None,
        "scope_verdict": SCOPE_VERDICT_LABELS.get(report.scope_verdict, ""),
        "scope_rows": scope_rows(content),
        "low_value": low_value.report_panel(report),
    }
    page = render_private(request, "triage/detail.html", context, status)
    # cvss.js asks the CWE endpoint for suggestions; only staff pages may fetch.
    return allow_same_origin_fetch(page) if context["can_change"] else page


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
    add_note_to(report, staff_profile(request).user, form.cleaned_data["text"])
    messages.success(request, _("Your note has been added."))
    url = reverse("triage:report", args=[report.uid])
    return HttpResponseRedirect(f"{url}#notes", status=303)


@require_GET
@staff_required
def download(request: HttpRequest, uid: uuid.UUID, att_uid: uuid.UUID) -> HttpResponseBase:
    report = get_report_for_staff(request, uid)
    found = download_attachment(report, att_uid, actor(request.user))
    if found is None:
        raise Http404
    attachment, data = found
    return file_response(data, str(attachment.meta.get("name", "")))


def file_name(attachment: Attachment) -> str:
    return shown_file_name(str(attachment.meta.get("name", "")))


def _ssvc(report: Report) -> dict[str, Any]:
    """The SSVC decision as the report page shows it, with the answers that gave it."""
    answers = []
    for point in ssvc.table().points:
        value = point.by_slug(getattr(report, point.field))
        if value:
            answers.append((ASSESSMENT_LABELS[point.field], value.name))
    return {
        "decision": ssvc.decision(report.ssvc_decision),
        "explanation": SSVC_EXPLANATIONS.get(report.ssvc_decision, ""),
        "answers": answers,
    }
