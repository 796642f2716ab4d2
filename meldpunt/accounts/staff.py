from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.models import AbstractBaseUser, Permission, User
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from meldpunt.accounts import sessions
from meldpunt.accounts.factors import new_recovery_codes, new_totp_secret, provisioning_uri
from meldpunt.accounts.gate import PENDING
from meldpunt.accounts.models import Passkey, RecoveryCode, Role, StaffProfile
from meldpunt.audit.actors import staff as staff_actor
from meldpunt.audit.log import append as audit

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


# --- The operator's way back in (`meldpunt staff …`) ------------------------------------
# The command line is the recovery path when the last admin lost a password or second
# factor: whoever runs it already holds the server (database and key file). Each change is
# audited as the operator, naming the account by number (never its name or the password).
OPERATOR = "operator"


@dataclass(frozen=True)
class StaffRow:
    username: str
    role: str
    active: bool
    second_factor: bool
    recovery_codes_left: int
    last_login: datetime | None
    uid: UUID
    role_label: str
    sessions: int
    # Active, and no sign-in for MELDPUNT_STAFF_INACTIVE_DAYS (reported to the admins).
    inactive: bool


def inactive_before(now: datetime | None = None) -> datetime:
    """An account whose last sign-in (or creation) is older than this is unused."""
    return (now or timezone.now()) - timedelta(days=settings.MELDPUNT_STAFF_INACTIVE_DAYS)


def last_used(user: Any) -> datetime:
    """The last sign-in, or the creation of an account that never signed in."""
    return user.last_login or user.date_joined  # type: ignore[no-any-return]


def list_staff() -> list[StaffRow]:
    profiles = StaffProfile.objects.select_related("user").order_by("user__username")
    unused = dict(
        RecoveryCode.objects.filter(used_at=None)
        .values("user_id")
        .annotate(n=Count("pk"))
        .values_list("user_id", "n")
    )
    open_sessions = sessions.open_counts()
    cutoff = inactive_before()
    return [
        StaffRow(
            username=p.user.get_username(),
            role=p.role,
            active=p.user.is_active,
            second_factor=p.totp_confirmed,
            recovery_codes_left=unused.get(p.user_id, 0),
            last_login=p.user.last_login,
            uid=p.uid,
            role_label=str(p.get_role_display()),
            sessions=open_sessions.get(p.user_id, 0),
            inactive=p.user.is_active and last_used(p.user) < cutoff,
        )
        for p in profiles
    ]


def find_staff(username: str) -> User | None:
    """The staff account with this user name (case-insensitive), or None."""
    profile = (
        StaffProfile.objects.select_related("user").filter(user__username__iexact=username).first()
    )
    return profile.user if profile else None


def end_sessions(user: User) -> int:
    """Delete every session signed in as `user`, or half-way through signing in as them."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        data = session.get_decoded()
        if str(user.pk) in {str(data.get(SESSION_KEY)), str(data.get(PENDING))}:
            session.delete()
            ended += 1
    sessions.forget_all(user)
    return ended


def set_password(user: User, password: str) -> int:
    """A new password (checked by the configured validators); ends the user's sessions."""
    validate_password(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        ended = end_sessions(user)
        audit("staff_password_set", OPERATOR, account=staff_actor(user), sessions_ended=ended)
    return ended


def reset_second_factor(user: User) -> int:
    """Forget the TOTP secret, recovery codes and passkeys: the next sign-in enrols again."""
    with transaction.atomic():
        profile = StaffProfile.objects.select_for_update().get(user_id=user.pk)
        profile.totp = {}
        profile.totp_confirmed = False
        profile.save(update_fields=["totp_blob", "totp_confirmed"])
        codes = RecoveryCode.objects.filter(user_id=user.pk).delete()[0]
        removed = Passkey.objects.filter(user_id=user.pk).delete()[0]
        ended = end_sessions(user)
        audit(
            "staff_second_factor_reset",
            OPERATOR,
            account=staff_actor(user),
            recovery_codes_removed=codes,
            passkeys_removed=removed,
            sessions_ended=ended,
        )
    return ended


class Refused(ValueError):
    """A change the account rules do not allow; `code` says which rule."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def set_active(user: User, active: bool, by: User | None = None) -> int:
    """(De)activate an account; a deactivated one loses its sessions (API tokens stop too).

    `by` is the admin on the staff screen (None: the operator's command line). Nobody
    deactivates themselves, and the last active admin stays: the desk keeps someone who
    can manage it (the command line can still bring an account back).
    """
    with transaction.atomic():
        if not active:
            if by is not None and by.pk == user.pk:
                raise Refused("self")
            admins = (
                StaffProfile.objects.select_for_update()
                .filter(role=Role.ADMIN, user__is_active=True)
                .values_list("user_id", flat=True)
            )
            if set(admins) == {user.pk}:
                raise Refused("last_admin")
        user.is_active = active
        user.save(update_fields=["is_active"])
        ended = 0 if active else end_sessions(user)
        action = "staff_activated" if active else "staff_deactivated"
        who = OPERATOR if by is None else staff_actor(by)
        audit(action, who, account=staff_actor(user), sessions_ended=ended)
    return ended


def end_all_sessions(user: User, by: User) -> int:
    """An admin ends every session of `user` (a lost laptop, a shared screen)."""
    with transaction.atomic():
        ended = end_sessions(user)
        audit(
            "staff_sessions_ended", staff_actor(by), account=staff_actor(user), sessions_ended=ended
        )
    return ended


def end_own_session(user: User, uid: UUID, current: str | None) -> bool:
    """A staff member ends one of their other sessions; never the one they are using."""
    row = user.staff_sessions.filter(uid=uid).first()
    if row is None or row.key_digest == current:
        return False
    with transaction.atomic():
        ended = sessions.end_one(user, uid)
        if ended:
            audit("staff_session_ended", staff_actor(user), account=staff_actor(user))
    return ended
