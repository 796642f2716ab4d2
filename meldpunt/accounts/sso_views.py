"""Staff sign-in through the organisation's identity provider (OpenID Connect)."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_safe

from meldpunt.accounts import devices, oidc
from meldpunt.accounts.gate import PENDING, SECOND_FACTOR_AT, is_staff_verified
from meldpunt.accounts.models import StaffProfile
from meldpunt.accounts.views import NEXT, PENDING_AT, safe_next
from meldpunt.audit.actors import staff
from meldpunt.audit.log import append as audit
from meldpunt.lib.pages import render_private

log = logging.getLogger(__name__)
SSO_PENDING = "staff_sso_pending"


def _config() -> oidc.Config:
    cfg = oidc.config()
    if cfg is None:
        raise Http404
    return cfg


def _redirect_uri() -> str:
    return settings.MELDPUNT_BASE_URL.rstrip("/") + reverse("accounts:sso_callback")


def _error(request: HttpRequest, cfg: oidc.Config, kind: str, status: int) -> HttpResponse:
    context = {"kind": kind, "name": cfg.name, "local_login": True}
    return render_private(request, "accounts/sso_error.html", context, status=status)


@require_safe
def sso_login(request: HttpRequest) -> HttpResponse:
    """Off to the identity provider; `again=1` asks a signed-in member to prove it afresh."""
    cfg = _config()
    fresh = request.GET.get("again") == "1" and is_staff_verified(request)
    if not fresh:
        request.session[NEXT] = safe_next(request, request.GET.get("next"))
    try:
        begun = oidc.start(cfg, _redirect_uri(), fresh=fresh)
    except oidc.Unavailable as exc:
        log.warning("identity provider unavailable: %s", exc)
        return _error(request, cfg, "unavailable", 503)
    begun.pending["next"] = safe_next(request, request.GET.get("next"))
    request.session[SSO_PENDING] = begun.pending
    return HttpResponseRedirect(begun.url)


@require_safe
def sso_callback(request: HttpRequest) -> HttpResponse:
    cfg = _config()
    pending = request.session.pop(SSO_PENDING, None)
    try:
        claims = oidc.finish(cfg, _redirect_uri(), pending, request.GET.dict())
    except oidc.Unavailable as exc:
        log.warning("identity provider unavailable: %s", exc)
        return _error(request, cfg, "unavailable", 503)
    except oidc.Refused as exc:
        log.info("single sign-on refused: %s", exc)
        if pending:  # a sign-in begun here; a bare request to this URL is not worth an entry
            audit("sso_refused", "anonymous", reason="invalid_answer")
        return _error(request, cfg, "refused", 400)
    if pending and pending.get("fresh"):
        return _fresh_proof(request, cfg, claims, str(pending.get("next", "")))
    outcome = oidc.sign_in(cfg, claims)
    if outcome.user is None:
        return _error(request, cfg, outcome.reason, 403)
    return _signed_in(request, cfg, outcome.user, oidc.proves_mfa(cfg, claims))


def _signed_in(request: HttpRequest, cfg: oidc.Config, user: User, mfa: bool) -> HttpResponse:
    target = request.session.get(NEXT)
    request.session.cycle_key()
    audit("sso_login", staff(user), second_factor="identity provider" if mfa else "desk")
    if not mfa:
        # The desk's own second factor still follows, as after a password.
        request.session[PENDING] = user.pk
        request.session[PENDING_AT] = time.time()
        request.session[NEXT] = target
        profile = StaffProfile.objects.get(user_id=user.pk)
        step = "accounts:verify" if profile.totp_confirmed else "accounts:enrol"
        return HttpResponseRedirect(reverse(step), status=303)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SECOND_FACTOR_AT] = time.time()
    response = HttpResponseRedirect(safe_next(request, target), status=303)
    devices.remember(request, response, user)
    return response


def _fresh_proof(
    request: HttpRequest, cfg: oidc.Config, claims: dict[str, object], target: str
) -> HttpResponse:
    """A sensitive action proved again at the identity provider, by the same person."""
    user = request.user
    outcome = oidc.sign_in(cfg, claims)  # the groups are checked again, as at sign-in
    if not isinstance(user, User) or outcome.user is None or outcome.user.pk != user.pk:
        return _error(request, cfg, outcome.reason or "refused", 403)
    if not oidc.proves_mfa(cfg, claims):
        audit("sudo_failed", staff(user), method="identity provider")
        return _error(request, cfg, "refused", 403)
    audit("sudo_passed", staff(user), method="identity provider")
    request.session[SECOND_FACTOR_AT] = time.time()
    return HttpResponseRedirect(safe_next(request, target), status=303)
