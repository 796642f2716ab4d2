"""Admins record disclosures of a finder's data; the finder sees them unless the law forbids it."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client

from meldpunt.accounts.gate import SECOND_FACTOR_AT
from meldpunt.audit.models import AuditEntry, Disclosure
from meldpunt.reports.models import Event
from tests.conftest import make_staff, sign_in

URL = "/triage/audit/disclosures/"


@pytest.fixture
def admin_client(db: Any) -> Client:
    return sign_in(Client(), make_staff("ada@example.org", "admin"))


def entry(ref: str, **overrides: str) -> dict[str, str]:
    data = {
        "reference": ref,
        "recipient": "Federal police, cybercrime unit",
        "shared": "The finder's e-mail address",
        "legal_basis": "Court order 2026/123",
        "disclosed_on": "2026-11-01",
        "finder_may_know": "on",
    }
    data.update(overrides)
    return data


def test_it_records_a_disclosure_that_the_finder_then_sees(
    admin_client: Client, rita: Any, rita_client: Client
) -> None:
    response = admin_client.post(URL, entry(rita.report.reference))
    assert response.status_code == 303
    disclosure = Disclosure.objects.get()
    assert disclosure.details["legal_basis"] == "Court order 2026/123"
    assert AuditEntry.objects.filter(action="personal_data_disclosed").exists()
    assert "Federal police, cybercrime unit" in admin_client.get(URL).content.decode()
    page = rita_client.get("/status/").content.decode()
    assert "Federal police, cybercrime unit" in page and "Court order 2026/123" in page
    export = json.loads(rita_client.post("/status/export/").content)
    assert export["disclosures_of_your_data"][0]["to"] == "Federal police, cybercrime unit"


def test_it_hides_a_disclosure_the_law_forbids_telling_about(
    admin_client: Client, rita: Any, rita_client: Client
) -> None:
    data = entry(rita.report.reference)
    del data["finder_may_know"]
    assert admin_client.post(URL, data).status_code == 303
    assert "Federal police" not in rita_client.get("/status/").content.decode()
    export = json.loads(rita_client.post("/status/export/").content)
    assert export["disclosures_of_your_data"] == []
    assert "Federal police" not in json.dumps(export)
    assert not Event.objects.filter(report=rita.report, kind__contains="disclos").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("reference", "MP-2026-9999"), ("disclosed_on", "2999-01-01"), ("legal_basis", "")],
)
def test_it_refuses_an_incomplete_or_impossible_entry(
    admin_client: Client, rita: Any, field: str, value: str
) -> None:
    response = admin_client.post(URL, entry(rita.report.reference, **{field: value}))
    assert response.status_code == 400
    assert not Disclosure.objects.exists()


def test_it_is_for_admins_with_a_fresh_second_factor(
    admin_client: Client, alice: Any, rita: Any
) -> None:
    assert sign_in(Client(), alice).get(URL).status_code == 403
    assert Client().get(URL).status_code == 302
    session = admin_client.session
    session[SECOND_FACTOR_AT] = time.time() - 3600
    session.save()
    stale = admin_client.post(URL, entry(rita.report.reference))
    assert stale.status_code == 302 and "/triage/login/again/" in stale["Location"]
    assert not Disclosure.objects.exists()
