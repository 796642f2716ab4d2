from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from meldpunt import ratelimit
from meldpunt.accounts import devices
from meldpunt.accounts.factors import accept_totp, verify_any
from meldpunt.accounts.models import StaffProfile
from meldpunt.accounts.passkeys import MAX_RESPONSE_CHARS
from meldpunt.lib.forms import Form


def _limit(scope: str) -> ratelimit.Limit:
    return ratelimit.Limit(scope, settings.MELDPUNT_STAFF_LOGIN_LIMIT, timedelta(minutes=15))


class LoginForm(Form):
    username = forms.CharField(label=_("E-mail address or user name"), max_length=254)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, max_length=1024)

    def __init__(self, *args: Any, request: HttpRequest, client: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request, self.client = request, client
        self.user: AbstractBaseUser | None = None
        self.rate_limited = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        username, password = cleaned.get("username"), cleaned.get("password")
        if not username or not password:
            return cleaned
        if ratelimit.first_refused(*self._limits(username)):
            self.rate_limited = True
            raise forms.ValidationError(ratelimit.TOO_MANY_ATTEMPTS)
        if not local_login_allowed(username):
            raise forms.ValidationError(
                _("Sign-in with a password is switched off: use single sign-on.")
            )
        user = authenticate(self.request, username=username, password=password)
        if user is None or not StaffProfile.objects.filter(user_id=user.pk).exists():
            raise forms.ValidationError(_("This user name and password do not match."))
        self.user = user
        return cleaned

    def _limits(self, username: str) -> tuple[tuple[ratelimit.Limit, str], ...]:
        device = devices.known_device(self.request, username)
        if device is not None:
            # A browser this account signed in from before: its own limit, so that a
            # flood that fills the limits below does not lock the team out.
            return ((_limit("staff-login-device"), device),)
        # Per client and per account: neither guessing many passwords from one place nor
        # one account's password from many places.
        # And for everyone together: a distributed guess slows down as a whole.
        return (
            (_limit("staff-login-client"), self.client),
            (_limit("staff-login-account"), username.lower()),
            (global_login_limit(), "all"),
        )


class SecondFactorForm(Form):
    code = forms.CharField(
        label=_("Code from your authenticator app, or a recovery code"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, user: AbstractBaseUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.method: str | None = None
        self.rate_limited = False

    def clean_code(self) -> str:
        code: str = self.cleaned_data["code"]
        if not ratelimit.hit(_limit("staff-second-factor"), str(self.user.pk)):
            self.rate_limited = True
            raise forms.ValidationError(ratelimit.TOO_MANY_ATTEMPTS)
        self.method = verify_any(self.user, code)
        if self.method is None:
            raise forms.ValidationError(_("This code is not valid (or was used already)."))
        return code


class EnrolForm(Form):
    code = forms.CharField(
        label=_("Code shown by your authenticator app"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, profile: StaffProfile, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.profile = profile

    def clean_code(self) -> str:
        code: str = self.cleaned_data["code"]
        if not ratelimit.hit(_limit("staff-second-factor"), str(self.profile.user_id)):
            raise forms.ValidationError(ratelimit.TOO_MANY_ATTEMPTS)
        if not accept_totp(self.profile, code, confirming=True):
            raise forms.ValidationError(_("This code is not valid. Check the time on your phone."))
        return code


def local_login_allowed(username: str) -> bool:
    """Passwords may be switched off for everyone but the named break-glass admin."""
    name = settings.MELDPUNT_BREAK_GLASS_ADMIN
    return settings.MELDPUNT_LOCAL_LOGIN or (bool(name) and username.lower() == name.lower())


def global_login_limit() -> ratelimit.Limit:
    return ratelimit.Limit(
        "staff-login-global", settings.MELDPUNT_STAFF_LOGIN_GLOBAL_LIMIT, timedelta(minutes=15)
    )


class PasskeyResponseForm(Form):
    """A WebAuthn response (JSON) from the page's script; its checks are in `passkeys`."""

    response = forms.CharField(max_length=MAX_RESPONSE_CHARS, strip=False)


class PasskeyNameForm(Form):
    name = forms.CharField(
        label=_("Name of this passkey"),
        help_text=_("So that you can tell your passkeys apart, e.g. “work laptop”."),
        max_length=80,
    )


class PasskeyRegisterForm(PasskeyNameForm, PasskeyResponseForm):
    pass


def second_factor_limited(user: AbstractBaseUser) -> bool:
    """Count one second-factor attempt; True when the account has had too many."""
    return not ratelimit.hit(_limit("staff-second-factor"), str(user.pk))
