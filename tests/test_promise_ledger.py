"""The promise ledger: each promise pending, at risk, kept, broken or n/a, with its evidence."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from meldpunt.advisories import publishing
from meldpunt.advisories.models import FinderReview
from meldpunt.api.tokens import issue_token
from meldpunt.lib.targets import parse_target
from meldpunt.policy.commitments import current_version
from meldpunt.reports import clock, promises
from meldpunt.reports.assessment import assess
from meldpunt.reports.lifecycle import transition
from meldpunt.reports.messages import send_first_response, send_message
from meldpunt.reports.models import OutboundMail, Promise, Report, State
from meldpunt.reports.reporting_clocks import STEPS
from meldpunt.reports.services import NewReport, submit_report
from meldpunt.triage.metrics import promise_figures
from tests.advisory_cast import fixed, ready
from tests.conftest import sign_in, submit

FIX_DATE = timezone.localdate() + timedelta(days=30)


def row(report: Report, kind: str) -> Promise:
    return Promise.objects.get(report=report, kind=kind)


def answered(report: Report, user: User, **fields: Any) -> Report:
    values = {"valid": True, "in_scope": True, "expected_fix_date": FIX_DATE, **fields}
    assess(report, user, **values)
    send_first_response(report, user, "Confirmed; we expect a fix within a month.")
    return report


def due_in(report: Report, delta: timedelta) -> None:
    """Move the first-response deadline (before any event, as a past report would have it)."""
    Report.objects.filter(pk=report.pk).update(response_due_at=timezone.now() + delta)
    promises.refresh(report)


def test_it_starts_a_ledger_with_every_promise_when_a_report_arrives(rita):
    states = dict(Promise.objects.filter(report=rita.report).values_list("kind", "state"))
    assert states == {
        "first_response": "pending",
        "progress_updates": "not_applicable",
        "fix_date": "not_applicable",
        "credit": "not_applicable",
        "publication_involvement": "not_applicable",
        "data_deletion": "not_applicable",
        **{step: "not_applicable" for step in STEPS},  # no legal clock runs (off, unflagged)
    }
    assert row(rita.report, "first_response").due_at == rita.report.response_due_at


@pytest.mark.parametrize("regime", [False, True])
def test_a_new_reports_ledger_is_what_a_full_refresh_computes(regime, settings, db):
    # A new report's ledger is written at once (promises.start), not read back: a refresh
    # reading everything from the database must find nothing to change, with the legal
    # clocks on or off.
    settings.MELDPUNT_CRA_MANUFACTURER = settings.MELDPUNT_NIS2_ENTITY = regime
    report = submit_report(
        NewReport(
            channel="email",
            language="en",
            policy_version=current_version(),
            category="other",
            out_of_scope=False,
            targets=[parse_target("https://app.example.org/")],
            content={"description": "x"},
            finder={"email": "finder@example.net"},
        )
    ).report

    def facts(rows: Any) -> dict[str, tuple[Any, ...]]:
        return {
            p.kind: tuple(getattr(p, f) for f in (*promises.FIELDS, "evaluated_at")) for p in rows
        }

    first = facts(Promise.objects.filter(report=report))
    assert set(first) == set(promises.PROMISES)
    stamp = next(iter(first.values()))[-1]
    assert facts(promises.refresh(report, stamp)) == first
    assert facts(Promise.objects.filter(report=report)) == first


def test_it_calls_a_first_response_at_risk_near_its_due_time(rita, settings):
    settings.MELDPUNT_PROMISE_RISK_HOURS = 24  # the first response is due in three days
    assert promises.refresh_due(timezone.now() + timedelta(days=1)) == 0
    assert row(rita.report, "first_response").state == "pending"
    assert promises.refresh_due(timezone.now() + timedelta(days=2, hours=12)) == 1
    assert row(rita.report, "first_response").state == "at_risk"


def test_it_breaks_a_first_response_past_due_in_the_periodic_pass(rita):
    assert promises.refresh_due(timezone.now() + timedelta(days=4)) == 1
    promise = row(rita.report, "first_response")
    assert (promise.state, promise.settled_at) == ("broken", None)
    assert promises.refresh_due(timezone.now() + timedelta(days=4)) == 0  # settled as broken


def test_it_keeps_the_first_response_with_its_evidence_in_the_same_transaction(rita, alice):
    answered(rita.report, alice)
    message = rita.report.messages.get(is_first_response=True)
    promise = row(rita.report, "first_response")  # no refresh called: the events did it
    assert promise.state == "kept"
    assert promise.settled_at == message.created_at
    assert promise.evidence["kind"] == "message_sent"
    assert promise.evidence["message"] == str(message.uid)
    assert rita.report.events.filter(pk=promise.evidence["event"]).exists()
    assert promise.evidence["mail"] is None  # rita left no address: nothing was mailed


def test_it_breaks_a_first_response_sent_late(rita, alice):
    due_in(rita.report, timedelta(hours=-2))
    answered(rita.report, alice)
    promise = row(rita.report, "first_response")
    assert promise.state == "broken"
    assert promise.settled_at is not None and promise.due_at is not None
    assert promise.settled_at > promise.due_at


def test_it_keeps_a_promise_only_when_the_mail_reached_the_finder(alice):
    report = submit(Client(), email="rita@example.net").report
    answered(report, alice)
    assert row(report, "first_response").state == "kept"
    OutboundMail.objects.filter(report=report).update(
        status=OutboundMail.Status.BOUNCED, status_changed_at=timezone.now()
    )
    promises.refresh_due()
    promise = row(report, "first_response")
    assert promise.state in ("pending", "at_risk")
    assert promise.evidence["mail"] == "bounced"


def test_it_owes_progress_updates_at_the_configured_cadence(rita, alice):
    answered(rita.report, alice)
    report = Report.objects.get(pk=rita.report.pk)
    promise = row(report, "progress_updates")
    assert promise.state == "pending"
    assert promise.due_at == clock.next_update_due(report)
    later = timezone.now() + timedelta(days=60)
    promises.refresh(report, later)
    assert row(report, "progress_updates").state == "broken"


def test_it_keeps_the_fix_date_when_fixed_in_time_and_breaks_it_when_it_passes(alice):
    on_time = answered(submit(Client()).report, alice)
    transition(on_time, State.FIX_IN_PROGRESS, alice)
    transition(on_time, State.FIXED, alice)
    promise = row(on_time, "fix_date")
    assert promise.state == "kept"
    assert promise.evidence["kind"] == "state_changed"
    late = answered(submit(Client()).report, alice)
    assert row(late, "fix_date").state == "pending"
    promises.refresh(late, timezone.now() + timedelta(days=40))
    assert row(late, "fix_date").state == "broken"


def test_it_accepts_a_new_fix_date_told_to_the_finder_before_the_old_one(rita, alice):
    answered(rita.report, alice)
    assess(rita.report, alice, expected_fix_date=FIX_DATE + timedelta(days=30))
    # Moved, but not told yet: still owed by the old date, with the move as evidence.
    promise = row(rita.report, "fix_date")
    assert promise.state == "pending"
    assert promise.evidence["moved_to"] == (FIX_DATE + timedelta(days=30)).isoformat()
    send_message(rita.report, alice, "We need another month.")
    promise = row(rita.report, "fix_date")
    assert promise.state == "pending"
    assert promise.due_at is not None
    assert timezone.localdate(promise.due_at) == FIX_DATE + timedelta(days=30)


def test_it_keeps_the_deletion_reminder_sent_with_the_fixed_message(alice):
    report = fixed(alice)
    assert row(report, "data_deletion").state == "pending"
    send_message(report, alice, "Fixed: please delete what you obtained.", template="fixed")
    promise = row(report, "data_deletion")
    assert promise.state == "kept"
    assert promise.evidence["kind"] == "deletion_reminder_sent"


def test_it_keeps_credit_and_involvement_when_the_advisory_is_published(alice):
    report = fixed(alice, credit="name", name="Rita Finder")
    advisory = ready(alice, report)
    assert row(report, "publication_involvement").state == "pending"
    assert row(report, "credit").state == "pending"
    publishing.publish(advisory, summary="", user=alice, skip_review=True)
    credit = row(report, "credit")
    assert (credit.state, credit.evidence["credit"]) == ("kept", "name")
    assert credit.evidence["kind"] == "advisory_published"
    involvement = row(report, "publication_involvement")
    assert involvement.state == "kept"
    assert involvement.evidence["kind"] == "advisory_drafted"


def test_it_computes_the_ledger_of_reports_from_before_it_existed(rita, alice):
    answered(rita.report, alice)
    Promise.objects.all().delete()
    assert promises.refresh_due() == 1
    assert row(rita.report, "first_response").state == "kept"
    Promise.objects.all().delete()
    assert [p.kind for p in promises.ledger(rita.report)] == list(promises.PROMISES)


def test_it_filters_the_inbox_on_promises_at_risk_or_broken(alice):
    calm, risky, broken = (submit(Client()).report for _ in range(3))
    due_in(risky, timedelta(hours=2))
    due_in(broken, timedelta(hours=-2))
    promises.refresh_due()
    html = (
        sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), alice)
        .get("/triage/", {"at_risk": "on"})
        .content.decode()
    )
    assert risky.reference in html and broken.reference in html
    assert calm.reference not in html
    assert "promise at risk" in html


def test_it_finds_a_promise_coming_due_between_two_passes(alice):
    report = submit(Client()).report
    assert row(report, "first_response").state == "pending"  # due in three days
    assert not Report.objects.filter(promises.at_risk(timezone.now())).exists()
    # Two and a half days later, before any pass has run: the filter applies the time.
    later = timezone.now() + timedelta(days=2, hours=12)
    assert row(report, "first_response").state == "pending"
    assert Report.objects.filter(promises.at_risk(later)).get() == report


def test_it_shows_the_ledger_on_the_report_page(rita, alice):
    answered(rita.report, alice)
    html = (
        sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), alice)
        .get(f"/triage/reports/{rita.report.uid}/")
        .content.decode()
    )
    assert 'id="promises"' in html
    assert 'data-promise="first_response" data-promise-state="kept"' in html
    # The evidence in words: what kept it, when; no raw codes or ids.
    evidence = html.split('data-promise="first_response"')[1].split("</tr>")[0]
    assert "Message sent to the finder, " in evidence
    assert "message_sent" not in evidence and "event:" not in evidence


def test_it_lists_the_promises_in_the_api(rita, alice):
    answered(rita.report, alice)
    client = Client(headers={"Authorization": f"Bearer {issue_token(alice, 'tests')}"})
    detail = client.get(f"/api/v1/reports/{rita.report.uid}").json()
    first = next(p for p in detail["promises"] if p["kind"] == "first_response")
    assert first["state"] == "kept"
    assert first["evidence"]["kind"] == "message_sent"
    assert set(first) == {"kind", "state", "due_at", "settled_at", "evidence"}
    assert [p["kind"] for p in detail["promises"]] == list(promises.PROMISES)
    listed = client.get("/api/v1/reports", {"promises_at_risk": "true"}).json()
    assert listed == []


def test_it_reports_the_share_kept_per_promise_per_month(alice):
    answered(submit(Client()).report, alice)
    late = submit(Client()).report
    due_in(late, timedelta(hours=-1))
    answered(late, alice)
    month = timezone.localdate().replace(day=1)
    assert promise_figures()[(month, "first_response")] == (1, 2)
    html = sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), alice).get("/triage/metrics/")
    cells = re.findall(r'<td data-promise="first_response">(.*?)</td>', html.content.decode())
    assert "1 of 2 (50%)" in cells


FINDER_WORDS = {
    "en": ("We promised a first answer by", "we answered on", "Next update by"),
    "nl": ("We beloofden een eerste antwoord uiterlijk op", "we antwoordden op", "Volgende"),
    "fr": ("Nous avons promis une première réponse", "nous avons répondu le", "Prochaines"),
}


@pytest.mark.parametrize("language", ["en", "nl", "fr"])
def test_it_tells_the_finder_in_plain_words_without_internal_details(alice, language):
    submitted = submit(Client())
    answered(submitted.report, alice)
    client = Client()
    client.post("/status/", {"code": submitted.code})
    client.post("/language/", {"language": language, "next": "/status/"})
    html = client.get("/status/").content.decode()
    section = html[
        html.index('id="promises"') : html.index("</section>", html.index('id="promises"'))
    ]
    for words in FINDER_WORDS[language]:
        assert words in section
    evidence = row(submitted.report, "first_response").evidence
    for internal in ("message_sent", str(evidence["event"]), evidence["message"], "data_deletion"):
        assert f">{internal}<" not in section and f"{internal}:" not in section
    assert evidence["message"] not in section
    assert "message_sent" not in section


def test_it_shows_a_finder_only_their_own_promises(alice):
    other = submit(Client(), email="someone@example.net")
    answered(other.report, alice)
    mine = submit(Client())
    client = Client()
    client.post("/status/", {"code": mine.code})
    html = client.get("/status/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "We promise a first answer by" in html
    assert "we answered on" not in html
    assert str(uuid.UUID(int=0)) not in html


def test_it_puts_an_unreviewed_scheduled_advisory_at_risk_until_the_finder_answers(alice):
    report = fixed(alice)
    advisory = ready(alice, report, publish_at=timezone.now() + timedelta(hours=2))
    publishing.schedule(advisory, alice)
    involvement = row(report, "publication_involvement")
    assert (involvement.state, involvement.due_at) == ("at_risk", advisory.publish_at)
    publishing.review(advisory, report, FinderReview.Decision.APPROVE)
    involvement = row(report, "publication_involvement")
    assert (involvement.state, involvement.due_at) == ("pending", None)
    assert involvement.evidence["kind"] == "advisory_reviewed"


def test_it_takes_the_fix_date_the_first_response_gave_not_earlier_corrections(rita, alice):
    assess(rita.report, alice, valid=True, in_scope=True, expected_fix_date=FIX_DATE)
    answered(rita.report, alice, expected_fix_date=FIX_DATE + timedelta(days=1))
    promise = row(rita.report, "fix_date")
    assert promise.state == "pending"
    assert "moved_to" not in promise.evidence
    assert promise.due_at is not None
    assert timezone.localdate(promise.due_at) == FIX_DATE + timedelta(days=1)
