"""Every staff view reaches reports through these helpers and decorators.

Outsiders get 404 for "missing" and "not yours" alike; a viewer who tries to change
something gets 403; sensitive actions ask for the second factor again.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from meldpunt.accounts.gate import SUDO_SECONDS, View, second_factor_age, staff_required
from meldpunt.accounts.models import Role, StaffProfile
from meldpunt.reports.models import Report

CAN_CHANGE = {Role.ADMIN, Role.TRIAGER}


def staff_profile(request: HttpRequest) -> StaffProfile:
    profile: StaffProfile | None = getattr(request.user, "staff", None)
    if profile is None:
        raise Http404
    return profile


def can_change(request: HttpRequest) -> bool:
    return staff_profile(request).role in CAN_CHANGE


def get_report_for_staff(request: HttpRequest, uid: str | uuid.UUID) -> Report:
    """Any staff member may read any report; the views decide what they may change."""
    staff_profile(request)
    report = Report.objects.filter(uid=uid).first()
    if report is None:
        raise Http404
    return report


def get_report_for_triager(request: HttpRequest, uid: str | uuid.UUID) -> Report:
    report = get_report_for_staff(request, uid)
    if not can_change(request):
        raise PermissionDenied
    return report


def role_required(*roles: str) -> Callable[[View], View]:
    """Staff with a second factor and one of these roles; other staff get 403."""

    def decorator(view: View) -> View:
        @staff_required
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if staff_profile(request).role not in roles:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def sudo_required(view: View) -> View:
    """Export, publishing, key operations, deletion: a fresh second factor first."""

    @staff_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        age = second_factor_age(request)
        if age is None or age > SUDO_SECONDS:
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('accounts:again')}?{query}")
        return view(request, *args, **kwargs)

    return wrapper
