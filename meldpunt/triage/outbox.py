"""The outbox as staff see it: every mail's delivery state, and resend or cancel.

The list shows workflow facts only (report, kind, state, times, error class): never the
recipient's address or the mail's content, which only the report page's finder data shows.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from meldpunt.accounts.access import can_change, changer_required, staff_profile
from meldpunt.accounts.gate import staff_required
from meldpunt.audit.actors import actor
from meldpunt.lib.pages import render_private
from meldpunt.reports import outbox
from meldpunt.reports.labels import delivery_label, mail_kind_label
from meldpunt.reports.models import OutboundMail
from meldpunt.triage.forms import OutboxFilterForm

PER_PAGE = 50


@require_safe
@staff_required
def outbox_list(request: HttpRequest) -> HttpResponse:
    staff_profile(request)
    form = OutboxFilterForm(request.GET)
    state = form.cleaned_data["state"] if form.is_valid() else ""
    page = Paginator(outbox.listing(state), PER_PAGE).get_page(request.GET.get("page"))
    rows = [
        {"mail": m, "state": delivery_label(m.status), "kind": mail_kind_label(m.kind)}
        for m in page
    ]
    context = {
        "form": form,
        "state": state,
        "page": page,
        "rows": rows,
        "may_change": can_change(request),
        "resendable": outbox.RESENDABLE,
        "cancellable": OutboundMail.PENDING,
        "query": urlencode({"state": state}) if state else "",
    }
    return render_private(request, "triage/outbox.html", context)


def _mail(uid: uuid.UUID) -> OutboundMail:
    mail = OutboundMail.objects.filter(uid=uid).defer("envelope_blob").first()
    if mail is None:
        raise Http404
    return mail


def _back(request: HttpRequest) -> HttpResponse:
    form = OutboxFilterForm(request.POST)
    state = form.cleaned_data["state"] if form.is_valid() else ""
    query = f"?{urlencode({'state': state})}" if state else ""
    return HttpResponseRedirect(f"{reverse('triage:outbox')}{query}", status=303)


def _act(request: HttpRequest, uid: uuid.UUID, action: Any, done: str) -> HttpResponse:
    mail = _mail(uid)
    try:
        action(mail, actor(staff_profile(request).user))
    except outbox.OutboxError as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, done)
    return _back(request)


@require_POST
@changer_required
def resend(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    return _act(request, uid, outbox.resend, _("The mail is queued again."))


@require_POST
@changer_required
def cancel(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    return _act(request, uid, outbox.cancel, _("The mail is cancelled."))
