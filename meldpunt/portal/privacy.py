"""The finder's rights over their data: a copy of everything held, and erasure of who they are.

The export is what this report holds about and from the finder; the team's internal notes
and the names of team members are not part of it. Erasure removes name, e-mail address and
key at once (and the addresses in the mail outbox), keeps the report itself so the
vulnerability can still be fixed, and is recorded. If the finder asks, the published
advisories that name them get a new revision without their name.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from meldpunt.advisories import publishing
from meldpunt.audit.models import Disclosure
from meldpunt.portal.forms import ErasureForm
from meldpunt.portal.views import _finder_or_404, status_page
from meldpunt.reports import regulatory
from meldpunt.reports.models import Credit, Report
from meldpunt.reports.promises import ledger
from meldpunt.reports.services import forget_contact, record_event


def export_document(report: Report) -> dict[str, Any]:
    messages_out = [
        {
            "from": "you" if m.author == "finder" else "team",
            "at": m.created_at.isoformat(),
            "text": m.body.get("text", ""),
            "attachments": [a.meta.get("name", "") for a in m.attachments.all()],
        }
        for m in report.messages.prefetch_related("attachments")
    ]
    return {
        "reference": report.reference,
        "received_at": report.created_at.isoformat(),
        "channel": report.channel,
        "language": report.language,
        "policy_version": report.policy_version.number,
        "status": report.state,
        "first_response_due_at": report.response_due_at.isoformat(),
        "expected_fix_date": (
            report.expected_fix_date.isoformat() if report.expected_fix_date else None
        ),
        "your_disclosure_date": (
            report.finder_disclosure_date.isoformat() if report.finder_disclosure_date else None
        ),
        "credit": report.credit,
        "about_you": {k: v for k, v in report.finder.items() if v},
        "report": report.content,
        "messages": messages_out,
        "attachments": [
            {
                "name": a.meta.get("name", ""),
                "size": a.size,
                "sha256": a.meta.get("sha256", ""),
                "received_at": a.created_at.isoformat(),
            }
            for a in report.attachments.all()
        ],
        "disclosures_of_your_data": [
            {
                "date": d.disclosed_on.isoformat(),
                "to": d.details.get("recipient", ""),
                "what": d.details.get("data", ""),
                "legal_basis": d.details.get("legal_basis", ""),
            }
            for d in Disclosure.objects.filter(report=report, finder_may_know=True)
        ],
        # The reports to authorities (CRA, NIS2) with when and how each was sent.
        "legal_reporting": regulatory.export(report, ledger(report)),
        "history": [
            {"at": e.created_at.isoformat(), "what": e.kind}
            for e in report.events.order_by("created_at", "pk")
        ],
    }


@require_POST
def export(request: HttpRequest) -> HttpResponse:
    report = _finder_or_404(request)
    with transaction.atomic():
        record_event(report, "finder_export", "finder")
    body = json.dumps(export_document(report), ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{report.reference}.json"'
    add_never_cache_headers(response)
    return response


def erase_finder_data(report: Report) -> None:
    """Remove who the finder is from the report and the outbox, now, in one transaction."""
    with transaction.atomic():
        locked = Report.objects.select_for_update().get(pk=report.pk)
        fields = forget_contact(locked)
        locked.finder = {**locked.finder, "erased_at": timezone.now().isoformat()}
        locked.credit = Credit.NONE
        locked.save(update_fields=[*fields, "credit"])
        record_event(locked, "finder_data_erased", "finder")


def erased_message(form: ErasureForm, revised: list[str]) -> str:
    """Exactly what happened to the finder's published credits."""
    done = _("Your name, e-mail address and key have been erased from this report.")
    if not form.credited:
        more = _("No published advisory named you, and the hall of fame does not list you.")
    elif form.removes_credits:
        more = _(
            "Your name is off the hall of fame, and these advisories have a new revision "
            "that does not name you: %(ids)s. Copies others downloaded before cannot be recalled."
        ) % {"ids": ", ".join(revised)}
    else:
        more = _(
            "Your name stays as published in %(ids)s and on the hall of fame, "
            "until the team revises an advisory."
        ) % {"ids": ", ".join(form.credited)}
    return f"{done} {more}"


@require_POST
def erase(request: HttpRequest) -> HttpResponse:
    report = _finder_or_404(request)
    credited = [a.identifier for a in publishing.credited_in(report)]
    form = ErasureForm(request.POST, credited=credited)
    if not form.is_valid():
        return status_page(request, report, erasure=form, status=400)
    erase_finder_data(report)
    # After the erasure is committed: a refused revision must not undo it.
    revised = publishing.withdraw_credits(report, "finder") if form.removes_credits else []
    messages.success(request, erased_message(form, revised))
    return HttpResponseRedirect(reverse("portal:status"), status=303)
