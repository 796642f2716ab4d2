"""The one access layer: every staff page and the API reach reports through these helpers.

Outsiders get 404 for "missing" and "not yours" alike; a viewer who tries to change
something gets 403; sensitive actions ask for the second factor again. The API signs its
token's user in on the request (`meldpunt.api`), so the same rules apply to it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from meldpunt.accounts.gate import SUDO_SECONDS, View, second_factor_age, staff_required
from meldpunt.accounts.models import REPORT_CHANGERS, Role, StaffProfile

M = TypeVar("M", bound=Model)


def staff_profile(request: HttpRequest) -> StaffProfile:
    profile: StaffProfile | None = getattr(request.user, "staff", None)
    if profile is None:
        raise Http404
    return profile


def can_change(request: HttpRequest) -> bool:
    """May this staff member change reports (and what hangs off them)?"""
    return staff_profile(request).role in REPORT_CHANGERS


def get_for_staff(request: HttpRequest, objects: QuerySet[M], **lookup: Any) -> M:
    """Any staff member may read any report (or advisory); 404 for everyone else."""
    staff_profile(request)
    found = objects.filter(**lookup).first()
    if found is None:
        raise Http404
    return found


def get_for_changer(request: HttpRequest, objects: QuerySet[M], **lookup: Any) -> M:
    """As `get_for_staff`, and 403 for a staff member who may only read."""
    found = get_for_staff(request, objects, **lookup)
    if not can_change(request):
        raise PermissionDenied
    return found


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


changer_required = role_required(*REPORT_CHANGERS)
admin_required = role_required(Role.ADMIN)
