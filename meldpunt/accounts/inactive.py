"""Staff accounts nobody signed in to for a long time, reported to the admins once.

People leave; an account that still works after they did is a way in. The worker calls
`report_inactive()` every round; each account is reported once per period of disuse, under
a unique (account, last sign-in) key, so several workers and later rounds send nothing more.
The mail names accounts by user name only (admins know them; it carries no report data).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from meldpunt.accounts.models import InactiveNotice, Role
from meldpunt.accounts.staff import inactive_before, last_used
from meldpunt.audit.actors import SYSTEM
from meldpunt.audit.actors import staff as staff_actor
from meldpunt.audit.log import append as audit

log = logging.getLogger(__name__)


def inactive_accounts(now: datetime | None = None) -> list[User]:
    cutoff = inactive_before(now)
    users = User.objects.filter(is_active=True, staff__isnull=False).order_by("username")
    return [u for u in users if last_used(u) < cutoff]


def _admin_emails() -> list[str]:
    admins = User.objects.filter(staff__role=Role.ADMIN, is_active=True)
    return sorted({u.email for u in admins if u.email})


def report_inactive(now: datetime | None = None) -> int:
    """Mail the admins about each unused account not reported yet; the number reported."""
    now = now or timezone.now()
    to = _admin_emails()
    if not to:
        return 0
    sent = 0
    for user in inactive_accounts(now):
        since = last_used(user)
        try:
            with transaction.atomic():
                InactiveNotice.objects.create(user=user, since=since, sent_at=now)
                audit("staff_inactive_reported", SYSTEM.audit, account=staff_actor(user))
                _mail(user, since, to)
        except IntegrityError:
            continue  # reported already, by this worker earlier or by another one
        except OSError:
            log.warning("inactive account %s could not be reported; will retry", user.pk)
            continue
        sent += 1
    return sent


def _mail(user: User, since: datetime, to: list[str]) -> None:
    days = settings.MELDPUNT_STAFF_INACTIVE_DAYS
    day = timezone.localtime(since).strftime("%Y-%m-%d")
    used = (
        f"was created on {day} and never used"
        if user.last_login is None
        else (f"was last signed in to on {day}")
    )
    subject = f"Staff account {user.get_username()} unused for {days} days"
    body = (
        f"The staff account {user.get_username()} is still active but {used}.\n\n"
        "If its owner left or no longer needs it, deactivate it on the staff page:\n"
        f"{settings.MELDPUNT_BASE_URL}/triage/staff/\n"
    )
    send_mail(subject, body, None, to)
