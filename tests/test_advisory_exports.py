"""CVE JSON 5 records and OSV documents of published advisories, checked against the
formats' own schemas (vendored in tests/fixtures/schemas, see its README)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import translation

from meldpunt.advisories import exports, publishing
from meldpunt.advisories.forms import AdvisoryForm
from meldpunt.advisories.models import Advisory
from meldpunt.api.tokens import issue_token
from meldpunt.reports.models import Report
from tests.advisories import XSS_40, content, publish
from tests.advisory_cast import fixed, ready
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db

SCHEMAS = Path(__file__).parent / "fixtures" / "schemas"
PACKAGES = [
    {"ecosystem": "PyPI", "name": "shop-search", "introduced": "2.0", "fixed": "2.3.2"},
    {"ecosystem": "PyPI", "name": "shop-search", "introduced": "3.0", "fixed": "3.0.1"},
    {"ecosystem": "npm", "name": "shop-widget", "introduced": "", "fixed": "1.4.0"},
]
FR = {
    "title": "XSS dans la recherche",
    "summary": "Le paramètre q était renvoyé.",
    "remediation": "Mettre à jour.",
}


@cache
def _validator(name: str) -> Any:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def valid_cve(record: Any) -> dict[str, Any]:
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in _validator("cve-5.1.1-bundled.json").iter_errors(record)
    ]
    assert errors == [], errors
    return dict(record)


def valid_osv(document: Any) -> dict[str, Any]:
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in _validator("osv-schema.json").iter_errors(document)
    ]
    assert errors == [], errors
    return dict(document)


def _record(advisory: Advisory) -> dict[str, Any]:
    record = exports.cve_record(advisory, list(advisory.revisions.all()))
    assert record is not None
    return valid_cve(record)


def test_a_cve_record_carries_the_whole_cna_container() -> None:
    data = content(
        cve="CVE-2026-12345",
        cvss40_vector=XSS_40,
        translations={"fr": FR},
        products=[
            {"name": "Webshop", "affected": "2.3.1", "fixed": "2.3.2"},
            {"name": "Shop app", "affected": "< 5.0", "fixed": "5.0"},
            {"name": "shop.example.org", "affected": "", "fixed": ""},
        ],
    )
    advisory = publish("MPSA-2026-0100", data, credits=["Rita Finder"], revisions=2)
    record = _record(advisory)
    assert record["cveMetadata"]["cveId"] == "CVE-2026-12345"
    cna = record["containers"]["cna"]
    assert {(d["lang"], d["value"]) for d in cna["descriptions"]} == {
        ("en", data["summary"]),
        ("fr", FR["summary"]),
    }
    metrics = {key for m in cna["metrics"] for key in m if key.startswith("cvss")}
    assert metrics == {"cvssV3_1", "cvssV4_0"}
    v31 = next(m["cvssV3_1"] for m in cna["metrics"] if "cvssV3_1" in m)
    assert (v31["baseScore"], v31["baseSeverity"]) == (6.1, "MEDIUM")
    problem = cna["problemTypes"][0]["descriptions"][0]
    assert problem["cweId"] == "CWE-79" and "Cross-site Scripting" in problem["description"]
    webshop, app, site = cna["affected"]
    assert webshop["versions"] == [
        {"version": "2.3.1", "status": "affected"},
        {"version": "2.3.2", "status": "unaffected"},
    ]
    assert app["versions"][0] == {
        "version": "0", "lessThan": "5.0", "status": "affected", "versionType": "custom"
    }  # fmt: skip
    assert site["defaultStatus"] == "affected" and "versions" not in site
    assert cna["credits"] == [{"lang": "en", "value": "Rita Finder", "type": "finder"}]
    assert [t["value"] for t in cna["timeline"]] == [
        "Initial publication.",
        "Revision 2: details added.",
    ]
    urls = [r["url"] for r in cna["references"]]
    assert urls[0].endswith("/advisories/MPSA-2026-0100/")
    assert "https://example.org/notes/xss" in urls
    assert {s["lang"] for s in cna["solutions"]} == {"en", "fr"}


def test_a_cve_record_needs_a_cve_id_and_an_english_text() -> None:
    without = publish("MPSA-2026-0101", content(cve=""))
    assert exports.cve_record(without, list(without.revisions.all())) is None
    with translation.override("en"):  # the reason is for staff, in their language
        reasons = exports.cve_missing(without, list(without.revisions.all()))
    assert "no CVE id" in " ".join(reasons)
    dutch = publish("MPSA-2026-0102", content(cve="CVE-2026-1000"), language="nl")
    assert exports.cve_record(dutch, list(dutch.revisions.all())) is None
    # An English translation of a Dutch advisory is enough.
    translated = publish(
        "MPSA-2026-0103",
        content(cve="CVE-2026-1001", translations={"en": {**FR, "title": "XSS in search"}}),
        language="nl",
    )
    record = _record(translated)
    assert record["containers"]["cna"]["title"] == "XSS in search"
    draft = Advisory.objects.create(
        identifier="MPSA-2026-0104", created_at=translated.created_at,
        updated_at=translated.created_at,
    )  # fmt: skip
    assert exports.cve_record(draft, []) is None


def test_the_cve_id_is_optional_and_checked(report: Report, alice: User) -> None:
    advisory = ready(alice, report)
    base = {**AdvisoryForm.initial_from(advisory), "publish_date": "", "publish_time": ""}
    for value, ok in (
        ("", True),
        ("cve-2026-12345", True),
        ("CVE-26-1", False),
        ("CVE-2026-123", False),
    ):
        form = AdvisoryForm({**base, "cve": value}, advisory=advisory)
        assert form.is_valid() is ok, (value, form.errors)
        if ok:
            assert form.cleaned_data["cve"] == value.upper()


def test_credits_follow_the_finders_choice(alice: User) -> None:
    named = fixed(alice, credit="name", name="Rita Finder")
    advisory = ready(alice, named)
    publishing.update_draft(advisory, {"cve": "CVE-2026-2000"}, alice)
    named.credit = "none"  # the finder chose to stay anonymous before publication
    named.save(update_fields=["credit"])
    publishing.publish(advisory, summary="", user=alice, skip_review=True)
    cna = _record(advisory)["containers"]["cna"]
    assert "credits" not in cna
    assert "Rita" not in json.dumps(cna)
    named.finder = {**named.finder, "name": "R. Finder"}
    named.credit = "pseudonym"
    named.save(update_fields=["finder_blob", "credit"])
    publishing.publish(advisory, summary="Credit added.", user=alice)
    cna = _record(advisory)["containers"]["cna"]
    assert cna["credits"] == [{"lang": "en", "value": "R. Finder", "type": "finder"}]


def test_staff_download_the_record_and_nobody_else(alice: User, bob: User, client: Client) -> None:
    advisory = publish("MPSA-2026-0110", content(cve="CVE-2026-3000"))
    url = f"/triage/advisories/{advisory.uid}/cve.json"
    anonymous = client.get(url)
    assert anonymous.status_code in (302, 403, 404)
    assert b"CVE-2026-3000" not in anonymous.content
    viewer = sign_in(Client(), bob)
    page = viewer.get(f"/triage/advisories/{advisory.uid}/")
    assert url in page.content.decode()
    answer = viewer.get(url)
    assert answer.status_code == 200
    assert "attachment" in answer["Content-Disposition"]
    assert valid_cve(json.loads(answer.content))["cveMetadata"]["cveId"] == "CVE-2026-3000"
    unpublished = ready(alice, fixed(alice))
    assert viewer.get(f"/triage/advisories/{unpublished.uid}/cve.json").status_code == 404
    no_id = publish("MPSA-2026-0112", content())
    page = viewer.get(f"/triage/advisories/{no_id.uid}/")
    assert "No CVE record yet" in page.content.decode()
    assert f"/triage/advisories/{no_id.uid}/cve.json" not in page.content.decode()


def test_the_api_serves_both_documents_to_a_token_with_the_read_scope(
    alice: User, bob: User
) -> None:
    advisory = publish("MPSA-2026-0120", content(cve="CVE-2026-4000", packages=PACKAGES))
    base = f"/api/v1/advisories/{advisory.uid}"
    api = Client(headers={"Authorization": f"Bearer {issue_token(bob, 'exports', ['read'])}"})
    assert valid_cve(api.get(f"{base}/cve.json").json())["cveMetadata"]["cveId"] == "CVE-2026-4000"
    assert valid_osv(api.get(f"{base}/osv.json").json())["aliases"] == ["CVE-2026-4000"]
    assert Client().get(f"{base}/cve.json").status_code == 401
    no_read = Client(headers={"Authorization": f"Bearer {issue_token(alice, 'w', ['triage'])}"})
    answer = no_read.get(f"{base}/cve.json")
    assert answer.status_code == 403 and answer.json()["code"] == "insufficient_scope"
    without = publish("MPSA-2026-0121", content())
    missing = api.get(f"/api/v1/advisories/{without.uid}/cve.json")
    assert missing.status_code == 404 and "no CVE id" in missing.json()["detail"]
    assert api.get(f"/api/v1/advisories/{without.uid}/osv.json").status_code == 404


def test_the_api_refuses_a_malformed_cve_id_and_an_unknown_ecosystem(
    report: Report, alice: User
) -> None:
    advisory = ready(alice, report)
    api = Client(headers={"Authorization": f"Bearer {issue_token(alice, 'desk')}"})
    url = f"/api/v1/advisories/{advisory.uid}"
    etag = api.get(url)["ETag"]
    for body in ({"cve": "CVE-2026-1"}, {"packages": [{"ecosystem": "PyPi", "name": "x"}]}):
        answer = api.patch(url, body, content_type="application/json", headers={"If-Match": etag})
        assert answer.status_code == 422, body
    good: dict[str, Any] = {
        "cve": "CVE-2026-5000",
        "packages": [{"ecosystem": "PyPI", "name": "x", "fixed": "2"}],
    }
    answer = api.patch(url, good, content_type="application/json", headers={"If-Match": etag})
    assert answer.status_code == 200, answer.content
    assert answer.json()["draft"]["packages"] == [
        {"ecosystem": "PyPI", "name": "x", "introduced": "", "fixed": "2"}
    ]


def test_an_osv_document_describes_the_packages_and_their_ranges(client: Client) -> None:
    data = content(cve="CVE-2026-6000", cvss40_vector=XSS_40, packages=PACKAGES)
    advisory = publish("MPSA-2026-0130", data, credits=["Rita Finder"])
    page = client.get("/advisories/MPSA-2026-0130/")
    assert 'href="/advisories/MPSA-2026-0130/osv.json"' in page.content.decode()
    answer = client.get("/advisories/MPSA-2026-0130/osv.json")
    assert answer.status_code == 200 and answer["Content-Type"] == "application/json"
    assert answer["Access-Control-Allow-Origin"] == "*"
    document = valid_osv(json.loads(answer.content))
    assert document["id"] == "x_MPSA-2026-0130"
    assert document["aliases"] == ["CVE-2026-6000"]
    search, widget = document["affected"]
    assert search["package"] == {"ecosystem": "PyPI", "name": "shop-search"}
    assert search["ranges"][0]["events"] == [
        {"introduced": "2.0"}, {"fixed": "2.3.2"}, {"introduced": "3.0"}, {"fixed": "3.0.1"},
    ]  # fmt: skip
    assert widget["ranges"][0]["events"] == [{"introduced": "0"}, {"fixed": "1.4.0"}]
    assert {s["type"] for s in document["severity"]} == {"CVSS_V3", "CVSS_V4"}
    assert document["credits"] == [{"name": "Rita Finder", "type": "FINDER"}]
    assert document["database_specific"]["cwe_ids"] == ["CWE-79"]
    assert advisory.identifier in document["references"][0]["url"]


def test_the_csaf_document_links_the_osv_document_of_an_advisory_about_packages() -> None:
    with_packages = publish("MPSA-2026-0135", content(packages=PACKAGES))
    without = publish("MPSA-2026-0136", content())

    def urls(advisory: Advisory) -> list[str]:
        csaf = advisory.revisions.get().csaf
        return [r["url"] for r in csaf["document"]["references"]]

    assert any(u.endswith("/advisories/MPSA-2026-0135/osv.json") for u in urls(with_packages))
    assert not any(u.endswith("osv.json") for u in urls(without))


def test_osv_only_for_published_advisories_about_packages(client: Client) -> None:
    publish("MPSA-2026-0140", content())  # a web shop, no packages
    assert client.get("/advisories/MPSA-2026-0140/osv.json").status_code == 404
    assert "osv.json" not in client.get("/advisories/MPSA-2026-0140/").content.decode()
    from tests.advisories import make_advisory

    make_advisory("MPSA-2026-0141", draft=content(packages=PACKAGES))  # a draft
    answer = client.get("/advisories/MPSA-2026-0141/osv.json")
    assert answer.status_code == 404 and b"shop-search" not in answer.content


def test_staff_enter_packages_with_an_osv_ecosystem(report: Report, alice: User) -> None:
    advisory = ready(alice, report)
    base = {**AdvisoryForm.initial_from(advisory), "publish_date": "", "publish_time": ""}
    form = AdvisoryForm({**base, "packages": "Pypi | shop | 1.0 | 1.1"}, advisory=advisory)
    assert not form.is_valid() and "not an OSV ecosystem" in str(form.errors["packages"])
    form = AdvisoryForm(
        {**base, "packages": "PyPI | shop | | 1.1\ncrates.io | s | 0.1"}, advisory=advisory
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["packages"] == [
        {"ecosystem": "PyPI", "name": "shop", "introduced": "", "fixed": "1.1"},
        {"ecosystem": "crates.io", "name": "s", "introduced": "0.1", "fixed": ""},
    ]
    publishing.update_draft(advisory, form.changes(), alice)
    publishing.publish(advisory, summary="", user=alice, skip_review=True)
    document = exports.osv_document(advisory, list(advisory.revisions.all()))
    assert document is not None
    valid_osv(document)
    # The form shows them again as they were typed.
    assert (
        AdvisoryForm.initial_from(advisory)["packages"]
        == "PyPI | shop |  | 1.1\ncrates.io | s | 0.1"
    )


def test_the_ecosystems_are_the_osv_schemas() -> None:
    schema = json.loads((SCHEMAS / "osv-schema.json").read_text(encoding="utf-8"))
    assert set(exports.OSV_ECOSYSTEMS) == set(schema["$defs"]["ecosystemName"]["enum"])


@pytest.fixture
def report(alice: User) -> Report:
    return fixed(alice)
