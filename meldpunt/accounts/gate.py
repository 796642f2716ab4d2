"""Who may see staff pages: a logged-in user who gave a second factor in this session."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import reverse

from meldpunt.accounts import sessions
from meldpunt.accounts.models import StaffProfile, kept_columns, kept_instance
from meldpunt.lib import snapshots

SECOND_FACTOR_AT = "staff_second_factor_at"
# The account that gave its password and still owes the second factor (or its enrolment).
PENDING = "staff_pending"
# Set at sign-in where passkeys are required and the member has none: until they register
# one, staff pages send them to do so (MELDPUNT_REQUIRE_PASSKEYS).
PASSKEY_OWED = "staff_passkey_owed"
# Sensitive actions (export, publishing, keys, deletion) ask again after this long.
SUDO_SECONDS = 5 * 60

View = Callable[..., HttpResponse]
# Any view, a streamed download too (a StreamingHttpResponse is no HttpResponse).
AnyView = TypeVar("AnyView", bound=Callable[..., HttpResponseBase])


def second_factor_age(request: HttpRequest) -> float | None:
    given = request.session.get(SECOND_FACTOR_AT)
    return None if given is None else time.time() - float(given)


def is_staff_verified(request: HttpRequest) -> bool:
    user = request.user
    given = request.session.get(SECOND_FACTOR_AT)
    age = sessions.signed_in_age(request, given)
    return bool(
        user.is_authenticated
        and user.is_active
        and getattr(user, "staff", None) is not None
        and given is not None
        # A sign-in lasts MELDPUNT_STAFF_SESSION_HOURS at most, however busy the session:
        # a stolen session cookie that is kept in use is not good for ever.
        and age is not None
        and age <= sessions.longest().total_seconds()
    )


def _to_login(request: HttpRequest) -> HttpResponse:
    query = urlencode({"next": request.get_full_path()})
    return HttpResponseRedirect(f"{reverse('accounts:login')}?{query}")


def staff_required(view: AnyView) -> AnyView:
    """Password and second factor, or off to the login page."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # A page that only reads shares one view of the data from here on (the staff
        # profile, then the view's own kept answers); one that writes reads everything
        # afresh, its own writes included (snapshots.page_for).
        with snapshots.page_for(request.method) as kept:
            if kept is not None:
                keep_staff_profile(request.user)
            return _gate(view, request, *args, **kwargs)

    return cast(AnyView, wrapper)


def keep_staff_profile(user: Any) -> None:
    """Give a signed-in user their staff profile from the page's kept look-ups (the profiles
    are a look-up table: a role changed or a profile removed on any host is read at the
    next page), without its second factor's secret (SECRET_FIELDS; read from the database
    if a page asks for it). A user without a profile is looked up as before."""
    if not user.is_authenticated or user.__class__.staff.is_cached(user):
        return
    row = snapshots.answer(
        ("staff profile", user.pk),
        lambda: StaffProfile.objects.filter(user_id=user.pk).values_list(*_PROFILE).first(),
        keep=lambda found: found is not None,
        lookup=True,
    )
    if row is not None:
        user.staff = kept_instance(StaffProfile, row)


_PROFILE = kept_columns(StaffProfile)


def _gate(view: AnyView, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
    user = request.user
    if user.is_authenticated and getattr(user, "staff", None) is None:
        raise Http404  # signed in, but not staff: an outsider
    if not is_staff_verified(request):
        return _to_login(request)
    sessions.touch(request)
    if request.session.get(PASSKEY_OWED) and not getattr(view, "while_passkey_owed", False):
        return HttpResponseRedirect(reverse("accounts:passkeys"))
    return view(request, *args, **kwargs)


def guard_admin_site() -> None:
    """The Django admin accepts nobody who has not given a second factor."""
    site = admin.site
    original = site.has_permission

    def has_permission(request: HttpRequest) -> bool:
        owed = bool(request.session.get(PASSKEY_OWED))
        allowed = original(request) and is_staff_verified(request) and not owed
        if allowed:
            sessions.touch(request)  # work in the admin keeps the session alive too
        return allowed

    def login(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        return _to_login(request)

    site.has_permission = has_permission  # type: ignore[method-assign]
    site.login = login  # type: ignore[method-assign]
