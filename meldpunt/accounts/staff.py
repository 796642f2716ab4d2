from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from meldpunt.accounts.factors import new_recovery_codes, new_totp_secret, provisioning_uri
from meldpunt.accounts.models import Role, StaffProfile

# Staff may also read reports in the read-only Django admin (meldpunt/triage/admin.py),
# for what the desk has no page for.
READ_REPORTS = ["view_report", "view_message", "view_attachment", "view_event"]


@dataclass(frozen=True)
class NewStaff:
    user: AbstractBaseUser
    totp_uri: str
    recovery_codes: list[str]


def create_staff(email: str, role: str, password: str) -> NewStaff:
    """Create an account with its second factor enrolled; the secrets are returned once."""
    if role not in Role.values:
        raise ValueError(f"role must be one of {', '.join(Role.values)}")
    users = get_user_model()
    if users.objects.filter(username__iexact=email).exists():
        raise ValueError(f"a staff account {email} exists already")
    validate_password(password)
    with transaction.atomic():
        user = users.objects.create_user(username=email, email=email, password=password)
        user.is_staff = True
        user.is_superuser = role == Role.ADMIN
        user.save()
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label="reports", codename__in=READ_REPORTS)
        )
        profile = StaffProfile.objects.create(user=user, role=role)
        new_totp_secret(profile)
        StaffProfile.objects.filter(pk=profile.pk).update(totp_confirmed=True)
        codes = new_recovery_codes(user)
    return NewStaff(user=user, totp_uri=provisioning_uri(profile), recovery_codes=codes)
