"""Attachments and contact data are purged on schedule after closing; a legal hold keeps them."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from meldpunt.accounts.gate import SECOND_FACTOR_AT
from meldpunt.audit.models import AuditEntry
from meldpunt.lib.uploads import IncomingFile
from meldpunt.reports.lifecycle import transition
from meldpunt.reports.models import Attachment, AttachmentChunk, Event, Report
from meldpunt.reports.retention import purge_due, set_legal_hold
from meldpunt.reports.services import add_message
from tests.conftest import make_staff, sign_in, submit

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


@pytest.fixture
def closed(alice: Any) -> Report:
    sent = submit(Client(), email="rita@example.net", name="Rita")
    add_message(sent.report, "finder", "proof", [IncomingFile("p.txt", "text/plain", b"x")])
    Report.objects.filter(pk=sent.report.pk).update(severity="high", cvss31_score="7.5")
    return transition(sent.report, "closed", alice, resolution="informative")


def fresh(report: Report) -> Report:
    return Report.objects.get(pk=report.pk)


def stored(name: str) -> bool:
    """The attachment's sealed data is there: its file, or its pieces in the database."""
    in_database = AttachmentChunk.objects.filter(attachment__storage_name=name).exists()
    return in_database or default_storage.exists(name)


def files_of(report: Report) -> list[str]:
    return list(Attachment.objects.filter(report=report).values_list("storage_name", flat=True))


def test_it_starts_the_clock_when_a_report_is_closed_and_stops_it_on_reopening(
    closed: Report, alice: Any
) -> None:
    assert closed.retention_from is not None
    reopened = transition(closed, "received", alice)
    assert fresh(reopened).retention_from is None


def test_it_purges_attachments_then_contact_data_when_due(
    closed: Report, django_capture_on_commit_callbacks: Any
) -> None:
    start = fresh(closed).retention_from
    assert start is not None
    names = files_of(closed)
    assert names and all(stored(n) for n in names)

    assert purge_due(start + 89 * DAY).attachments == 0
    with django_capture_on_commit_callbacks(execute=True):
        done = purge_due(start + 91 * DAY)
    assert (done.attachments, done.contacts) == (1, 0)
    report = fresh(closed)
    assert files_of(report) == [] and not any(default_storage.exists(n) for n in names)
    assert not AttachmentChunk.objects.exists()  # nor their pieces in the database
    assert report.finder["email"] == "rita@example.net"

    assert purge_due(start + 366 * DAY).contacts == 1
    report = fresh(closed)
    assert report.finder["email"] == "" and report.finder["name"] == ""
    assert not report.has_contact
    # The workflow record stays for the metrics.
    assert (report.state, report.resolution, report.severity) == ("closed", "informative", "high")
    assert str(report.cvss31_score) == "7.5" and report.messages.count() == 1
    kinds = set(Event.objects.filter(report=report).values_list("kind", flat=True))
    assert {"attachments_purged", "contact_data_purged"} <= kinds
    assert purge_due(start + 999 * DAY).attachments == 0  # idempotent


def test_it_keeps_everything_under_a_legal_hold(closed: Report) -> None:
    start = fresh(closed).retention_from
    assert start is not None
    set_legal_hold(closed, True, "staff:ada")
    assert purge_due(start + 999 * DAY).attachments == 0
    assert files_of(closed) and fresh(closed).finder["email"] == "rita@example.net"
    set_legal_hold(closed, False, "staff:ada")
    done = purge_due(start + 999 * DAY)
    assert (done.attachments, done.contacts) == (1, 1)


def test_it_never_purges_an_open_report(alice: Any) -> None:
    sent = submit(Client(), email="rita@example.net")
    add_message(sent.report, "finder", "proof", [IncomingFile("p.txt", "text/plain", b"x")])
    assert purge_due(timezone.now() + 9999 * DAY).attachments == 0
    assert files_of(sent.report)


def test_admins_set_a_legal_hold_with_a_fresh_second_factor(closed: Report, alice: Any) -> None:
    url = f"/triage/reports/{closed.uid}/hold/"
    assert sign_in(Client(), alice).post(url, {"hold": "on"}).status_code == 403
    admin = sign_in(Client(), make_staff("ada@example.org", "admin"))
    assert admin.post(url, {"hold": "on"}).status_code == 303
    assert fresh(closed).legal_hold
    page = admin.get(f"/triage/reports/{closed.uid}/").content.decode()
    assert "Lift the legal hold" in page
    session = admin.session
    session[SECOND_FACTOR_AT] = time.time() - 3600
    session.save()
    stale = admin.post(url, {"hold": "off"})
    assert stale.status_code == 302 and fresh(closed).legal_hold


def test_the_report_page_shows_who_read_it(closed: Report, alice: Any, bob: Any) -> None:
    sign_in(Client(), bob).get(f"/triage/reports/{closed.uid}/")
    page = sign_in(Client(), alice).get(f"/triage/reports/{closed.uid}/").content.decode()
    section = page[page.index('id="accesses"') :]
    assert "bob@example.org" in section and "alice@example.org" in section


def test_the_report_page_counts_repeated_reads_per_reader_and_day(
    closed: Report, alice: Any, bob: Any
) -> None:
    alice_client = sign_in(Client(), alice)
    for _ in range(3):
        alice_client.get(f"/triage/reports/{closed.uid}/")
    sign_in(Client(), bob).get(f"/triage/reports/{closed.uid}/")
    entries = AuditEntry.objects.filter(report_ref=closed.reference, action="report_viewed")
    hashes = list(entries.values_list("hash", flat=True))
    page = alice_client.get(f"/triage/reports/{closed.uid}/").content.decode()
    section = page[page.index('id="accesses"') :].split("</ol>")[0]
    lines = section.split("<li>")[1:]
    assert len(lines) == 2
    (alices,) = [line for line in lines if "alice@example.org" in line]
    (bobs,) = [line for line in lines if "bob@example.org" in line]
    assert "4 times that day" in alices and "time" not in bobs.split("</time>")[1]
    assert list(entries.values_list("hash", flat=True))[: len(hashes)] == hashes
    assert entries.count() == 5  # every read stays in the audit log
