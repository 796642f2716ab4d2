"""The CRA Art. 14 and NIS2 Art. 23 reporting clocks: flags, due times, evidence, ledger."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from meldpunt.api.tokens import issue_token
from meldpunt.audit.models import AuditEntry
from meldpunt.reports import promises, regulatory
from meldpunt.reports import reporting_clocks as rc
from meldpunt.reports.assessment import assess
from meldpunt.reports.lifecycle import transition
from meldpunt.reports.messages import send_first_response
from meldpunt.reports.models import Promise, Report
from meldpunt.triage.reminders import send_due_reminders
from tests.conftest import Submitted, make_staff, sign_in, submit

BRUSSELS = ZoneInfo("Europe/Brussels")


@contextlib.contextmanager
def frozen(moment: datetime) -> Iterator[None]:
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


@pytest.fixture
def regimes(settings):
    settings.MELDPUNT_CRA_MANUFACTURER = True
    settings.MELDPUNT_NIS2_ENTITY = True
    settings.TIME_ZONE = "Europe/Brussels"
    return settings


def row(report: Report, kind: str) -> Promise:
    return Promise.objects.get(report=report, kind=kind)


def test_no_clock_runs_unless_the_organisation_is_subject_to_the_law(rita: Submitted, alice):
    regulatory.set_flags(rita.report, alice, exploited=True, nis2_incident=True)
    states = {k: row(rita.report, k).state for k in rc.STEPS}
    assert set(states.values()) == {"not_applicable"}


def test_marking_exploited_starts_the_cra_clock_now(rita: Submitted, alice, regimes):
    moment = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    with frozen(moment):
        regulatory.set_flags(rita.report, alice, exploited=True)
    early = row(rita.report, rc.CRA_EARLY_WARNING)
    assert early.due_at == moment + timedelta(hours=24)
    assert row(rita.report, rc.CRA_NOTIFICATION).due_at == moment + timedelta(hours=72)
    final = row(rita.report, rc.CRA_FINAL_REPORT)
    assert (final.state, final.due_at) == ("pending", None)  # no corrective measure yet
    assert row(rita.report, rc.NIS2_EARLY_WARNING).state == "not_applicable"  # not flagged


def test_an_awareness_at_2330_on_the_eve_of_summer_time_counts_elapsed_hours(
    rita: Submitted, alice, regimes
):
    aware = datetime(2026, 3, 28, 23, 30, tzinfo=BRUSSELS)  # CET; clocks go forward at 02:00
    regulatory.set_flags(rita.report, alice, exploited=True, exploited_aware_at=aware)
    early = row(rita.report, rc.CRA_EARLY_WARNING).due_at
    assert early is not None
    # 24 hours later is 00:30 two days on (the night had 23 hours), not 23:30 the next day.
    assert timezone.localtime(early, BRUSSELS).isoformat() == "2026-03-30T00:30:00+02:00"
    notification = row(rita.report, rc.CRA_NOTIFICATION).due_at
    assert notification == aware.astimezone(UTC) + timedelta(hours=72)  # not wall-clock
    assert timezone.localtime(notification, BRUSSELS).isoformat() == "2026-04-01T00:30:00+02:00"


def test_the_day_of_autumn_has_25_hours(rita: Submitted, alice, regimes):
    aware = datetime(2026, 10, 24, 23, 30, tzinfo=BRUSSELS)  # CEST; back to CET at 03:00
    regulatory.set_flags(rita.report, alice, nis2_incident=True, nis2_aware_at=aware)
    early = row(rita.report, rc.NIS2_EARLY_WARNING).due_at
    assert early is not None
    assert timezone.localtime(early, BRUSSELS).isoformat() == "2026-10-25T22:30:00+01:00"


def test_the_final_report_is_due_14_wall_clock_days_after_the_fix(rita: Submitted, alice, regimes):
    aware = datetime(2026, 3, 20, 10, 0, tzinfo=BRUSSELS)
    fixed = datetime(2026, 3, 28, 23, 30, tzinfo=BRUSSELS)  # across the change to summer time
    regulatory.set_flags(
        rita.report, alice, exploited=True, exploited_aware_at=aware, fix_available_at=fixed
    )
    due = row(rita.report, rc.CRA_FINAL_REPORT).due_at
    assert due is not None
    assert timezone.localtime(due, BRUSSELS).isoformat() == "2026-04-11T23:30:00+02:00"


def test_the_days_are_counted_in_the_configured_time_zone(rita: Submitted, alice, regimes):
    regimes.TIME_ZONE = "America/New_York"  # DST starts 8 March 2026 there
    fixed = datetime(2026, 3, 1, 23, 30, tzinfo=ZoneInfo("America/New_York"))
    regulatory.set_flags(
        rita.report, alice, exploited=True, exploited_aware_at=fixed, fix_available_at=fixed
    )
    due = row(rita.report, rc.CRA_FINAL_REPORT).due_at
    assert due is not None
    assert due.astimezone(UTC) == datetime(2026, 3, 16, 3, 30, tzinfo=UTC)  # 23:30 EDT


def test_the_cra_final_report_follows_the_fixed_state_without_an_explicit_date(
    rita: Submitted, alice, regimes
):
    regulatory.set_flags(rita.report, alice, exploited=True)
    assess(rita.report, alice, valid=True, in_scope=True, expected_fix_date=timezone.localdate())
    send_first_response(rita.report, alice, "Confirmed.")
    transition(rita.report, "fix_in_progress", alice)
    moment = timezone.now() + timedelta(minutes=5)
    with frozen(moment):
        transition(rita.report, "fixed", alice)
    due = row(rita.report, rc.CRA_FINAL_REPORT).due_at
    assert due == rc.after_days(moment, 14)


def test_the_nis2_final_report_is_due_a_month_after_the_notification(
    rita: Submitted, alice, regimes
):
    aware = datetime(2027, 1, 28, 12, 0, tzinfo=BRUSSELS)
    with frozen(aware + timedelta(hours=1)):
        regulatory.set_flags(rita.report, alice, nis2_incident=True, nis2_aware_at=aware)
        # Until the notification is sent: a month after it is due (31 Jan -> 28 Feb).
        due = row(rita.report, rc.NIS2_FINAL_REPORT).due_at
        assert due is not None
        assert timezone.localtime(due, BRUSSELS).isoformat() == "2027-02-28T12:00:00+01:00"
    sent = datetime(2027, 1, 30, 9, 15, tzinfo=BRUSSELS)
    with frozen(sent + timedelta(minutes=1)):
        regulatory.record_sent(
            rita.report,
            alice,
            rc.NIS2_NOTIFICATION,
            sent_at=sent,
            channel="ccb_form",
            reference="CCB-1",
        )
    due = row(rita.report, rc.NIS2_FINAL_REPORT).due_at
    assert due is not None
    assert timezone.localtime(due, BRUSSELS).isoformat() == "2027-02-28T09:15:00+01:00"


def test_recording_the_early_warning_in_time_keeps_it_with_its_evidence(
    rita: Submitted, alice, regimes
):
    aware = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    with frozen(aware):
        regulatory.set_flags(rita.report, alice, exploited=True)
    with frozen(aware + timedelta(hours=20)):
        regulatory.record_sent(
            rita.report,
            alice,
            rc.CRA_EARLY_WARNING,
            sent_at=aware + timedelta(hours=19),
            channel="enisa_srp",
            reference="SRP-2026-0042",
        )
    promise = row(rita.report, rc.CRA_EARLY_WARNING)
    assert (promise.state, promise.settled_at) == ("kept", aware + timedelta(hours=19))
    assert promise.evidence["submitted_via"] == "enisa_srp"
    assert promise.evidence["reference"] == "SRP-2026-0042"
    entry = AuditEntry.objects.filter(action=rc.SENT).get()
    assert entry.data["reference"] == "SRP-2026-0042"
    assert entry.data["step"] == rc.CRA_EARLY_WARNING


def test_a_step_is_at_risk_near_its_due_time_and_broken_after(rita: Submitted, alice, regimes):
    regimes.MELDPUNT_PROMISE_RISK_HOURS = 12
    aware = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    with frozen(aware):
        regulatory.set_flags(rita.report, alice, exploited=True)
    assert row(rita.report, rc.CRA_EARLY_WARNING).state == "pending"
    promises.refresh_due(aware + timedelta(hours=13))
    assert row(rita.report, rc.CRA_EARLY_WARNING).state == "at_risk"
    promises.refresh_due(aware + timedelta(hours=25))
    assert row(rita.report, rc.CRA_EARLY_WARNING).state == "broken"
    # Sent late: settled, and still broken.
    with frozen(aware + timedelta(hours=30)):
        regulatory.record_sent(
            rita.report,
            alice,
            rc.CRA_EARLY_WARNING,
            sent_at=aware + timedelta(hours=29),
            channel="email",
            reference="",
        )
    promise = row(rita.report, rc.CRA_EARLY_WARNING)
    assert (promise.state, promise.settled_at) == ("broken", aware + timedelta(hours=29))


def test_a_step_cannot_be_recorded_before_its_clock_runs(rita: Submitted, alice, regimes):
    with pytest.raises(regulatory.RegulatoryError):
        regulatory.record_sent(
            rita.report,
            alice,
            rc.CRA_EARLY_WARNING,
            sent_at=timezone.now(),
            channel="email",
            reference="",
        )


def test_awareness_in_the_future_is_refused(rita: Submitted, alice, regimes):
    later = timezone.now() + timedelta(hours=1)
    with pytest.raises(regulatory.RegulatoryError):
        regulatory.set_flags(rita.report, alice, exploited=True, exploited_aware_at=later)


def test_unmarking_stops_the_clock_and_the_history_keeps_both(rita: Submitted, alice, regimes):
    regulatory.set_flags(rita.report, alice, exploited=True)
    regulatory.set_flags(rita.report, alice, exploited=False)
    assert row(rita.report, rc.CRA_EARLY_WARNING).state == "not_applicable"
    assert rita.report.events.filter(kind=rc.FLAGS_CHANGED).count() == 2
    assert AuditEntry.objects.filter(action=rc.FLAGS_CHANGED).count() == 2


def test_the_draft_carries_what_the_authority_asks_for(rita: Submitted, alice, regimes):
    regulatory.set_flags(rita.report, alice, exploited=True, member_states="BE, NL")
    text = regulatory.draft(Report.objects.get(pk=rita.report.pk), rc.CRA_EARLY_WARNING)
    assert "CRA Art. 14(2)(a)" in text
    assert "https://portal.example.org/login" in text  # the product, from the report
    assert "Session theft." in text  # the nature of the exploitation
    assert "Member states affected: BE, NL" in text
    assert "Corrective or mitigating measures: [to be completed]" in text


# --- The desk, the API and the export ----------------------------------------------------


def test_the_finders_exploited_answer_starts_the_cra_clock_at_receipt(db, regimes):
    report = submit(Client(), exploited="yes").report
    flags = regulatory.current_flags(report)
    assert flags.exploited and flags.exploited_aware_at == report.created_at
    assert row(report, rc.CRA_EARLY_WARNING).due_at == report.created_at + timedelta(hours=24)
    assert report.events.filter(kind=rc.FLAGS_CHANGED, actor="finder").exists()
    # Not for a finder who said no, nor for an organisation that is no manufacturer.
    assert not regulatory.current_flags(submit(Client(), exploited="no").report).exploited
    regimes.MELDPUNT_CRA_MANUFACTURER = False
    assert not regulatory.current_flags(submit(Client(), exploited="yes").report).exploited


def test_the_report_page_prompts_to_confirm_what_the_finder_said(db, alice, regimes):
    # Received while the organisation was not (yet) set up as a manufacturer.
    regimes.MELDPUNT_CRA_MANUFACTURER = False
    report = submit(Client(), exploited="yes").report
    regimes.MELDPUNT_CRA_MANUFACTURER = True
    page = sign_in(Client(), alice).get(f"/triage/reports/{report.uid}/").content.decode()
    assert 'id="regulatory-confirm"' in page
    # The moment of awareness offered is when the report was received; nothing runs yet.
    received = timezone.localtime(report.created_at).strftime("%Y-%m-%dT%H:%M")
    assert f'value="{received}"' in page
    assert row(report, rc.CRA_EARLY_WARNING).state == "not_applicable"


def test_the_page_has_no_legal_reporting_section_when_not_configured(rita: Submitted, alice):
    page = sign_in(Client(), alice).get(f"/triage/reports/{rita.report.uid}/").content.decode()
    assert 'id="regulatory"' not in page


def test_a_triager_marks_exploited_and_records_the_early_warning_on_the_desk(
    rita: Submitted, alice, regimes
):
    desk = sign_in(Client(), alice)
    base = f"/triage/reports/{rita.report.uid}/regulatory/"
    aware = timezone.localtime() - timedelta(hours=2)
    answer = desk.post(
        base,
        {
            "exploited": "on",
            "exploited_aware_at": aware.strftime("%Y-%m-%dT%H:%M"),
            "member_states": "BE",
        },
    )
    assert answer.status_code == 303
    early = row(rita.report, rc.CRA_EARLY_WARNING)
    assert early.due_at == aware.replace(second=0, microsecond=0) + timedelta(hours=24)
    page = desk.get(f"/triage/reports/{rita.report.uid}/").content.decode()
    assert 'data-step="cra_early_warning"' in page
    assert "Member states affected: BE" in page  # the draft
    answer = desk.post(
        f"{base}sent/",
        {
            "step": rc.CRA_EARLY_WARNING,
            "sent_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "submitted_via": "enisa_srp",
            "reference": "SRP-7",
        },
    )
    assert answer.status_code == 303
    assert row(rita.report, rc.CRA_EARLY_WARNING).state == "kept"
    page = desk.get(f"/triage/reports/{rita.report.uid}/").content.decode()
    assert '<tr data-promise="cra_early_warning" data-promise-state="kept">' in page
    assert "SRP-7" in page


def test_a_viewer_cannot_flag(rita: Submitted, bob, regimes):
    answer = sign_in(Client(), bob).post(
        f"/triage/reports/{rita.report.uid}/regulatory/", {"exploited": "on"}
    )
    assert answer.status_code == 403
    assert not rita.report.events.filter(kind=rc.FLAGS_CHANGED).exists()


def test_a_refused_moment_is_shown_with_its_error(rita: Submitted, alice, regimes):
    later = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    answer = sign_in(Client(), alice).post(
        f"/triage/reports/{rita.report.uid}/regulatory/",
        {"exploited": "on", "exploited_aware_at": later},
    )
    assert answer.status_code == 400
    assert "This moment lies in the future." in answer.content.decode()


def api_client(user: Any) -> tuple[Client, dict[str, str]]:
    token = issue_token(user, "clocks")  # the scopes the role allows
    return Client(headers={"Authorization": f"Bearer {token}"}), {}


def test_the_api_flags_with_if_match_and_records_the_step(rita: Submitted, alice, regimes):
    client, auth = api_client(alice)
    url = f"/api/v1/reports/{rita.report.uid}"
    etag = client.get(url, headers=auth)["ETag"]
    aware = "2026-03-28T23:30:00"  # no offset: the site's time zone (Europe/Brussels)
    answer = client.patch(
        f"{url}/regulatory",
        {"exploited": True, "exploited_aware_at": aware, "nis2_incident": True},
        content_type="application/json",
        headers={**auth, "If-Match": etag},
    )
    assert answer.status_code == 200, answer.content
    clocks = {c["step"]: c for c in answer.json()["clocks"]}
    assert clocks[rc.CRA_EARLY_WARNING]["due_at"] == "2026-03-29T22:30:00+00:00"
    assert rc.NIS2_EARLY_WARNING in clocks
    stale = client.patch(
        f"{url}/regulatory",
        {"exploited": False},
        content_type="application/json",
        headers={**auth, "If-Match": etag},
    )
    assert stale.status_code == 412
    answer = client.post(
        f"{url}/regulatory/sent",
        {
            "step": rc.NIS2_EARLY_WARNING,
            "sent_at": "2026-03-29T09:00:00+02:00",
            "submitted_via": "ccb_form",
            "reference": "CCB-9",
        },
        content_type="application/json",
        headers=auth,
    )
    assert answer.status_code == 200, answer.content
    clocks = {c["step"]: c for c in answer.json()["clocks"]}
    assert clocks[rc.NIS2_EARLY_WARNING]["state"] == "kept"
    assert clocks[rc.NIS2_EARLY_WARNING]["sent"]["reference"] == "CCB-9"
    refused = client.post(
        f"{url}/regulatory/sent",
        {"step": "nonsense", "sent_at": "2026-03-29T09:00:00+02:00", "submitted_via": "email"},
        content_type="application/json",
        headers=auth,
    )
    assert refused.status_code == 422


def test_a_viewer_token_cannot_flag(rita: Submitted, bob, regimes):
    client, auth = api_client(bob)
    answer = client.patch(
        f"/api/v1/reports/{rita.report.uid}/regulatory",
        {"exploited": True},
        content_type="application/json",
        headers=auth,
    )
    assert answer.status_code == 403


def test_the_export_holds_each_step_and_its_evidence(rita: Submitted, rita_client, alice, regimes):
    regulatory.set_flags(rita.report, alice, exploited=True)
    regulatory.record_sent(
        rita.report,
        alice,
        rc.CRA_EARLY_WARNING,
        sent_at=timezone.now(),
        channel="email",
        reference="R-1",
    )
    document = json.loads(rita_client.post("/status/export/").content)
    steps = {c["step"]: c for c in document["legal_reporting"]}
    assert set(steps) == {rc.CRA_EARLY_WARNING, rc.CRA_NOTIFICATION, rc.CRA_FINAL_REPORT}
    assert steps[rc.CRA_EARLY_WARNING]["state"] == "kept"
    assert steps[rc.CRA_EARLY_WARNING]["sent"]["reference"] == "R-1"
    assert "by" not in steps[rc.CRA_EARLY_WARNING]["sent"]  # no team member's name


# --- Reminders and metrics ---------------------------------------------------------------


def test_the_worker_reminds_before_a_step_falls_due_and_escalates_after_once(
    rita: Submitted, alice, regimes, mailoutbox
):
    admin = make_staff("ada@example.org", "admin")
    assess(rita.report, alice, assignee=alice)  # reminders go to the assignee
    aware = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    with frozen(aware):
        regulatory.set_flags(rita.report, alice, exploited=True)
    mailoutbox.clear()
    # MELDPUNT_REMINDER_HOURS (24) ahead: the early warning, not yet the 72 h notification.
    assert send_due_reminders(aware + timedelta(hours=1)) == 1
    (soon,) = mailoutbox
    assert soon.subject.startswith(f"[{rita.report.reference}] CRA report to the authority due")
    assert soon.to == [alice.email]
    assert send_due_reminders(aware + timedelta(hours=2)) == 0  # once per step
    promises.refresh_due(aware + timedelta(hours=25))
    mailoutbox.clear()
    assert send_due_reminders(aware + timedelta(hours=25)) == 1
    (overdue,) = mailoutbox
    assert overdue.subject.startswith(f"[{rita.report.reference}] OVERDUE: CRA report")
    assert set(overdue.to) == {alice.email, admin.email}
    assert "Session theft" not in overdue.body  # no report content in mail


def test_no_reminder_once_the_step_is_recorded_as_sent(rita: Submitted, alice, regimes, mailoutbox):
    aware = timezone.now() - timedelta(hours=1)
    regulatory.set_flags(rita.report, alice, exploited=True, exploited_aware_at=aware)
    regulatory.record_sent(
        rita.report,
        alice,
        rc.CRA_EARLY_WARNING,
        sent_at=timezone.now(),
        channel="email",
        reference="",
    )
    mailoutbox.clear()
    assert send_due_reminders(timezone.now()) == 0


def test_the_metrics_page_counts_deadlines_kept(rita: Submitted, alice, regimes):
    aware = timezone.now() - timedelta(hours=80)
    regulatory.set_flags(rita.report, alice, exploited=True, exploited_aware_at=aware)
    regulatory.record_sent(  # in time
        rita.report,
        alice,
        rc.CRA_EARLY_WARNING,
        sent_at=aware + timedelta(hours=3),
        channel="email",
        reference="",
    )
    promises.refresh_due()  # the notification (72 h) is overdue, not sent
    page = sign_in(Client(), alice).get("/triage/metrics/").content.decode()
    assert 'id="legal-deadlines"' in page
    early = page.split('data-step="cra_early_warning"')[1].split("</tr>")[0]
    assert "1 of 1 (100%)" in early
    notification = page.split('data-step="cra_notification"')[1].split("</tr>")[0]
    assert '<td class="overdue">1</td>' in notification


def test_a_moment_alone_corrects_the_awareness_of_a_set_flag(rita: Submitted, alice, regimes):
    regulatory.set_flags(rita.report, alice, exploited=True)
    earlier = timezone.now() - timedelta(hours=5)
    regulatory.set_flags(rita.report, alice, exploited_aware_at=earlier)
    assert row(rita.report, rc.CRA_EARLY_WARNING).due_at == earlier + timedelta(hours=24)
    regulatory.set_flags(rita.report, alice, nis2_aware_at=earlier)  # not flagged: nothing
    assert row(rita.report, rc.NIS2_EARLY_WARNING).state == "not_applicable"
