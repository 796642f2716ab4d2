from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone

from meldpunt.reports.models import Attachment, Event, Report
from meldpunt.reports.services import read_attachment
from tests.conftest import form_post, submit


def test_it_stores_a_report_and_shows_reference_and_receipt(db):
    sent = submit(Client(), files={"attachments": [SimpleUploadedFile("poc.txt", b"proof")]})
    report = sent.report
    assert re.fullmatch(r"MP-\d{4}-\d{4,}", report.reference)
    assert re.fullmatch(r"([0-9A-Z]{4}-){4}[0-9A-Z]{4}", sent.code)
    assert report.content["description"] == "Reflected XSS in the q parameter."
    assert report.content["affected_systems"] == ["https://portal.example.org/login", "192.0.2.10"]
    assert report.state == "received"
    due, created = (timezone.localtime(t) for t in (report.response_due_at, report.created_at))
    assert due == created + timedelta(days=3)
    assert report.hosts.count() == 2
    att = Attachment.objects.get(report=report)
    assert att.meta["name"] == "poc.txt"
    assert read_attachment(att) == b"proof"
    assert Event.objects.filter(report=report, kind="received").count() == 1
    page = sent.response.content.decode()
    assert timezone.localtime(report.response_due_at).strftime("%Y") in page
    assert (
        sent.response["Cache-Control"].startswith("max-age=0")
        or "no-store" in sent.response["Cache-Control"]
    )


def test_it_numbers_references_in_order_and_finds_reports_by_them(db):
    first, second = submit(Client()), submit(Client())
    year = timezone.localtime(first.report.created_at).year
    assert first.report.reference == f"MP-{year}-{first.report.pk:04d}"
    assert second.report.pk == first.report.pk + 1
    assert Report.objects.by_reference(first.report.reference.lower()) == first.report
    assert Report.objects.by_reference(f"MP-{year - 1}-{first.report.pk:04d}") is None
    assert Report.objects.by_reference("MP-2026-") is None


def test_it_does_not_create_a_second_report_when_the_same_form_is_posted_twice(db):
    client = Client()
    page = client.get("/report/").content.decode()
    token_match = re.search(r'name="submission_token" value="([^"]+)"', page)
    assert token_match
    token = token_match.group(1)
    first = form_post(client, submission_token=token)
    second = form_post(client, submission_token=token)
    assert Report.objects.count() == 1
    code = re.compile(r'id="receipt-code"[^>]*>([0-9A-Z-]+)<')
    codes = [code.findall(r.content.decode()) for r in (first, second)]
    assert codes[0] == codes[1]
    assert len(codes[0]) == 1
    assert 'id="repeated"' in second.content.decode()
    assert 'id="repeated"' not in first.content.decode()


def test_it_records_the_language_and_policy_version_the_finder_saw(db):
    client = Client(HTTP_ACCEPT_LANGUAGE="fr")
    sent = submit(client)
    assert sent.report.language == "fr"
    assert sent.report.policy_version.number >= 1


def test_it_requires_nothing_about_the_finder(db):
    sent = submit(Client(), name="", email="", pgp_key="")
    assert sent.report.finder == {"name": "", "email": "", "pgp_key": ""}
    assert not sent.report.has_contact


def test_it_rejects_get_only_methods(db):
    assert Client().put("/report/").status_code == 405
    assert Client().delete("/report/").status_code == 405


def test_it_refuses_a_form_posted_again_after_the_resubmit_window(db):
    client = Client()
    page = client.get("/report/").content.decode()
    token_match = re.search(r'name="submission_token" value="([^"]+)"', page)
    assert token_match
    form_post(client, submission_token=token_match.group(1))
    later = timezone.now() + timedelta(minutes=16)
    with mock.patch("meldpunt.reports.services.timezone.now", return_value=later):
        again = form_post(client, submission_token=token_match.group(1))
    assert again.status_code == 400
    assert "already sent" in again.content.decode()
    assert Report.objects.count() == 1


def test_it_runs_sqlite_in_wal_mode(db):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
