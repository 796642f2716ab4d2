"""Mail that did not become a report: the team's view of failed and ignored intakes.

The list shows workflow facts only (when, why, how large); the detail page opens the
sealed mail and shows it as escaped text, never rendered as HTML.
"""

from __future__ import annotations

import base64
import logging
import uuid
from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from meldpunt.accounts.access import staff_profile
from meldpunt.accounts.gate import staff_required
from meldpunt.intake.models import InboundMail
from meldpunt.lib.pages import render_private

log = logging.getLogger(__name__)

PER_PAGE = 50
NOT_TAKEN_IN = [InboundMail.Outcome.FAILED, InboundMail.Outcome.IGNORED]
OUTCOME_LABELS: dict[str, Any] = {
    InboundMail.Outcome.FAILED: _("Failed"),
    InboundMail.Outcome.IGNORED: _("Ignored"),
}
REASON_LABELS: dict[str, Any] = {
    "too_large": _("The mail is larger than the configured maximum."),
    "too_deep": _("The mail's parts are nested too deeply."),
    "too_many_parts": _("The mail has too many parts."),
    "bad_pgp": _("The OpenPGP part could not be decrypted (not to our key, or damaged)."),
    "text_too_long": _("The text is longer than a report may be."),
    "too_many_attachments": _("The mail has more attachments than a report may have."),
    "attachment_too_large": _("An attachment is larger than the configured maximum."),
    "bounce": _("A delivery failure notice (bounce)."),
    "bounce_unmatched": _("A delivery failure notice (bounce) that matches none of our mails."),
    "delay": _("A notice that delivery of our mail is delayed (the mail server keeps trying)."),
    "delivery_notice": _(
        "A notice from a mail system that reports no failure (e.g. delivered, a read receipt)."
    ),
    "auto_reply": _("An automatic reply, such as an out-of-office message."),
    "auto_reply_unmatched": _("An automatic reply that matches none of our mails."),
    "own_mail": _("A mail from our own address (a loop)."),
    "no_sender": _("The mail has no sender address."),
    "internal_error": _("An error in Meldpunt while reading the mail."),
}


def reason_label(code: str) -> Any:
    return REASON_LABELS.get(code, code)


@require_safe
@staff_required
def mail_list(request: HttpRequest) -> HttpResponse:
    staff_profile(request)
    mails = InboundMail.objects.filter(outcome__in=NOT_TAKEN_IN).order_by("-received_at", "-pk")
    page = Paginator(mails.defer("payload_blob", "summary_blob"), PER_PAGE).get_page(
        request.GET.get("page")
    )
    rows = [
        {"mail": m, "outcome": OUTCOME_LABELS.get(m.outcome), "reason": reason_label(m.reason)}
        for m in page
    ]
    return render_private(request, "triage/mail_list.html", {"page": page, "rows": rows})


@require_safe
@staff_required
def mail_detail(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    staff_profile(request)
    mail = InboundMail.objects.filter(uid=uid, outcome__in=NOT_TAKEN_IN).first()
    if mail is None:
        raise Http404
    log.info("staff %s read inbound mail %s", request.user.pk, mail.uid)
    payload = mail.payload
    raw = base64.b64decode(payload.get("raw", ""))
    context = {
        "mail": mail,
        "summary": mail.summary,
        "outcome": OUTCOME_LABELS.get(mail.outcome),
        "reason": reason_label(mail.reason),
        # Shown as text: the browser must never interpret a finder's (or attacker's) mail.
        "raw": raw.decode("utf-8", "replace"),
        "truncated": bool(payload.get("truncated")),
    }
    return render_private(request, "triage/mail_detail.html", context)
