"""Admins read and filter the audit log; nobody can change it through the application."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from meldpunt.audit.log import append
from meldpunt.audit.models import AuditEntry
from tests.conftest import make_staff, sign_in

URL = "/triage/audit/"


@pytest.fixture
def admin_client(db: Any) -> Client:
    return sign_in(Client(), make_staff("ada@example.org", "admin"))


@pytest.fixture
def entries(db: Any) -> None:
    append("login", "staff:1")
    append("report_viewed", "staff:2", "MP-2026-0001")
    append("attachment_downloaded", "staff:2", "MP-2026-0002", name_length=4)


def test_it_lists_entries_newest_first(admin_client: Client, entries: None) -> None:
    page = admin_client.get(URL).content.decode()
    assert (
        page.index("Attachment downloaded") < page.index("Report read") < page.index(">Signed in<")
    )


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("action=report_viewed", "MP-2026-0001", "MP-2026-0002"),
        ("actor=staff%3A1", ">Signed in<", "MP-2026-0001"),
        ("report=mp-2026-0002", "MP-2026-0002", "MP-2026-0001"),
    ],
)
def test_it_filters(
    admin_client: Client, entries: None, query: str, shown: str, hidden: str
) -> None:
    page = admin_client.get(f"{URL}?{query}").content.decode()
    assert shown in page and hidden not in page


def test_it_filters_by_date(admin_client: Client, entries: None) -> None:
    assert "MP-2026-0001" not in admin_client.get(f"{URL}?until=2000-01-01").content.decode()
    assert "MP-2026-0001" in admin_client.get(f"{URL}?since=2000-01-01").content.decode()


def test_it_rejects_a_bad_date(admin_client: Client, entries: None) -> None:
    assert admin_client.get(f"{URL}?since=yesterday").status_code == 400


def test_it_escapes_what_it_shows(admin_client: Client, db: Any) -> None:
    append("login_failed", "anonymous", user="<script>alert(1)</script>")
    page = admin_client.get(URL).content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page


def test_it_is_for_admins_only(alice: Any, bob: Any, entries: None) -> None:
    assert sign_in(Client(), alice).get(URL).status_code == 403
    assert sign_in(Client(), bob).get(URL).status_code == 403
    assert Client().get(URL).status_code == 302


def test_it_cannot_be_changed_through_the_application(admin_client: Client, entries: None) -> None:
    before = list(AuditEntry.objects.values_list("hash", flat=True))
    assert admin_client.post(URL, {"action": "x"}).status_code == 405
    assert list(AuditEntry.objects.values_list("hash", flat=True)) == before


def test_it_names_staff_by_name_and_keeps_a_deleted_account_as_its_number(
    admin_client: Client, db: Any
) -> None:
    alice = make_staff("alice@example.org", "triager")
    alice.first_name, alice.last_name = "Alice", "Janssen"
    alice.save()
    append("login", f"staff:{alice.pk}")
    append("login", "staff:999")
    append("report_viewed", "finder", "MP-2026-0001")
    rows = admin_client.get(URL).content.decode().split('id="audit-entries"')[1]
    assert "<td>Alice Janssen (alice@example.org)</td>" in rows
    assert "<td>staff #999</td>" in rows
    assert "<td>the finder</td>" in rows
    assert f"staff:{alice.pk}" not in rows
    stored = set(AuditEntry.objects.values_list("actor", flat=True))
    assert {f"staff:{alice.pk}", "staff:999", "finder"} <= stored  # the log keeps numbers


@pytest.mark.parametrize(
    ("language", "label"),
    [
        ("en", "Finder reminded to delete obtained data"),
        ("nl", "Melder herinnerd om verkregen gegevens te wissen"),
    ],
)
def test_it_names_every_action_in_the_readers_language(
    admin_client: Client, db: Any, language: str, label: str
) -> None:
    append("deletion_reminder_sent", "system", "MP-2026-0001")
    append("second_factor_passed", "system")
    rows = admin_client.get(URL, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    rows = rows.split('id="audit-entries"')[1]
    assert label in rows
    assert "deletion_reminder_sent" not in rows and "second_factor_passed" not in rows


def test_it_wraps_the_details_column_instead_of_cutting_it() -> None:
    css = (Path(__file__).parents[1] / "meldpunt/static/meldpunt/meldpunt.css").read_text()
    assert "#audit-entries td:last-child { white-space: normal;" in css
