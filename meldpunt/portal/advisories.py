"""The finder's review of an advisory drafted from their report, on /status/.

The finder sees the draft as it will be printed, but among the credits only their own
line: other finders' names are not public before publication, and may never be.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from meldpunt.advisories import publishing
from meldpunt.advisories.forms import DECISION_LABELS, ReviewForm
from meldpunt.advisories.models import Advisory
from meldpunt.lib.pages import render_private
from meldpunt.portal.views import get_report_for_finder
from meldpunt.reports.models import Report


def _advisory_for_finder(request: HttpRequest, uid: uuid.UUID) -> tuple[Report, Advisory]:
    """The finder's report and one of its unpublished advisories; 404 for any other."""
    report = get_report_for_finder(request)
    if report is None:
        raise Http404
    drafts = Advisory.objects.filter(reports=report).exclude(status=Advisory.Status.PUBLISHED)
    advisory = drafts.filter(uid=uid).first()
    if advisory is None:
        raise Http404
    return report, advisory


@require_http_methods(["GET", "HEAD", "POST"])
def review(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    report, advisory = _advisory_for_finder(request, uid)
    posted = request.POST if request.method == "POST" else None
    form = ReviewForm(posted, initial={"proposed_tz": advisory.publish_tz})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            publishing.review(advisory, report, data["decision"], data["text"], data["proposed_at"])
        except publishing.AdvisoryError:
            raise Http404 from None  # published or unlinked meanwhile
        messages.success(request, _("Thank you: your answer has been sent to the team."))
        url = reverse("advisory_portal:review", args=[advisory.uid])
        return HttpResponseRedirect(url, status=303)
    line = publishing.credit_line(report)
    context = {
        "report": report,
        "advisory": advisory,
        "content": publishing.content_of(advisory),
        "credits": [line] if line else [],
        "own_credit": line,
        "finder_preview": True,
        "form": form,
        "my_reviews": [
            (r, DECISION_LABELS.get(r.decision, r.decision))
            for r in advisory.reviews.filter(report=report)
        ],
    }
    status = 400 if request.method == "POST" else 200
    return render_private(request, "advisories/portal_review.html", context, status=status)
