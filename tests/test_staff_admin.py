"""Until the triage desk exists, staff read reports, decrypted, in the Django admin."""

from __future__ import annotations

from django.test import Client

from tests.conftest import sign_in, submit


def test_it_shows_staff_the_report_decrypted_and_escaped(alice):
    sent = submit(
        Client(), description="<script>alert('x')</script> decrypted text", email="rita@example.net"
    )
    client = sign_in(Client(), alice)
    page = client.get(f"/admin/reports/report/{sent.report.pk}/change/").content.decode()
    assert sent.report.reference in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; decrypted text" in page
    assert "<script>alert(" not in page
    assert "rita@example.net" in page


def test_it_keeps_reports_away_from_anyone_not_logged_in(db):
    sent = submit(Client())
    response = Client().get(f"/admin/reports/report/{sent.report.pk}/change/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_it_keeps_the_admin_closed_to_a_password_without_second_factor(alice):
    sent = submit(Client())
    client = Client()
    client.force_login(alice)  # a password-only session
    response = client.get(f"/admin/reports/report/{sent.report.pk}/change/")
    assert response.status_code == 302
    assert client.get(response["Location"])["Location"].startswith("/triage/login/")


def test_it_sends_the_admin_login_page_to_the_staff_sign_in(db):
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/triage/login/")


def test_it_does_not_let_staff_edit_or_delete_reports_in_the_admin(alice):
    sent = submit(Client(), description="original")
    client = sign_in(Client(), alice)
    url = f"/admin/reports/report/{sent.report.pk}/change/"
    client.post(url, {"state": "closed"})
    sent.report.refresh_from_db()
    assert sent.report.content["description"] == "original"
    assert sent.report.state == "received"
    assert client.post(f"/admin/reports/report/{sent.report.pk}/delete/").status_code == 403
