from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from meldpunt.policy import keys
from meldpunt.policy.commitments import CATEGORIES, current_version
from meldpunt.scope.inventory import listing


def grouped_fingerprint() -> str | None:
    """The primary key's fingerprint in blocks of four, as gpg prints it; None if no key."""
    try:
        fpr = keys.fingerprint()
    except keys.NoOrgKey:
        return None
    return " ".join(fpr[i : i + 4] for i in range(0, len(fpr), 4))


@require_safe
def policy(request: HttpRequest) -> HttpResponse:
    version = current_version()
    context = {
        "version": version,
        "c": version.commitments,
        "out_of_scope": [label for _c, label, oos in CATEGORIES if oos],
        "fingerprint": grouped_fingerprint(),
        # The scope inventory, from the same rows the reports are checked against.
        "scope": listing(),
    }
    return render(request, "policy/policy.html", context)
