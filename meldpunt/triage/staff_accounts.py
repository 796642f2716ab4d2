"""Staff accounts: admins list, deactivate and reactivate them and end their sessions;
every staff member sees and ends their own other sessions. The rules live in
`meldpunt.accounts.staff` (the `meldpunt staff` command calls the same functions)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from meldpunt.accounts import sessions, staff
from meldpunt.accounts.access import admin_required
from meldpunt.accounts.gate import SUDO_SECONDS, View, second_factor_age, staff_required
from meldpunt.accounts.models import StaffProfile
from meldpunt.lib.pages import render_private

REFUSALS = {
    "self": lambda: _("You cannot deactivate your own account."),
    "last_admin": lambda: _(
        "This is the last active administrator: make someone else an administrator first."
    ),
}


def _fresh_proof(back: Callable[..., str]) -> Callable[[View], View]:
    """A sensitive POST needs a second factor given in the last few minutes.

    Unlike `sudo_required`, the way back after giving it is the page the form was on
    (`back`), as the confirmation page continues with a GET, which a POST-only action refuses.
    """

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            age = second_factor_age(request)
            if age is None or age > SUDO_SECONDS:
                query = urlencode({"next": back(**kwargs)})
                return HttpResponseRedirect(f"{reverse('accounts:again')}?{query}", status=303)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _member_url(uid: uuid.UUID) -> str:
    return reverse("triage:staff_member", args=[uid])


def _own_url(**kwargs: Any) -> str:
    return reverse("triage:my_sessions")


def _member(uid: uuid.UUID) -> User:
    profile = StaffProfile.objects.select_related("user").filter(uid=uid).first()
    if profile is None:
        raise Http404
    return profile.user


def _signed_in(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # staff_required let only signed-in users through
        raise Http404
    return user


@require_safe
@admin_required
def staff_list(request: HttpRequest) -> HttpResponse:
    context = {"rows": staff.list_staff(), "days": settings.MELDPUNT_STAFF_INACTIVE_DAYS}
    return render_private(request, "triage/staff.html", context)


@require_safe
@admin_required
def staff_member(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    user = _member(uid)
    row = next(r for r in staff.list_staff() if r.uid == uid)
    context = {
        "member": user,
        "row": row,
        "sessions": sessions.open_sessions(user),
        "current": sessions.current_digest(request),
    }
    return render_private(request, "triage/staff_member.html", context)


def _ended(count: int) -> str:
    return ngettext("%(n)d session ended.", "%(n)d sessions ended.", count) % {"n": count}


def _set_active(request: HttpRequest, uid: uuid.UUID, active: bool) -> HttpResponse:
    user = _member(uid)
    try:
        ended = staff.set_active(user, active, by=_signed_in(request))
    except staff.Refused as refused:
        messages.error(request, REFUSALS[refused.code]())
        return HttpResponseRedirect(_member_url(uid), status=303)
    if active:
        messages.success(request, _("The account may sign in again."))
    else:
        messages.success(request, _("The account is deactivated.") + " " + _ended(ended))
    return HttpResponseRedirect(_member_url(uid), status=303)


@require_POST
@admin_required
@_fresh_proof(_member_url)
def staff_deactivate(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    return _set_active(request, uid, active=False)


@require_POST
@admin_required
@_fresh_proof(_member_url)
def staff_activate(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    return _set_active(request, uid, active=True)


@require_POST
@admin_required
@_fresh_proof(_member_url)
def staff_end_sessions(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    user = _member(uid)
    ended = staff.end_all_sessions(user, by=_signed_in(request))
    messages.success(request, _ended(ended))
    if user.pk == request.user.pk:  # the admin's own session was one of them
        return HttpResponseRedirect(reverse("accounts:login"), status=303)
    return HttpResponseRedirect(_member_url(uid), status=303)


@require_safe
@staff_required
def my_sessions(request: HttpRequest) -> HttpResponse:
    context = {
        "sessions": sessions.open_sessions(_signed_in(request)),
        "current": sessions.current_digest(request),
    }
    return render_private(request, "triage/my_sessions.html", context)


@require_POST
@staff_required
@_fresh_proof(_own_url)
def my_session_end(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    current = sessions.current_digest(request)
    if staff.end_own_session(_signed_in(request), uid, current):
        messages.success(request, _("The session is ended."))
    else:
        # Already gone (signed out, expired), or the one in use: "Sign out" ends that one.
        messages.error(request, _("That session is not open elsewhere; nothing was ended."))
    return HttpResponseRedirect(reverse("triage:my_sessions"), status=303)
