"""Staff sign-in: password first, then a second factor; only then is the user logged in."""

from __future__ import annotations

import io
import time

import segno
from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from meldpunt.accounts import devices
from meldpunt.accounts.factors import (
    codes_allowed,
    new_recovery_codes,
    new_totp_secret,
    passkey_owed,
    provisioning_uri,
)
from meldpunt.accounts.forms import EnrolForm, LoginForm, SecondFactorForm
from meldpunt.accounts.gate import PASSKEY_OWED, PENDING, SECOND_FACTOR_AT, staff_required
from meldpunt.accounts.models import StaffProfile
from meldpunt.accounts.passkeys import usable
from meldpunt.audit.actors import staff
from meldpunt.audit.log import append as audit
from meldpunt.lib.middleware import allow_same_origin_fetch
from meldpunt.lib.pages import render_private
from meldpunt.ratelimit import client_key

PENDING_AT, NEXT = "staff_pending_at", "staff_next"
# Between the password and the second factor, at most this long.
PENDING_SECONDS = 5 * 60


def pending_user(request: HttpRequest) -> User | None:
    started = float(request.session.get(PENDING_AT, 0))
    pending = request.session.get(PENDING)
    if pending is None or time.time() - started > PENDING_SECONDS:
        return None
    return User.objects.filter(pk=int(pending), is_active=True).first()


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("triage:inbox")


@require_http_methods(["GET", "HEAD", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        request.session[NEXT] = safe_next(request, request.GET.get("next"))
        form = LoginForm(request=request, client="")
        return render_private(request, "accounts/login.html", _login_context(request, form))
    form = LoginForm(request.POST, request=request, client=client_key(request))
    if not form.is_valid() or form.user is None:
        status = 429 if form.rate_limited else 400
        context = _login_context(request, form)
        return render_private(request, "accounts/login.html", context, status=status)
    request.session.cycle_key()
    request.session[PENDING] = form.user.pk
    request.session[PENDING_AT] = time.time()
    profile = StaffProfile.objects.get(user_id=form.user.pk)
    step = "accounts:verify" if profile.totp_confirmed else "accounts:enrol"
    return HttpResponseRedirect(reverse(step), status=303)


def _login_context(request: HttpRequest, form: LoginForm) -> dict[str, object]:
    sso = settings.MELDPUNT_OIDC_NAME if settings.MELDPUNT_OIDC_ISSUER else ""
    next_url = request.GET.get("next", "")
    return {
        "form": form,
        "sso_name": sso,
        "next": next_url if url_has_allowed_host_and_scheme(next_url, set()) else "",
        "local_login": settings.MELDPUNT_LOCAL_LOGIN,
    }


@require_http_methods(["GET", "HEAD", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    user = pending_user(request)
    if user is None:
        return HttpResponseRedirect(reverse("accounts:login"))
    form = SecondFactorForm(request.POST or None, user=user)
    if request.method != "POST" or not form.is_valid():
        status = 200 if request.method != "POST" else (429 if form.rate_limited else 400)
        if request.method == "POST":
            audit("second_factor_failed", staff(user), rate_limited=form.rate_limited)
        return _verify_page(request, user, {"form": form}, status)
    audit("second_factor_passed", staff(user), method=form.method)
    return complete_login(request, user)


def _verify_page(
    request: HttpRequest, user: User, context: dict[str, object], status: int
) -> HttpResponse:
    """The second-factor page: a code form, a passkey button, or both, as the policy allows."""
    context |= {"has_passkey": bool(usable(user)), "codes_allowed": codes_allowed(user)}
    page = render_private(request, "accounts/verify.html", context, status=status)
    return allow_same_origin_fetch(page)


def complete_login(request: HttpRequest, user: User) -> HttpResponse:
    target = request.session.get(NEXT)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SECOND_FACTOR_AT] = time.time()
    if passkey_owed(user):
        request.session[PASSKEY_OWED] = True
        target = reverse("accounts:passkeys")
    response = HttpResponseRedirect(safe_next(request, target), status=303)
    devices.remember(request, response, user)
    return response


@require_http_methods(["GET", "HEAD", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    user = pending_user(request)
    profile = StaffProfile.objects.filter(user_id=user.pk).first() if user else None
    if user is None or profile is None or profile.totp_confirmed:
        return HttpResponseRedirect(reverse("accounts:login"))
    if not profile.totp.get("secret"):
        new_totp_secret(profile)
    form = EnrolForm(request.POST or None, profile=profile)
    if request.method != "POST" or not form.is_valid():
        context = {
            "form": form,
            "qr": _qr_svg(provisioning_uri(profile)),
            "secret": profile.totp["secret"],
        }
        return render_private(
            request, "accounts/enrol.html", context, status=400 if request.method == "POST" else 200
        )
    codes = new_recovery_codes(user)
    audit("second_factor_enrolled", staff(user), method="totp", recovery_codes=len(codes))
    response = complete_login(request, user)
    page = render_private(
        request, "accounts/recovery_codes.html", {"codes": codes, "next": response["Location"]}
    )
    devices.remember(request, page, user)
    return page


def _qr_svg(uri: str) -> str:
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer,
        kind="svg",
        scale=5,
        border=3,
        dark="#000",
        light="#fff",
        xmldecl=False,
        svgclass="qr",
        lineclass=None,
        title="QR code",
    )
    return buffer.getvalue().decode()


@require_http_methods(["GET", "HEAD", "POST"])
@staff_required
def again(request: HttpRequest) -> HttpResponse:
    """Ask a signed-in member for the second factor again before a sensitive action."""
    user = request.user
    if not isinstance(user, User):  # staff_required let only signed-in users through
        return HttpResponseRedirect(reverse("accounts:login"))
    form = SecondFactorForm(request.POST or None, user=user)
    if request.method != "POST" or not form.is_valid():
        status = 200 if request.method != "POST" else (429 if form.rate_limited else 400)
        if request.method == "POST":
            audit("sudo_failed", staff(user), rate_limited=form.rate_limited)
        context = {
            "form": form,
            "again": True,
            "sso_name": _sso_for(user),
            "next": safe_next(request, request.GET.get("next")),
        }
        return _verify_page(request, user, context, status)
    audit("sudo_passed", staff(user), method=form.method)
    request.session[SECOND_FACTOR_AT] = time.time()
    target = safe_next(request, request.GET.get("next"))
    return HttpResponseRedirect(target, status=303)


def _sso_for(user: User) -> str:
    """The identity provider's name if this account may prove itself there afresh."""
    if not settings.MELDPUNT_OIDC_ACCEPT_MFA or not settings.MELDPUNT_OIDC_ISSUER:
        return ""
    return settings.MELDPUNT_OIDC_NAME if hasattr(user, "oidc_identity") else ""


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponseRedirect(reverse("accounts:login"), status=303)
