"""The scope inventory in use: checked on intake, re-checked, shown, filtered, edited by
admins only, imported from TOML, listed on the public policy page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from meldpunt.api.tokens import issue_token
from meldpunt.audit.models import AuditEntry
from meldpunt.intake.mail import process_message
from meldpunt.reports.models import Event, Report
from meldpunt.scope.importing import dump, load_file
from meldpunt.scope.inventory import AssetSpec, recheck, upsert
from meldpunt.scope.matching import AssetError, report_verdict
from meldpunt.scope.models import Asset
from tests.conftest import make_staff, sign_in, submit
from tests.test_mail_intake import plain_mail

pytestmark = pytest.mark.django_db

TOML = """
[[asset]]
kind = "domain"
value = "example.org"
subdomains = true
status = "in_scope"
note = "Our web sites"
contact = ""

[[asset]]
kind = "domain"
value = "legacy.example.org"
subdomains = false
status = "out_of_scope"
note = "Switched off <soon>"
contact = ""

[[asset]]
kind = "domain"
value = "helpdesk.example.net"
status = "third_party"
note = "Run by our helpdesk supplier"
contact = "security@helpdesk.test"

[[asset]]
kind = "cidr"
value = "192.0.2.0/24"
status = "in_scope"
"""


@pytest.fixture
def inventory(db: Any, tmp_path: Path) -> Path:
    path = tmp_path / "scope.toml"
    path.write_text(TOML)
    assert load_file(path) == 4
    return path


@pytest.fixture
def ada(db: Any) -> Any:
    return make_staff("ada@example.org", "admin")


def test_an_empty_inventory_leaves_reports_unchecked(db: Any) -> None:
    report = submit(Client()).report
    report.refresh_from_db()
    assert report.scope_verdict == ""
    assert not Event.objects.filter(report=report, kind="scope_checked").exists()


def test_each_report_is_checked_on_intake_and_the_event_names_no_host(inventory: Path) -> None:
    report = submit(Client(), affected_systems="https://legacy.example.org/login").report
    report.refresh_from_db()
    assert report.scope_verdict == "out_of_scope"
    event = Event.objects.get(report=report, kind="scope_checked")
    assert event.data == {"verdict": "out_of_scope", "previous_verdict": ""}
    # The events and the audit log are clear text: no host in them.
    for row in (*Event.objects.values_list("data", flat=True),):
        assert "legacy" not in json.dumps(row)
    for data in AuditEntry.objects.values_list("data", flat=True):
        assert "legacy" not in json.dumps(data)
    with connection.cursor() as cursor:
        cursor.execute("SELECT scope_verdict FROM reports_report WHERE id = %s", [report.pk])
        assert cursor.fetchone() == ("out_of_scope",)


def test_a_mailed_report_is_checked_by_the_hosts_in_its_text(inventory: Path, org_key: Any) -> None:
    result = process_message(
        plain_mail("Your helpdesk at https://helpdesk.example.net/tickets leaks tickets.")
    )
    assert result.report is not None
    assert Report.objects.get(pk=result.report.pk).scope_verdict == "third_party"


def test_a_broken_check_never_loses_a_report(inventory: Path, caplog: Any) -> None:
    # The failure's own text may quote what the finder wrote: it stays out of the log.
    failure = RuntimeError("cannot match legacy.example.org")
    with mock.patch("meldpunt.scope.inventory.current_rules", side_effect=failure):
        report = submit(Client(), affected_systems="https://legacy.example.org/").report
    report.refresh_from_db()
    assert report.scope_verdict == ""
    assert Event.objects.filter(report=report, kind="received").exists()
    assert "scope check failed" in caplog.text and "RuntimeError" in caplog.text
    assert "legacy.example.org" not in caplog.text


def test_changing_the_inventory_and_checking_again_records_the_change(inventory: Path) -> None:
    report = submit(Client(), affected_systems="https://legacy.example.org/").report
    Asset.objects.filter(value="legacy.example.org").delete()
    assert recheck() == 1
    report.refresh_from_db()
    assert report.scope_verdict == "in_scope"
    changes = Event.objects.filter(report=report, kind="scope_checked").order_by("pk")
    assert [e.data for e in changes][-1] == {
        "verdict": "in_scope",
        "previous_verdict": "out_of_scope",
    }
    assert recheck() == 0  # nothing changed: no new event
    assert changes.count() == 2


def test_the_report_page_shows_each_system_and_where_to_report_a_third_party(
    inventory: Path, alice: Any
) -> None:
    report = submit(
        Client(),
        affected_systems="https://helpdesk.example.net/x\nhttps://www.example.org/\nelse.test",
    ).report
    page = sign_in(Client(), alice).get(f"/triage/reports/{report.uid}/").content.decode()
    assert 'data-scope-verdict="in_scope"' in page
    assert '<li data-scope="third_party"><code>https://helpdesk.example.net/x</code>' in page
    assert 'href="mailto:security@helpdesk.test"' in page
    assert '<li data-scope="unknown"><code>else.test</code>' in page


def test_the_inbox_and_the_api_filter_on_the_verdict(inventory: Path, alice: Any) -> None:
    inside = submit(Client(), affected_systems="https://www.example.org/").report
    outside = submit(Client(), affected_systems="https://legacy.example.org/").report
    client = sign_in(Client(), alice)
    page = client.get("/triage/?scope_check=out_of_scope").content.decode()
    assert outside.reference in page and inside.reference not in page
    assert 'data-scope-check="out_of_scope"' in page
    api = Client(headers={"Authorization": f"Bearer {issue_token(alice, 't')}"})
    listed = api.get("/api/v1/reports?scope_check=in_scope").json()
    assert [r["reference"] for r in listed] == [inside.reference]
    assert listed[0]["scope_verdict"] == "in_scope"
    assert api.get("/api/v1/reports?scope_check=maybe").status_code == 422
    assert client.get("/triage/?scope_check=maybe").status_code in (200, 400)


def test_staff_read_the_inventory_and_only_admins_change_it(
    inventory: Path, ada: Any, bob: Any, alice: Any
) -> None:
    viewer = sign_in(Client(), bob)
    page = viewer.get("/triage/scope/").content.decode()
    assert "helpdesk.example.net" in page and "Switched off &lt;soon&gt;" in page
    new = {"kind": "domain", "value": "new.example.com", "status": "in_scope"}
    assert viewer.post("/triage/scope/", new).status_code == 403
    assert sign_in(Client(), alice).post("/triage/scope/", new).status_code == 403
    uid = Asset.objects.get(value="legacy.example.org").uid
    assert viewer.post(f"/triage/scope/{uid}/delete/").status_code == 403
    assert viewer.post("/triage/scope/recheck/").status_code == 403
    assert not Asset.objects.filter(value="new.example.com").exists()

    admin = sign_in(Client(), ada)
    assert admin.post("/triage/scope/", new).status_code == 303
    assert Asset.objects.filter(value="new.example.com").exists()
    assert AuditEntry.objects.filter(action="scope_asset_added").exists()
    edit = {"kind": "domain", "value": "legacy.example.org", "status": "in_scope", "note": "back"}
    assert admin.post(f"/triage/scope/{uid}/", edit).status_code == 303
    assert Asset.objects.get(uid=uid).status == "in_scope"
    assert admin.post(f"/triage/scope/{uid}/delete/").status_code == 303
    assert not Asset.objects.filter(uid=uid).exists()
    assert admin.post("/triage/scope/recheck/").status_code == 303


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"kind": "cidr", "value": "192.0.2.1/24"}, "Not a CIDR range"),
        ({"kind": "domain", "value": "not a domain"}, "Not a domain name"),
        ({"kind": "ip", "value": "example.org"}, "Not an IP address"),
        ({"kind": "url", "value": "example.org/app"}, "Not a URL prefix"),
        ({"kind": "ip", "value": "192.0.2.9", "subdomains": "on"}, "Only a domain"),
        (
            {"kind": "domain", "value": "x.example", "contact": "javascript:alert(1)"},
            "mail address",
        ),
        ({"kind": "domain", "value": "*.EXAMPLE.org"}, "in the inventory already"),
    ],
)
def test_a_bad_asset_is_refused_with_a_clear_error(
    inventory: Path, ada: Any, form: dict[str, str], says: str
) -> None:
    before = Asset.objects.count()
    response = sign_in(Client(), ada).post("/triage/scope/", {"status": "in_scope", **form})
    assert response.status_code == 400
    assert says in response.content.decode()
    assert Asset.objects.count() == before


def test_the_api_lists_and_admins_change_the_inventory(
    inventory: Path, ada: Any, alice: Any
) -> None:
    reader = Client(headers={"Authorization": f"Bearer {issue_token(alice, 'r')}"})
    listed = reader.get("/api/v1/scope").json()
    assert {a["value"] for a in listed} >= {"example.org", "192.0.2.0/24"}
    new = {"kind": "cidr", "value": "2001:DB8::/32", "status": "out_of_scope"}
    assert reader.post("/api/v1/scope", new, content_type="application/json").status_code == 403
    admin = Client(
        headers={"Authorization": f"Bearer {issue_token(ada, 'a', scopes=['read', 'admin'])}"}
    )
    made = admin.post("/api/v1/scope", new, content_type="application/json")
    assert made.status_code == 201 and made.json()["value"] == "2001:db8::/32"
    again = admin.post("/api/v1/scope", new, content_type="application/json")
    assert again.status_code == 409
    bad = {"kind": "cidr", "value": "192.0.2.1/24", "status": "in_scope"}
    refused = admin.post("/api/v1/scope", bad, content_type="application/json")
    assert refused.status_code == 422 and "host bits" in json.dumps(refused.json())
    uid = made.json()["uid"]
    # An admin's token no longer changes the inventory once its owner is not an admin.
    ada.staff.role = "triager"
    ada.staff.save()
    assert admin.delete(f"/api/v1/scope/{uid}").status_code == 403
    ada.staff.role = "admin"
    ada.staff.save()
    assert admin.delete(f"/api/v1/scope/{uid}").status_code == 204
    assert admin.delete(f"/api/v1/scope/{uid}").status_code == 404


def test_the_public_policy_lists_the_scope_escaped(inventory: Path) -> None:
    page = Client().get("/").content.decode()
    assert "<code>*.example.org</code>: Our web sites" in page
    assert "Switched off &lt;soon&gt;" in page and "<soon>" not in page
    assert 'href="mailto:security@helpdesk.test"' in page
    assert "<code>192.0.2.0/24</code>" in page


def test_the_import_upserts_replaces_on_request_and_refuses_a_bad_file(
    inventory: Path, tmp_path: Path
) -> None:
    changed = tmp_path / "changed.toml"
    changed.write_text(
        '[[asset]]\nkind = "domain"\nvalue = "legacy.example.org"\nstatus = "in_scope"\n'
    )
    assert load_file(changed) == 1
    assert Asset.objects.count() == 4
    assert Asset.objects.get(value="legacy.example.org").status == "in_scope"
    assert load_file(changed, replace=True) == 1
    assert Asset.objects.count() == 1

    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[asset]]\nkind = "domain"\nvalue = "ok.example"\nstatus = "in_scope"\n'
        '[[asset]]\nkind = "cidr"\nvalue = "10.0.0.1/8"\nstatus = "in_scope"\n'
    )
    with pytest.raises(AssetError, match=r"asset 2: .*host bits"):
        load_file(bad)
    assert not Asset.objects.filter(value="ok.example").exists()  # all or nothing
    with pytest.raises(CommandError, match="asset 2"):
        call_command("scope-import", str(bad))


def test_the_command_imports_rechecks_and_the_export_reads_back(
    inventory: Path, tmp_path: Path
) -> None:
    report = submit(Client(), affected_systems="https://elsewhere.test/").report
    report.refresh_from_db()
    assert report.scope_verdict == "unknown"
    more = tmp_path / "more.toml"
    more.write_text(
        '[[asset]]\nkind = "url"\nvalue = "https://elsewhere.test/"\nstatus = "in_scope"\n'
    )
    call_command("scope-import", str(more))
    report.refresh_from_db()
    assert report.scope_verdict == "in_scope"
    assert AuditEntry.objects.filter(action="scope_imported").exists()
    exported = tmp_path / "export.toml"
    exported.write_text(dump())
    Asset.objects.all().delete()
    assert load_file(exported) == 5


def test_the_benchmark_interface_reads_the_database(inventory: Path) -> None:
    assert report_verdict({"affected_systems": ["legacy.example.org"]}) == "out_of_scope"
    assert report_verdict({"description": "see 192.0.2.55 please"}) == "in_scope"
    upsert(AssetSpec("app", "com.example.app", "in_scope"))
    assert report_verdict({"affected_systems": ["com.example.app"]}) == "in_scope"
