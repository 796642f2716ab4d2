"""Which sessions a staff member has open: device, since when, last seen; and ending them.

Sessions live in Django's database session table. A `StaffSession` row per signed-in
session makes them listable without decoding every session; it names the session by a hash
of its key. "Last seen" is written at most once per `SEEN_EVERY` per session, so a busy desk
does not turn every page view into a write.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.http import HttpRequest
from django.utils import timezone

from meldpunt.accounts.models import StaffSession
from meldpunt.lib import useragent

SEEN_EVERY = timedelta(minutes=5)


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
# nothing and is not sent. Not in the session itself: saving the session moves its expiry.
_known: dict[str, datetime] = {}


def _know(found: str, moment: datetime) -> None:
    if len(_known) > 10_000:  # a bound: each entry only saves a statement
        _known.clear()
    _known[found] = moment


def touch(request: HttpRequest) -> None:
    """Called by the staff gate: one UPDATE that writes only when last seen is stale."""
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
        return
    # Moved less than SEEN_EVERY ago elsewhere (another process, the sign-in): read when.
    seen = rows.values_list("last_seen_at", flat=True).first()
    if seen is not None:
        _know(found, seen)


def _alive_since(now: datetime) -> datetime:
    # A session expires this long after its last save; every save is a staff request,
    # which moved "last seen" to within SEEN_EVERY of it.
    return now - timedelta(seconds=settings.SESSION_COOKIE_AGE) - SEEN_EVERY


def open_sessions(user: Any) -> list[StaffSession]:
    """The user's sessions that may still be open, the most recently seen first."""
    return list(
        StaffSession.objects.filter(
            user_id=user.pk, last_seen_at__gt=_alive_since(timezone.now())
        ).order_by("-last_seen_at")
    )


def open_counts() -> dict[int, int]:
    """Per account number, how many sessions may still be open."""
    counts: dict[int, int] = {}
    rows = StaffSession.objects.filter(last_seen_at__gt=_alive_since(timezone.now()))
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
    return StaffSession.objects.filter(
        last_seen_at__lte=_alive_since(now or timezone.now())
    ).delete()[0]
