"""Which sessions a staff member has open: device, since when, last seen; and ending them.

Sessions live in Django's database session table. A `StaffSession` row per signed-in
session makes them listable without decoding every session; it names the session by a hash
of its key. "Last seen" is written at most once per `SEEN_EVERY` per session, so a busy desk
does not turn every page view into a write. Each such write also moves the session's expiry:
a staff session ends after `SESSION_COOKIE_AGE` without a request (the idle time-out), and
at the latest `MELDPUNT_STAFF_SESSION_HOURS` after its sign-in (`gate.is_staff_verified`),
however busy.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from meldpunt.accounts.models import StaffSession
from meldpunt.lib import useragent

SEEN_EVERY = timedelta(minutes=5)
# When this session was signed in (time.time()); a second factor given again for a
# sensitive action does not move it.
SIGNED_IN_AT = "staff_signed_in_at"


def longest() -> timedelta:
    """How long a staff sign-in lasts at most, busy or not (MELDPUNT_STAFF_SESSION_HOURS)."""
    return timedelta(hours=settings.MELDPUNT_STAFF_SESSION_HOURS)


def digest(session_key: str) -> str:
    return hashlib.sha256(session_key.encode()).hexdigest()


def current_digest(request: HttpRequest) -> str | None:
    key = request.session.session_key
    return digest(key) if key else None


def record_sign_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """On `user_logged_in`: the new session (its key was just cycled) gets its row."""
    if request is None or getattr(user, "staff", None) is None:
        return
    key = request.session.session_key
    if not key:
        request.session.save()
        key = request.session.session_key
    if key is None:
        return
    request.session[SIGNED_IN_AT] = time.time()
    browser, system = useragent.summary(request.headers.get("User-Agent", ""))
    now = timezone.now()
    _know(digest(key), now)
    StaffSession.objects.update_or_create(
        key_digest=digest(key),
        defaults={"user": user, "browser": browser, "system": system, "last_seen_at": now},
        create_defaults={
            "user": user,
            "browser": browser,
            "system": system,
            "created_at": now,
            "last_seen_at": now,
        },
    )


def forget_sign_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """On `user_logged_out`: the session is gone, so is its row."""
    if request is not None and (found := current_digest(request)):
        StaffSession.objects.filter(key_digest=found).delete()


# When each session's "last seen" row is known (in this process) to hold that moment or a
# later one (nothing moves it back): until SEEN_EVERY after it, the UPDATE below could change
# nothing and is not sent. Not in the session itself: every host reads the session, but
# writing the moment there would save the whole session again.
_known: dict[str, datetime] = {}


def _know(found: str, moment: datetime) -> None:
    if len(_known) > 10_000:  # a bound: each entry only saves a statement
        _known.clear()
    _known[found] = moment


def touch(request: HttpRequest) -> None:
    """Called by the staff gate: "last seen" and the session's expiry move when stale."""
    found = current_digest(request)
    if found is None:
        return
    now = timezone.now()
    known = _known.get(found)
    if known is not None and known <= now < known + SEEN_EVERY:
        return
    rows = StaffSession.objects.filter(key_digest=found)
    if rows.filter(last_seen_at__lt=now - SEEN_EVERY).update(last_seen_at=now):
        _know(found, now)
        _move_expiry(request)
        return
    # Moved less than SEEN_EVERY ago elsewhere (another process, the sign-in), which moved
    # the expiry then: only read when.
    seen = rows.values_list("last_seen_at", flat=True).first()
    if seen is not None:
        _know(found, seen)


def _move_expiry(request: HttpRequest) -> None:
    """The session expires SESSION_COOKIE_AGE from now: an active member stays signed in, an
    idle one is signed out after that long, or up to SEEN_EVERY sooner (this runs at most that
    often). Only the expiry is written: saving the whole session could undo what a parallel
    request of the same member just stored in it (a second factor given again, say). The
    cookie stays a browser-session one (SESSION_EXPIRE_AT_BROWSER_CLOSE)."""
    Session.objects.filter(session_key=request.session.session_key).update(
        expire_date=request.session.get_expiry_date()
    )


def signed_in_age(request: HttpRequest, second_factor_at: float | None) -> float | None:
    """Seconds since this session was signed in; a session signed in before that was noted
    counts from its second factor (`second_factor_at`)."""
    began = request.session.get(SIGNED_IN_AT, second_factor_at)
    return None if began is None else time.time() - float(began)


def _alive_since(now: datetime) -> datetime:
    # A session expires this long after its expiry last moved: a save (a staff request, so
    # "last seen" is within SEEN_EVERY of it) or `touch` moving "last seen" with it.
    return now - timedelta(seconds=settings.SESSION_COOKIE_AGE) - SEEN_EVERY


def _maybe_open(now: datetime) -> Q:
    # Seen lately enough to be within the idle time-out, and signed in within the longest.
    return Q(last_seen_at__gt=_alive_since(now), created_at__gt=now - longest())


def open_sessions(user: Any) -> list[StaffSession]:
    """The user's sessions that may still be open, the most recently seen first."""
    return list(
        StaffSession.objects.filter(_maybe_open(timezone.now()), user_id=user.pk).order_by(
            "-last_seen_at"
        )
    )


def open_counts() -> dict[int, int]:
    """Per account number, how many sessions may still be open."""
    counts: dict[int, int] = {}
    rows = StaffSession.objects.filter(_maybe_open(timezone.now()))
    for user_id in rows.values_list("user_id", flat=True):
        counts[user_id] = counts.get(user_id, 0) + 1
    return counts


def end_one(user: Any, uid: Any) -> bool:
    """End this session of `user` (really: its Django session row goes); False if gone."""
    row = StaffSession.objects.filter(user_id=user.pk, uid=uid).first()
    if row is None:
        return False
    live = Session.objects.filter(expire_date__gt=timezone.now())
    for key in live.values_list("session_key", flat=True).iterator():
        if digest(key) == row.key_digest:
            # The row names the session by hash only; check it is this user's all the same.
            session = Session.objects.get(session_key=key)
            if str(session.get_decoded().get(SESSION_KEY)) == str(user.pk):
                session.delete()
            break
    row.delete()
    return True


def forget_all(user: Any) -> None:
    StaffSession.objects.filter(user_id=user.pk).delete()


def purge_stale(now: datetime | None = None) -> int:
    """Rows of sessions that have certainly expired."""
    return StaffSession.objects.exclude(_maybe_open(now or timezone.now())).delete()[0]
