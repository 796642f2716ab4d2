"""Until the triage desk exists, staff read reports, decrypted, in the Django admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.conftest import submit


@pytest.fixture
def alice_client(db) -> Client:
    alice = User.objects.create_superuser("alice", "alice@example.org", "correct horse battery")
    client = Client()
    client.force_login(alice)
    return client


def test_it_shows_staff_the_report_decrypted_and_escaped(alice_client):
    sent = submit(
        Client(), description="<script>alert('x')</script> decrypted text", email="rita@example.net"
    )
    page = alice_client.get(f"/admin/reports/report/{sent.report.pk}/change/").content.decode()
    assert sent.report.reference in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; decrypted text" in page
    assert "<script>alert(" not in page
    assert "rita@example.net" in page


def test_it_keeps_reports_away_from_anyone_not_logged_in(db):
    sent = submit(Client())
    response = Client().get(f"/admin/reports/report/{sent.report.pk}/change/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_it_does_not_let_staff_edit_or_delete_reports_in_the_admin(alice_client):
    sent = submit(Client(), description="original")
    url = f"/admin/reports/report/{sent.report.pk}/change/"
    alice_client.post(url, {"reference": "MP-0000-0000"})
    sent.report.refresh_from_db()
    assert sent.report.content["description"] == "original"
    assert alice_client.post(f"/admin/reports/report/{sent.report.pk}/delete/").status_code == 403
