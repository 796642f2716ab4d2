"""Account life cycle: admins deactivate, reactivate and end sessions of staff; everyone
sees and ends their own sessions; unused accounts are reported to the admins once."""

from __future__ import annotations

import io
import time
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from meldpunt.accounts import inactive, sessions
from meldpunt.accounts.gate import SECOND_FACTOR_AT
from meldpunt.accounts.models import StaffProfile, StaffSession
from meldpunt.accounts.sessions import SEEN_EVERY
from meldpunt.audit.models import AuditEntry
from meldpunt.management.commands import worker
from tests.conftest import make_staff, sign_in
from tests.test_staff_login import password_step, totp

MINUTE = timedelta(minutes=1)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def full_sign_in(user: User, agent: str = FIREFOX) -> Client:
    """Password and TOTP through the real sign-in pages, from a browser that names itself."""
    client = Client(HTTP_USER_AGENT=agent)
    assert password_step(client, user.get_username()).status_code == 303
    # Each TOTP step is accepted once: a second sign-in in the same 30 s waits for the next.
    StaffProfile.objects.filter(user=user).update(last_totp_step=0)
    response = client.post("/triage/login/verify/", {"code": totp(user).now()})
    assert response.status_code == 303, response.content
    return client


def uid_of(user: User) -> str:
    return str(StaffProfile.objects.get(user=user).uid)


def signed_out(client: Client) -> bool:
    return client.get("/triage/").get("Location", "").startswith("/triage/login/")


def audits(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("seq"))


def test_it_lists_staff_for_admins_with_role_sessions_and_second_factor(alice, bob):
    ada = make_staff("ada@example.org", "admin")
    full_sign_in(alice)
    page = sign_in(Client(), ada).get("/triage/staff/")
    assert page.status_code == 200
    html = page.content.decode()
    row = html.split(f'data-staff="{uid_of(alice)}"')[1].split("</tr>")[0]
    assert "alice@example.org" in row and "Triager" in row
    assert "set up (10 recovery codes left)" in row
    assert "<td>1</td>" in row  # one open session
    assert "bob@example.org" in html


def test_it_refuses_the_staff_screens_to_non_admins(alice, bob):
    ada = make_staff("ada@example.org", "admin")
    for user in (alice, bob):
        client = sign_in(Client(), user)
        assert client.get("/triage/staff/").status_code == 403
        assert client.get(f"/triage/staff/{uid_of(ada)}/").status_code == 403
        response = client.post(f"/triage/staff/{uid_of(ada)}/deactivate/")
        assert response.status_code == 403
    ada.refresh_from_db()
    assert ada.is_active
    assert Client().get("/triage/staff/")["Location"].startswith("/triage/login/")


def test_it_deactivates_a_user_who_then_cannot_sign_in_and_loses_sessions(alice):
    ada = make_staff("ada@example.org", "admin")
    alices = full_sign_in(alice)
    admin = sign_in(Client(), ada)
    response = admin.post(f"/triage/staff/{uid_of(alice)}/deactivate/")
    assert response.status_code == 303
    assert "deactivated" in admin.get(response["Location"]).content.decode()
    assert signed_out(alices)
    assert not StaffSession.objects.filter(user=alice).exists()
    assert password_step(Client(), "alice@example.org").status_code == 400
    entry = audits("staff_deactivated")[-1]
    assert entry.actor == f"staff:{ada.pk}"
    assert entry.data == {"account": f"staff:{alice.pk}", "sessions_ended": 1}

    assert admin.post(f"/triage/staff/{uid_of(alice)}/activate/").status_code == 303
    assert audits("staff_activated")[-1].actor == f"staff:{ada.pk}"
    assert not signed_out(full_sign_in(alice))


def test_it_needs_csrf_and_post_for_changes(alice):
    ada = make_staff("ada@example.org", "admin")
    strict = sign_in(Client(enforce_csrf_checks=True), ada)
    assert strict.post(f"/triage/staff/{uid_of(alice)}/deactivate/").status_code == 403
    admin = sign_in(Client(), ada)
    assert admin.get(f"/triage/staff/{uid_of(alice)}/deactivate/").status_code == 405
    alice.refresh_from_db()
    assert alice.is_active


def test_it_asks_for_a_fresh_second_factor_before_a_change(alice):
    ada = make_staff("ada@example.org", "admin")
    admin = sign_in(Client(), ada)
    session = admin.session
    session[SECOND_FACTOR_AT] = time.time() - 3600
    session.save()
    response = admin.post(f"/triage/staff/{uid_of(alice)}/deactivate/")
    assert response.status_code == 303
    assert response["Location"].startswith("/triage/login/again/")
    assert f"%2Ftriage%2Fstaff%2F{uid_of(alice)}%2F" in response["Location"]
    alice.refresh_from_db()
    assert alice.is_active


def test_it_keeps_an_admin_from_deactivating_themselves_or_the_last_admin(alice):
    ada = make_staff("ada@example.org", "admin")
    admin = sign_in(Client(), ada)
    page = admin.post(f"/triage/staff/{uid_of(ada)}/deactivate/", follow=True)
    assert "You cannot deactivate your own account." in page.content.decode()
    ada.refresh_from_db()
    assert ada.is_active
    # The command line (the operator) is not "themselves", but keeps the last admin too.
    try:
        call_command("staff", "deactivate", "ada@example.org", stdout=io.StringIO())
    except CommandError as refused:
        assert "last active administrator" in str(refused)
    else:
        raise AssertionError("the last admin was deactivated")
    eve = make_staff("eve@example.org", "admin")
    User.objects.filter(pk=eve.pk).update(is_active=False)  # an inactive admin does not count
    page = sign_in(Client(), make_staff("max@example.org", "admin")).post(
        f"/triage/staff/{uid_of(ada)}/deactivate/", follow=True
    )
    ada.refresh_from_db()
    assert not ada.is_active  # max is still there
    assert "deactivated" in page.content.decode()


def test_it_ends_all_sessions_of_one_user_only(alice, bob):
    ada = make_staff("ada@example.org", "admin")
    laptop, phone = full_sign_in(alice), full_sign_in(alice, SAFARI)
    bobs = full_sign_in(bob)
    admin = sign_in(Client(), ada)
    response = admin.post(f"/triage/staff/{uid_of(alice)}/end-sessions/", follow=True)
    assert "2 sessions ended." in response.content.decode()
    assert signed_out(laptop) and signed_out(phone)
    assert not signed_out(bobs) and not signed_out(admin)
    alice.refresh_from_db()
    assert alice.is_active  # still may sign in again
    entry = audits("staff_sessions_ended")[-1]
    assert entry.data == {"account": f"staff:{alice.pk}", "sessions_ended": 2}


def test_it_shows_sessions_with_device_and_last_seen_and_stores_no_address(alice):
    ada = make_staff("ada@example.org", "admin")
    full_sign_in(alice)
    full_sign_in(alice, SAFARI)
    page = sign_in(Client(), ada).get(f"/triage/staff/{uid_of(alice)}/").content.decode()
    assert "Firefox on Linux" in page and "Safari on iOS" in page
    assert page.count("<time datetime=") >= 4  # signed in and last seen, twice
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_staffsession WHERE user_id = %s", [alice.pk])
        rows = cursor.fetchall()
    stored = repr(rows)
    assert len(rows) == 2
    assert "127.0.0.1" not in stored and "Gecko" not in stored and "rv:128" not in stored
    keys = list(Session.objects.values_list("session_key", flat=True))
    assert not any(key in stored for key in keys)  # a hash only


def seen_at(row: StaffSession, when: datetime) -> None:
    """As if the session's last request was at `when`: its row and what this process knows."""
    StaffSession.objects.filter(pk=row.pk).update(last_seen_at=when)
    sessions._known[row.key_digest] = when


def test_it_updates_last_seen_at_most_every_few_minutes(alice):
    client = full_sign_in(alice)
    row = StaffSession.objects.get(user=alice)
    client.get("/triage/")
    assert StaffSession.objects.get(pk=row.pk).last_seen_at == row.last_seen_at
    long_ago = timezone.now() - timedelta(minutes=10)
    seen_at(row, long_ago)
    client.get("/triage/")
    assert StaffSession.objects.get(pk=row.pk).last_seen_at > long_ago + timedelta(minutes=9)


def test_a_session_seen_a_moment_ago_costs_no_statement(alice):
    """This process moved "last seen" less than SEEN_EVERY ago: nothing moves it back, so the
    UPDATE could change nothing and is not sent."""
    client = full_sign_in(alice)
    row = StaffSession.objects.get(user=alice)
    seen_at(row, timezone.now() - timedelta(hours=1))
    client.get("/triage/")
    moved = StaffSession.objects.get(pk=row.pk).last_seen_at
    assert moved > timezone.now() - timedelta(minutes=1)
    with CaptureQueriesContext(connection) as queries:
        client.get("/triage/")
    assert not [q for q in queries if "accounts_staffsession" in q["sql"]]
    assert StaffSession.objects.get(pk=row.pk).last_seen_at == moved


def test_a_session_signed_in_a_moment_ago_costs_no_statement(alice):
    """The sign-in wrote "last seen", and the process that signed in knows when."""
    client = full_sign_in(alice)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/triage/").status_code == 200
    assert not [q for q in queries if "accounts_staffsession" in q["sql"]]


def test_last_seen_moved_elsewhere_is_read_once_then_trusted(alice, settings):
    """Another process moved "last seen" a minute ago: the UPDATE changes nothing, the moment
    it holds is read once, and until SEEN_EVERY after it no statement is sent; then the
    next request moves it again. Only that request saves the session, which moves its
    expiry (the process that moved "last seen" elsewhere saved it then)."""
    client = full_sign_in(alice)
    row = StaffSession.objects.get(user=alice)
    sessions._known.pop(row.key_digest)  # as a process that never saw this session
    key = client.cookies["meldpunt_session"].value
    expires = Session.objects.get(session_key=key).expire_date
    a_minute_ago = timezone.now() - timedelta(minutes=1)
    StaffSession.objects.filter(pk=row.pk).update(last_seen_at=a_minute_ago)
    with CaptureQueriesContext(connection) as queries:
        client.get("/triage/")
    assert len([q for q in queries if "accounts_staffsession" in q["sql"]]) == 2
    assert sessions._known[row.key_digest] == a_minute_ago
    with CaptureQueriesContext(connection) as queries:
        client.get("/triage/")
    assert not [q for q in queries if "accounts_staffsession" in q["sql"]]
    assert StaffSession.objects.get(pk=row.pk).last_seen_at == a_minute_ago
    assert Session.objects.get(session_key=key).expire_date == expires
    # SEEN_EVERY later, the row is stale and the request moves it, and the expiry with it.
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + MINUTE)
    seen_at(row, timezone.now() - SEEN_EVERY - timedelta(seconds=1))
    client.get("/triage/")
    assert StaffSession.objects.get(pk=row.pk).last_seen_at > timezone.now() - timedelta(minutes=1)
    assert expires_in(client) > timedelta(seconds=settings.SESSION_COOKIE_AGE) - MINUTE


def session_of(client: Client) -> Session:
    return Session.objects.get(session_key=client.cookies["meldpunt_session"].value)


def expires_in(client: Client) -> timedelta:
    return session_of(client).expire_date - timezone.now()


def test_it_keeps_a_staff_member_who_keeps_working_signed_in(alice, settings):
    """29 minutes of reading: the session expires in a minute, "last seen" is stale. The next
    page moves both; the cookie still ends with the browser."""
    client = full_sign_in(alice)
    Session.objects.filter(pk=session_of(client).pk).update(expire_date=timezone.now() + MINUTE)
    seen_at(StaffSession.objects.get(user=alice), timezone.now() - timedelta(minutes=29))
    response = client.get("/triage/")
    assert response.status_code == 200
    age = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert age - MINUTE < expires_in(client) <= age
    # Only the expiry moved: the session's data were not saved again, and the cookie
    # (a browser-session one) was not sent again.
    assert "meldpunt_session" not in response.cookies
    assert not signed_out(client)


def test_it_signs_out_a_staff_member_idle_past_the_expiry(alice):
    """A request that does not move "last seen" does not move the expiry either."""
    client = full_sign_in(alice)
    Session.objects.filter(pk=session_of(client).pk).update(expire_date=timezone.now() + MINUTE)
    assert client.get("/triage/").status_code == 200
    assert expires_in(client) <= MINUTE
    Session.objects.filter(pk=session_of(client).pk).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    seen_at(StaffSession.objects.get(user=alice), timezone.now() - timedelta(minutes=31))
    assert signed_out(client)


def in_session(client: Client, **ago: timedelta | None) -> None:
    """Put these session keys at that long ago (None: remove the key)."""
    session = client.session
    for key, delta in ago.items():
        if delta is None:
            session.pop(key, None)
        else:
            session[key] = time.time() - delta.total_seconds()
    session.save()


def test_it_ends_a_sign_in_after_the_longest_session_however_busy(alice, settings):
    settings.MELDPUNT_STAFF_SESSION_HOURS = 12
    longest = timedelta(hours=12)
    client = full_sign_in(alice)
    assert client.session[sessions.SIGNED_IN_AT] > time.time() - 60  # noted at the sign-in
    in_session(client, **{sessions.SIGNED_IN_AT: longest - MINUTE})
    assert client.get("/triage/").status_code == 200
    in_session(client, **{sessions.SIGNED_IN_AT: longest + MINUTE})
    assert signed_out(client)
    settings.MELDPUNT_STAFF_SESSION_HOURS = 13
    assert client.get("/triage/").status_code == 200


def test_a_second_factor_given_again_does_not_lengthen_the_sign_in(alice, settings):
    """A sensitive action asks for the second factor again; that does not restart the
    longest session, which counts from the sign-in."""
    settings.MELDPUNT_STAFF_SESSION_HOURS = 12
    client = full_sign_in(alice)
    in_session(
        client,
        **{sessions.SIGNED_IN_AT: timedelta(hours=12, minutes=1), SECOND_FACTOR_AT: MINUTE},
    )
    assert signed_out(client)


def test_a_session_from_before_the_sign_in_was_noted_counts_from_its_second_factor(alice, settings):
    settings.MELDPUNT_STAFF_SESSION_HOURS = 12
    client = full_sign_in(alice)
    in_session(client, **{sessions.SIGNED_IN_AT: None, SECOND_FACTOR_AT: timedelta(hours=11)})
    assert client.get("/triage/").status_code == 200
    in_session(client, **{SECOND_FACTOR_AT: timedelta(hours=12, minutes=1)})
    assert signed_out(client)


def test_work_in_the_admin_site_keeps_the_session_alive(db, settings):
    admin = make_staff("root@example.org", "admin")
    client = full_sign_in(admin)
    Session.objects.filter(pk=session_of(client).pk).update(expire_date=timezone.now() + MINUTE)
    seen_at(StaffSession.objects.get(user=admin), timezone.now() - timedelta(minutes=29))
    assert client.get("/admin/").status_code == 200
    assert expires_in(client) > timedelta(seconds=settings.SESSION_COOKIE_AGE) - MINUTE


def test_it_lists_no_session_signed_in_before_the_longest_session(alice, settings):
    settings.MELDPUNT_STAFF_SESSION_HOURS = 12
    full_sign_in(alice)
    full_sign_in(alice, SAFARI)
    old = StaffSession.objects.get(user=alice, browser="Safari")
    StaffSession.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=12, minutes=1)
    )
    assert [s.browser for s in sessions.open_sessions(alice)] == ["Firefox"]
    assert sessions.open_counts() == {alice.pk: 1}
    assert sessions.purge_stale() == 1
    assert list(StaffSession.objects.filter(user=alice).values_list("browser", flat=True)) == [
        "Firefox"
    ]


def test_it_lets_staff_see_and_end_their_own_other_sessions(alice, bob):
    laptop, phone = full_sign_in(alice), full_sign_in(alice, SAFARI)
    bobs = full_sign_in(bob)
    page = laptop.get("/triage/sessions/").content.decode()
    assert "Firefox on Linux" in page and "Safari on iOS" in page
    assert page.count("data-current") == 1
    phone_row = StaffSession.objects.get(user=alice, browser="Safari")
    own_row = StaffSession.objects.get(user=alice, browser="Firefox")
    assert laptop.post(f"/triage/sessions/{phone_row.uid}/end/").status_code == 303
    assert signed_out(phone) and not signed_out(laptop)
    assert audits("staff_session_ended")[-1].actor == f"staff:{alice.pk}"
    # Not the one in use (that is "Sign out"), and not someone else's.
    laptop.post(f"/triage/sessions/{own_row.uid}/end/")
    bob_row = StaffSession.objects.get(user=bob)
    laptop.post(f"/triage/sessions/{bob_row.uid}/end/")
    assert not signed_out(laptop) and not signed_out(bobs)


def test_it_forgets_a_session_on_sign_out(alice):
    client = full_sign_in(alice)
    assert StaffSession.objects.filter(user=alice).count() == 1
    client.post("/triage/logout/")
    assert not StaffSession.objects.filter(user=alice).exists()


def test_it_reports_unused_accounts_to_admins_once(alice, bob, settings):
    settings.MELDPUNT_STAFF_INACTIVE_DAYS = 90
    ada = make_staff("ada@example.org", "admin")
    old = timezone.now() - timedelta(days=91)
    User.objects.filter(pk=alice.pk).update(last_login=old)
    User.objects.filter(pk=bob.pk).update(last_login=timezone.now() - timedelta(days=10))
    gone = make_staff("gone@example.org", "viewer")
    User.objects.filter(pk=gone.pk).update(last_login=old, is_active=False)
    User.objects.filter(pk=ada.pk).update(last_login=timezone.now())
    mail.outbox.clear()
    assert worker._staff_accounts in worker.JOBS
    worker._staff_accounts()
    assert [m.subject for m in mail.outbox] == [
        "Staff account alice@example.org unused for 90 days"
    ]
    assert mail.outbox[0].to == ["ada@example.org"]
    assert audits("staff_inactive_reported")[-1].data == {"account": f"staff:{alice.pk}"}
    worker._staff_accounts()
    assert inactive.report_inactive() == 0
    assert len(mail.outbox) == 1  # not again
    page = sign_in(Client(), ada).get("/triage/staff/").content.decode()
    row = page.split(f'data-staff="{uid_of(alice)}"')[1].split("</tr>")[0]
    assert "data-unused" in row
    assert "data-unused" not in page.split(f'data-staff="{uid_of(bob)}"')[1].split("</tr>")[0]
    out = io.StringIO()
    call_command("staff", "list", "--inactive", stdout=out)
    assert "alice@example.org" in out.getvalue() and "bob@example.org" not in out.getvalue()
    # A sign-in and a new stretch of disuse is a new period: reported again.
    User.objects.filter(pk=alice.pk).update(last_login=old + timedelta(days=1))
    assert inactive.report_inactive() == 1


def test_it_names_devices_coarsely() -> None:
    from meldpunt.lib.useragent import summary

    edge = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87"
    )
    android = (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Mobile Safari/537.36"
    )
    assert summary(FIREFOX) == ("Firefox", "Linux")
    assert summary(SAFARI) == ("Safari", "iOS")
    assert summary(edge) == ("Edge", "Windows")
    assert summary(android) == ("Chrome", "Android")
    assert summary("") == ("?", "?")
