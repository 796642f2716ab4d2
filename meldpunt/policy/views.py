from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from meldpunt.policy.commitments import CATEGORIES, current_version


@require_safe
def policy(request: HttpRequest) -> HttpResponse:
    version = current_version()
    context = {
        "version": version,
        "c": version.commitments,
        "out_of_scope": [label for _c, label, oos in CATEGORIES if oos],
    }
    return render(request, "policy/policy.html", context)
