"""Security-relevant events reach the audit log by themselves, and the chain stays whole."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from meldpunt.audit.log import verify
from meldpunt.audit.models import AuditEntry
from meldpunt.lib.uploads import IncomingFile
from meldpunt.reports.models import Attachment
from meldpunt.reports.services import add_message
from tests.conftest import sign_in
from tests.test_commands import private_key_file  # noqa: F401  (a fixture)
from tests.test_staff_login import password_step, totp


def actions() -> list[tuple[str, str, str]]:
    return list(AuditEntry.objects.values_list("action", "actor", "report_ref"))


def test_it_records_a_staff_sign_in_with_its_second_factor(alice: User) -> None:
    client = Client()
    password_step(client, "alice@example.org")
    client.post("/triage/login/verify/", {"code": "000000"})
    client.post("/triage/login/verify/", {"code": totp(alice).now()})
    who = f"staff:{alice.pk}"
    assert actions() == [
        ("second_factor_failed", who, ""),
        ("second_factor_passed", who, ""),
        ("login", who, ""),
    ]
    client.post("/triage/logout/")
    assert actions()[-1] == ("logout", who, "")
    assert verify().ok


def test_it_records_a_wrong_password_without_what_was_typed(alice: User) -> None:
    password_step(Client(), "alice@example.org", "hunter2-typo")
    password_step(Client(), "nobody@example.org", "whatever")
    entries = list(AuditEntry.objects.all())
    assert [(e.action, e.actor) for e in entries] == [
        ("login_failed", f"staff:{alice.pk}"),
        ("login_failed", "anonymous"),
    ]
    assert "hunter2" not in str([e.data for e in entries])
    assert "nobody@" not in str([e.data for e in entries])


def test_it_records_report_events_with_the_reference(rita: Any, alice: User) -> None:
    report = rita.report
    add_message(report, "finder", "hello", [IncomingFile("a.txt", "text/plain", b"abc")])
    assert ("received", "finder", report.reference) in actions()
    assert ("message", "finder", report.reference) in actions()
    attachment = Attachment.objects.get(report=report)
    client = sign_in(Client(), alice)
    client.get(f"/triage/reports/{report.uid}/attachments/{attachment.uid}/")
    assert actions()[-1] == ("attachment_downloaded", f"staff:{alice.pk}", report.reference)
    assert verify().ok


def test_it_keeps_report_text_out_of_the_log(rita: Any) -> None:
    add_message(rita.report, "finder", "SECRET-MARKER-8412", [])
    assert "SECRET-MARKER-8412" not in str(list(AuditEntry.objects.values_list("data", flat=True)))


def test_it_records_reads_through_the_api_and_the_django_admin(rita: Any, alice: User) -> None:
    from meldpunt.api.tokens import issue_token
    from tests.conftest import make_staff

    token = issue_token(alice, "tests")
    api = Client(headers={"Authorization": f"Bearer {token}"})
    assert api.get(f"/api/v1/reports/{rita.report.uid}").status_code == 200
    entry = AuditEntry.objects.filter(action="report_viewed").last()
    assert entry is not None
    # Through the API, the entry names the token the read came with.
    assert (entry.actor, entry.report_ref, entry.data["via"], entry.data["token"]) == (
        f"staff:{alice.pk}",
        rita.report.reference,
        "api",
        "tests",
    )
    admin = make_staff("ada@example.org", "admin")
    sign_in(Client(), admin).get(f"/admin/reports/report/{rita.report.pk}/change/")
    last = AuditEntry.objects.filter(action="report_viewed").last()
    assert last is not None and last.data == {"via": "admin"}


def test_it_records_key_operations_and_template_changes(db: Any) -> None:
    from meldpunt.policy import keys
    from tests.conftest import make_staff

    key = keys.create_key()
    assert AuditEntry.objects.filter(
        action="org_key_added", data__fingerprint=key.fingerprint
    ).exists()
    admin = make_staff("ada@example.org", "admin")
    sign_in(Client(), admin).post("/triage/templates/fixed/en/", {"body": "Fixed. Delete it."})
    assert ("template_changed", f"staff:{admin.pk}", "") in actions()


def test_it_records_that_the_deletion_reminder_was_sent(rita: Any, alice: User) -> None:
    from meldpunt.reports.messages import send_message

    send_message(rita.report, alice, "It is fixed; please delete what you obtained.", "fixed")
    assert ("deletion_reminder_sent", f"staff:{alice.pk}", rita.report.reference) in actions()
    send_message(rita.report, alice, "Another note.")
    assert [a for a, _w, _r in actions()].count("deletion_reminder_sent") == 1


@pytest.mark.usefixtures("private_key_file")
def test_it_records_the_finders_own_reads_and_master_key_rotation(
    rita: Any, rita_client: Client
) -> None:
    import os

    from django.core.management import call_command

    rita_client.get("/status/")
    assert ("report_viewed", "finder", rita.report.reference) in actions()
    call_command("rotate-keys", "--retire-old", stdout=open(os.devnull, "w"))  # noqa: SIM115
    kinds = [a for a, _w, _r in actions()]
    assert "master_key_rotated" in kinds and "master_keys_retired" in kinds
    assert verify().ok


def test_only_admins_see_the_audit_log_in_the_navigation(alice: User) -> None:
    from tests.conftest import make_staff

    assert "/triage/audit/" not in sign_in(Client(), alice).get("/triage/").content.decode()
    admin = sign_in(Client(), make_staff("ada@example.org", "admin"))
    assert 'href="/triage/audit/"' in admin.get("/triage/").content.decode()
