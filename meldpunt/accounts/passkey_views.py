"""Passkeys: the page where staff keep theirs, and the JSON steps of the WebAuthn ceremonies.

The page's script (static/meldpunt/passkeys.js) asks for options, hands them to the browser
(navigator.credentials) and posts the answer back; every POST carries the CSRF token.
"""

from __future__ import annotations

import time

from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from meldpunt.accounts import passkeys
from meldpunt.accounts.access import sudo_required
from meldpunt.accounts.factors import Passkeys, passkey_owed
from meldpunt.accounts.forms import (
    PasskeyNameForm,
    PasskeyRegisterForm,
    PasskeyResponseForm,
    second_factor_limited,
)
from meldpunt.accounts.gate import PASSKEY_OWED, SECOND_FACTOR_AT, View, is_staff_verified
from meldpunt.accounts.gate import staff_required as _staff_required
from meldpunt.accounts.models import Passkey
from meldpunt.accounts.views import complete_login, pending_user, safe_next
from meldpunt.audit.actors import staff
from meldpunt.audit.log import append as audit
from meldpunt.lib.middleware import allow_same_origin_fetch
from meldpunt.lib.pages import render_private
from meldpunt.ratelimit import TOO_MANY_ATTEMPTS


def _refusal_message(reason: str) -> str:
    if reason == "challenge":
        return _("The passkey request expired or was used already. Please try again.")
    if reason == "regressed":
        return _(
            "This passkey was refused: its signature counter went backwards, which can mean "
            "that it was copied. It is blocked; remove it, register a new one and tell an "
            "administrator."
        )
    return _("This passkey was not accepted.")


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _signing_in(request: HttpRequest) -> tuple[User | None, bool]:
    """The account owing a second factor: half-way through sign-in, or asked again."""
    user = pending_user(request)
    if user is not None:
        return user, True
    if is_staff_verified(request) and isinstance(request.user, User):
        return request.user, False
    return None, False


def _member(request: HttpRequest) -> User:
    if not isinstance(request.user, User):  # staff_required let only signed-in users through
        raise Http404
    return request.user


def _options_response(options: str) -> HttpResponse:
    return HttpResponse(options, content_type="application/json")


@require_POST
def sign_in_options(request: HttpRequest) -> HttpResponse:
    user, _pending = _signing_in(request)
    if user is None:
        return _error(_("Please sign in again."), status=403)
    return _options_response(passkeys.authentication_options(request.session, user))


@require_POST
def sign_in(request: HttpRequest) -> HttpResponse:
    """Check an assertion: finish the sign-in, or renew the proof for a sensitive action."""
    user, pending = _signing_in(request)
    if user is None:
        return _error(_("Please sign in again."), status=403)
    form = PasskeyResponseForm(request.POST)
    if second_factor_limited(user):
        audit("second_factor_failed", staff(user), method="passkey", rate_limited=True)
        return _error(str(TOO_MANY_ATTEMPTS), status=429)
    factor = Passkeys(request.session)
    if not form.is_valid() or not factor.verify(user, form.cleaned_data["response"]):
        reason = factor.refusal or "malformed"
        audit("second_factor_failed" if pending else "sudo_failed", staff(user), reason=reason)
        return _error(_refusal_message(reason))
    if not pending:
        audit("sudo_passed", staff(user), method=factor.name)
        request.session[SECOND_FACTOR_AT] = time.time()
        return JsonResponse({"next": safe_next(request, request.POST.get("next"))})
    audit("second_factor_passed", staff(user), method=factor.name)
    return JsonResponse({"next": complete_login(request, user)["Location"]})


def _while_owed(view: View) -> View:
    """Staff pages a member who owes a passkey may use: those that let them register one."""
    view.while_passkey_owed = True  # type: ignore[attr-defined]
    return view


@require_GET
@_staff_required
@_while_owed
def manage(request: HttpRequest) -> HttpResponse:
    user = _member(request)
    context = {
        "passkeys": Passkey.objects.filter(user_id=user.pk),
        "form": PasskeyNameForm(),
        "owed": bool(request.session.get(PASSKEY_OWED)),
    }
    return allow_same_origin_fetch(render_private(request, "accounts/passkeys.html", context))


@require_POST
@_staff_required
@_while_owed
def register_options(request: HttpRequest) -> HttpResponse:
    user = _member(request)
    return _options_response(passkeys.registration_options(request.session, user))


@require_POST
@_staff_required
@_while_owed
def register(request: HttpRequest) -> HttpResponse:
    user = _member(request)
    form = PasskeyRegisterForm(request.POST)
    if not form.is_valid():
        return _error(_("Please give the passkey a name (at most 80 characters)."))
    try:
        passkeys.register(
            request.session, user, form.cleaned_data["name"], form.cleaned_data["response"]
        )
    except passkeys.PasskeyRefused as refused:
        return _error(_refusal_message(refused.reason))
    request.session.pop(PASSKEY_OWED, None)
    return JsonResponse({"next": reverse("accounts:passkeys")})


@require_POST
@sudo_required
def remove(request: HttpRequest, uid: str) -> HttpResponse:
    user = _member(request)
    passkey = get_object_or_404(Passkey, uid=uid, user_id=user.pk)
    passkeys.remove(user, passkey)
    if passkey_owed(user):
        request.session[PASSKEY_OWED] = True
    return HttpResponseRedirect(reverse("accounts:passkeys"), status=303)
