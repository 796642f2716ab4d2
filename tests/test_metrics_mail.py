"""The metrics page counts outbound mails per month and delivery state."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from meldpunt.reports import outbox
from meldpunt.reports.models import OutboundMail
from meldpunt.triage.metrics import mail_states
from tests.conftest import sign_in, submit
from tests.test_outbox import FINDER

STATES = ["queued", "deferred", "sent", "failed", "bounced", "unknown", "cancelled"]


def _mails(db_report, *states: str, age: timedelta = timedelta(0)) -> None:
    for status in states:
        mail = outbox.queue_news(db_report)
        assert mail is not None
        OutboundMail.objects.filter(pk=mail.pk).update(
            status=status, created_at=timezone.now() - age
        )


def test_it_counts_mails_per_month_and_state(db):
    report = submit(Client(), email=FINDER).report
    _mails(report, "sent", "sent", "failed", "deferred")
    _mails(report, "bounced", age=timedelta(days=40))
    _mails(report, "sent", age=timedelta(days=400))  # older than the table
    rows = mail_states()
    assert len(rows) == 12
    this_month = dict(zip(STATES, rows[0]["counts"], strict=True))
    assert this_month == {**dict.fromkeys(STATES, 0), "sent": 2, "failed": 1, "deferred": 1}
    assert sum(sum(r["counts"]) for r in rows) == 5
    assert sum(r["counts"][STATES.index("bounced")] for r in rows[1:3]) == 1


def test_it_shows_the_table_with_translated_states(db, bob):
    report = submit(Client(), email=FINDER).report
    _mails(report, "unknown")
    page = sign_in(Client(), bob).get("/triage/metrics/", HTTP_ACCEPT_LANGUAGE="fr")
    html = page.content.decode()
    assert 'id="mail-metrics"' in html
    assert '<th scope="col" data-delivery-state="unknown">Incertain</th>' in html
