"""The CVSS calculator on the assessment form, without JavaScript: the server builds the vector."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from meldpunt.reports.assessment import assess
from meldpunt.reports.models import Report
from tests.conftest import sign_in, submit

V31 = {"AV": "N", "AC": "L", "PR": "N", "UI": "R", "S": "C", "C": "L", "I": "L", "A": "N"}
V40 = {
    "AV": "N", "AC": "L", "AT": "N", "PR": "N", "UI": "N",
    "VC": "H", "VI": "H", "VA": "H", "SC": "N", "SI": "N", "SA": "N",
}  # fmt: skip


@pytest.fixture
def report(db: Any) -> Report:
    return submit(Client()).report


@pytest.fixture
def alice_client(alice: User) -> Client:
    return sign_in(Client(), alice)


def assess_url(report: Report) -> str:
    return f"/triage/reports/{report.uid}/assess/"


def form_values(client: Client, report: Report) -> dict[str, str]:
    """What a browser without JavaScript posts back: every field as the report page shows it."""
    page = client.get(f"/triage/reports/{report.uid}/").content.decode()
    form = page[page.index('id="assessment-form"') :]
    form = form[: form.index("</form>")]
    values = {
        n: v for n, v in re.findall(r'<input type="[a-z]+" name="(\w+)" value="([^"]*)"', form)
    }
    for name, options in re.findall(r'<select name="(\w+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        values[name] = chosen.group(1) if chosen else ""
    values.pop("csrfmiddlewaretoken", None)
    values.setdefault("cvss31_vector", "")
    values.setdefault("cvss40_vector", "")
    return values


def choices(prefix: str, metrics: dict[str, str]) -> dict[str, str]:
    return {f"{prefix}_{key}": value for key, value in metrics.items()}


def test_it_builds_and_scores_both_vectors_from_the_chosen_metrics(report, alice_client):
    data = form_values(alice_client, report)
    data.update(choices("cvss31", V31) | choices("cvss40", V40))
    assert alice_client.post(assess_url(report), data).status_code == 303
    report.refresh_from_db()
    assert report.cvss31_vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"
    assert report.cvss31_score == Decimal("6.1")
    assert report.cvss40_vector == (
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    )
    assert report.cvss40_score == Decimal("9.3")
    assert report.severity == "critical"


def test_it_fills_the_choices_from_a_pasted_vector(report, alice_client):
    data = form_values(alice_client, report)
    pasted = "CVSS:4.0/AV:L/AC:H/AT:P/PR:L/UI:A/VC:L/VI:N/VA:N/SC:H/SI:L/SA:N/E:U/CR:H"
    data["cvss40_vector"] = pasted
    assert alice_client.post(assess_url(report), data).status_code == 303
    report.refresh_from_db()
    assert report.cvss40_vector == pasted
    again = form_values(alice_client, report)
    assert {k: again[f"cvss40_{k}"] for k in V40} == {
        "AV": "L", "AC": "H", "AT": "P", "PR": "L", "UI": "A",
        "VC": "L", "VI": "N", "VA": "N", "SC": "H", "SI": "L", "SA": "N",
    }  # fmt: skip
    # Changing one choice keeps the threat and environmental metrics the vector carried.
    again["cvss40_AV"] = "N"
    assert alice_client.post(assess_url(report), again).status_code == 303
    report.refresh_from_db()
    assert report.cvss40_vector == pasted.replace("AV:L", "AV:N")
    assert form_values(alice_client, report)["cvss40_vector"] == report.cvss40_vector


def test_it_refuses_half_chosen_metrics_and_names_the_missing_ones(report, alice_client):
    data = form_values(alice_client, report)
    data.update({"cvss31_AV": "N", "cvss31_AC": "L", "valid": "yes"})
    response = alice_client.post(assess_url(report), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Choose every CVSS 3.1 base metric, or none. Not chosen:" in page
    assert "Privileges Required (PR)" in page and "Availability (A)" in page
    report.refresh_from_db()
    assert (report.valid, report.cvss31_vector, report.assessed_at) == (None, "", None)


def test_it_refuses_a_pasted_vector_that_contradicts_the_changed_choices(
    report, alice, alice_client
):
    assess(report, alice, cvss31_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N")
    data = form_values(alice_client, report)
    data["cvss31_AV"] = "P"
    data["cvss31_vector"] = "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"
    response = alice_client.post(assess_url(report), data)
    assert response.status_code == 400
    assert (
        "The CVSS 3.1 vector and the metrics chosen below it differ." in response.content.decode()
    )
    report.refresh_from_db()
    assert report.cvss31_vector.startswith("CVSS:3.1/AV:N/")


def test_it_clears_the_vector_when_every_choice_is_unset(report, alice, alice_client):
    assess(report, alice, cvss31_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N")
    data = form_values(alice_client, report)
    data.update({f"cvss31_{key}": "" for key in V31})
    assert alice_client.post(assess_url(report), data).status_code == 303
    report.refresh_from_db()
    assert (report.cvss31_vector, report.cvss31_score, report.severity) == ("", None, "")


def test_it_labels_each_metric_in_the_language_of_the_page(report, alice_client):
    alice_client.cookies["django_language"] = "nl"
    page = alice_client.get(f"/triage/reports/{report.uid}/").content.decode()
    assert '<label for="workflow-cvss40_AT">Aanvalsvereisten (AT)' in page
    assert "CVSS 4.0-calculator" in page
    assert 'src="/static/meldpunt/cvss.js"' in page


def test_it_lets_only_the_assessment_pages_script_fetch_from_its_own_origin(
    report, alice_client, bob
):
    policy = alice_client.get(f"/triage/reports/{report.uid}/")["Content-Security-Policy"]
    assert policy.endswith("; connect-src 'self'") and "script-src 'self';" in policy
    assert "unsafe" not in policy
    viewer = sign_in(Client(), bob).get(f"/triage/reports/{report.uid}/")
    assert "connect-src" not in viewer["Content-Security-Policy"]
    assert "cvss.js" not in viewer.content.decode()
