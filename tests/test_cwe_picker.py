"""The CWE picker: the shipped MITRE catalogue, searched, checked, named, and refreshed."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from meldpunt.reports import cwe
from meldpunt.reports.assessment import AssessmentError, assess
from meldpunt.reports.models import Report
from tests.conftest import sign_in, submit

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cwe"
XSS = (
    "Improper Neutralization of Input During Web Page Generation (&#x27;Cross-site Scripting&#x27;)"
)


@pytest.fixture
def report(db: Any) -> Report:
    return submit(Client()).report


def test_it_ships_the_mitre_catalogue_with_its_version() -> None:
    shipped = json.loads(cwe.CATALOGUE.read_text(encoding="utf-8"))
    assert shipped["version"] == cwe.version() == "4.20"
    assert "cwe.mitre.org/about/termsofuse" in shipped["notice"]
    assert len(shipped["weaknesses"]) > 900
    assert cwe.name("CWE-89").endswith("('SQL Injection')")
    assert cwe.name("CWE-1000") == ""  # a view, not a weakness


def test_it_finds_a_weakness_by_number_and_by_words(alice: User) -> None:
    client = sign_in(Client(), alice)
    by_number = client.get("/triage/cwe/", {"q": "cwe-79"}).content.decode()
    assert f'<li><strong>CWE-79</strong>: <span lang="en">{XSS}</span></li>' in by_number
    suggested = client.get("/triage/cwe/suggest.json", {"q": "sql injection"}).json()
    assert suggested["version"] == "4.20"
    assert suggested["results"][0] == {
        "id": "CWE-89",
        "name": "Improper Neutralization of Special Elements used in an SQL Command "
        "('SQL Injection')",
    }
    assert {r["id"] for r in suggested["results"]} >= {"CWE-89", "CWE-564"}
    none = client.get("/triage/cwe/", {"q": "no such weakness at all"}).content.decode()
    assert "No weakness matches." in none


def test_it_links_a_found_weakness_back_into_the_assessment_form(
    report: Report, alice: User
) -> None:
    client = sign_in(Client(), alice)
    page = client.get("/triage/cwe/", {"q": "79", "report": str(report.uid)}).content.decode()
    pick = f'href="/triage/reports/{report.uid}/?cwe=CWE-79#workflow-cwe"'
    assert pick in page
    form = client.get(f"/triage/reports/{report.uid}/", {"cwe": "CWE-79"}).content.decode()
    assert 'name="cwe" value="CWE-79"' in form
    unknown = client.get(f"/triage/reports/{report.uid}/", {"cwe": "CWE-999999"}).content.decode()
    assert 'name="cwe" value=' not in unknown  # an unknown weakness is not put in the form


def test_it_refuses_a_cwe_the_catalogue_does_not_have(report: Report, alice: User) -> None:
    with pytest.raises(AssessmentError, match=r"CWE-999999 is not a weakness in the CWE "):
        assess(report, alice, cwe="CWE-999999")
    response = sign_in(Client(), alice).post(
        f"/triage/reports/{report.uid}/assess/", {"cwe": "CWE-1000"}
    )
    assert response.status_code == 400
    assert "CWE-1000 is not a weakness in the CWE catalogue (version 4.20)." in (
        response.content.decode()
    )
    report.refresh_from_db()
    assert report.cwe == ""


def test_it_shows_the_weakness_name_next_to_its_id(report: Report, alice: User) -> None:
    assess(report, alice, cwe="cwe-79")
    page = sign_in(Client(), alice).get(f"/triage/reports/{report.uid}/").content.decode()
    assert f'<dd id="cwe">CWE-79: <span lang="en">{XSS}</span></dd>' in page


def test_it_rebuilds_the_catalogue_from_mitres_xml_and_csv(tmp_path: Path) -> None:
    output = tmp_path / "cwe.json"
    shutil.copy(cwe.CATALOGUE, output)
    out = StringIO()
    xml = FIXTURES / "cwec_v4.99.xml"
    call_command("cwe-refresh", str(xml), "--output", str(output), stdout=out)
    assert "CWE 4.99: 3 weaknesses (was 4.20, 969)." in out.getvalue()
    rebuilt = cwe.catalogue(output)
    assert rebuilt.version == "4.99"
    assert rebuilt.weaknesses[2001] == "A Weakness Added In The Fixture"
    assert 16 not in rebuilt.weaknesses and 1000 not in rebuilt.weaknesses  # category, view
    csv_file = FIXTURES / "1000.csv"
    with pytest.raises(CommandError, match="name the CWE version"):
        call_command("cwe-refresh", str(csv_file), "--output", str(output), stdout=out)
    call_command(
        "cwe-refresh", str(csv_file), "--cwe-version", "4.98", "--output", str(output), stdout=out
    )
    assert cwe.catalogue(output) == cwe.Catalogue(
        "4.98",
        {
            79: "Improper Neutralization of Input During Web Page Generation "
            "('Cross-site Scripting')",
            352: "Cross-Site Request Forgery (CSRF)",
        },
    )
    with pytest.raises(CommandError, match="not a CWE Weakness_Catalog"):
        bogus = tmp_path / "cwec_v1.0.xml"
        bogus.write_text("<html/>")
        call_command("cwe-refresh", str(bogus), "--output", str(output), stdout=out)
    assert cwe.catalogue(output).version == "4.98"  # a refused file changes nothing
    assert cwe.version() == "4.20"  # the shipped one untouched
