"""The team drafts an advisory from fixed reports: prefill, validation, roles, preview."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone, translation

from meldpunt.advisories import publishing
from meldpunt.advisories.models import Advisory
from meldpunt.policy.commitments import category_label
from meldpunt.reports.models import Event, OutboundMail, Report
from tests.advisory_cast import V31, V40, fixed, ready
from tests.conftest import make_staff, sign_in, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(alice: User) -> Client:
    return sign_in(Client(), alice)


@pytest.fixture
def report(alice: User) -> Report:
    return fixed(alice, description="Secret details: the admin password is hunter2.")


def start_url(report: Report) -> str:
    return f"/triage/advisories/new/{report.uid}/"


def url(advisory: Advisory, action: str = "") -> str:
    return f"/triage/advisories/{advisory.uid}/{action + '/' if action else ''}"


def form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "title": "Reflected XSS in the customer portal",
        "summary": "The search page reflected the q parameter.",
        "products": "Customer portal | < 2.3.1 | 2.3.1\nportal.example.org",
        "remediation": "Update to 2.3.1.",
        "cvss31_vector": V31,
        "cvss40_vector": V40,
        "cwe": "cwe-79",
        "cve": "CVE-2026-12345",
        "references": "https://example.org/notes/1\nhttp://example.org/b",
        "publish_date": (timezone.localdate() + timedelta(days=10)).isoformat(),
        "publish_time": "10:00",
        "publish_tz": "Europe/Brussels",
        "language": "en",
    }
    data.update(overrides)
    return data


def test_it_drafts_from_a_fixed_report_prefilled_with_the_assessment_only(
    report: Report, alice_client: Client
) -> None:
    response = alice_client.post(start_url(report))
    advisory = Advisory.objects.get()
    assert response.status_code == 303
    assert response["Location"] == url(advisory) + "#edit"
    year = timezone.localtime(advisory.created_at).year
    assert advisory.identifier == f"MPSA-{year}-0001"
    assert list(advisory.reports.all()) == [report]
    draft = advisory.draft
    assert draft["cvss31_vector"] == V31 and draft["cwe"] == "CWE-79"
    names = [p["name"] for p in draft["products"]]
    assert names == ["portal.example.org", "https://portal.example.org/login", "192.0.2.10"]
    assert draft["summary"] == "" and "hunter2" not in str(draft)
    assert Event.objects.filter(report=report, kind="advisory_drafted").exists()
    page = alice_client.get(url(advisory)).content.decode()
    assert "hunter2" not in page and advisory.identifier in page


def test_it_refuses_to_draft_from_a_report_that_is_not_fixed(alice_client: Client) -> None:
    report = submit(Client()).report
    response = alice_client.post(start_url(report), follow=True)
    assert response.redirect_chain[0] == (f"/triage/reports/{report.uid}/", 303)
    assert "is not fixed yet" in response.content.decode()
    assert not Advisory.objects.exists()


def test_it_offers_the_draft_button_on_a_fixed_report_only(
    report: Report, alice_client: Client
) -> None:
    page = alice_client.get(f"/triage/reports/{report.uid}/").content.decode()
    assert f'action="{start_url(report)}"' in page
    other = submit(Client()).report
    page = alice_client.get(f"/triage/reports/{other.uid}/").content.decode()
    assert "/triage/advisories/new/" not in page


def test_it_takes_the_next_identifier_when_two_create_at_once(
    report: Report, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = publishing.start_draft(report, alice)
    real = publishing.new_identifier
    handed = iter([first.identifier])  # another team member's, as if read just before theirs

    def racing(now: datetime) -> str:
        return next(handed, None) or real(now)

    monkeypatch.setattr(publishing, "new_identifier", racing)
    second = publishing.start_draft(fixed(alice), alice)
    assert second.identifier.endswith("-0002")
    assert publishing.new_identifier(timezone.now()).endswith("-0003")


def test_it_numbers_past_9999_without_sorting_as_text(report: Report, alice: User) -> None:
    now = timezone.now()
    prefix = f"MPSA-{timezone.localtime(now).year}-"
    for serial in ("9999", "10000"):
        Advisory.objects.create(identifier=prefix + serial, created_at=now, updated_at=now)
    assert publishing.new_identifier(now) == prefix + "10001"


def test_it_feeds_one_advisory_from_several_fixed_reports(
    report: Report, alice: User, alice_client: Client
) -> None:
    advisory = publishing.start_draft(report, alice)
    variant = fixed(alice)
    response = alice_client.post(url(advisory, "reports"), {"reference": variant.reference})
    assert response.status_code == 303
    assert set(advisory.reports.all()) == {report, variant}
    assert Event.objects.filter(report=variant, kind="advisory_report_added").exists()


@pytest.mark.parametrize("which", ["open", "elsewhere", "twice", "unknown"])
def test_it_refuses_a_report_that_is_open_or_already_in_another_draft(
    which: str, report: Report, alice: User, alice_client: Client
) -> None:
    advisory = publishing.start_draft(report, alice)
    references: dict[str, Callable[[], str]] = {
        "open": lambda: submit(Client()).report.reference,
        "elsewhere": lambda: publishing.start_draft(fixed(alice), alice).reports.get().reference,
        "twice": lambda: report.reference,
        "unknown": lambda: "MP-1999-9999",
    }
    reference = references[which]()
    response = alice_client.post(url(advisory, "reports"), {"reference": reference})
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert list(advisory.reports.all()) == [report]


def test_it_saves_the_draft_as_a_new_version_and_tells_the_finder(alice: User) -> None:
    report = fixed(alice, email="rita@example.net")
    advisory = publishing.start_draft(report, alice)
    client = sign_in(Client(), alice)
    mails = OutboundMail.objects.filter(report=report, kind="news").count()
    response = client.post(url(advisory, "edit"), form_data())
    assert response.status_code == 303
    advisory.refresh_from_db()
    advisory.__dict__.pop("_opened", None)
    assert advisory.draft_version == 2
    assert advisory.draft["products"] == [
        {"name": "Customer portal", "affected": "< 2.3.1", "fixed": "2.3.1"},
        {"name": "portal.example.org", "affected": "", "fixed": ""},
    ]
    assert advisory.draft["cwe"] == "CWE-79" and advisory.draft["cve"] == "CVE-2026-12345"
    assert advisory.draft["references"] == ["https://example.org/notes/1", "http://example.org/b"]
    event = Event.objects.get(report=report, kind="advisory_updated")
    assert event.data["advisory"] == advisory.identifier and event.data["version"] == 2
    assert OutboundMail.objects.filter(report=report, kind="news").count() == mails + 1
    # Saving the same again is no new version, and no news.
    client.post(url(advisory, "edit"), form_data())
    advisory.refresh_from_db()
    assert advisory.draft_version == 2
    page = client.get(url(advisory)).content.decode()
    assert "6.1" in page and "9.3" in page  # the scores of both vectors


def test_it_stores_the_moment_in_utc_from_the_zone_it_was_typed_in(
    report: Report, alice: User, alice_client: Client
) -> None:
    advisory = publishing.start_draft(report, alice)
    data = form_data(publish_date="2030-06-03", publish_time="10:00", publish_tz="America/New_York")
    assert alice_client.post(url(advisory, "edit"), data).status_code == 303
    advisory.refresh_from_db()
    assert advisory.publish_at == datetime(2030, 6, 3, 14, 0, tzinfo=UTC)
    assert advisory.publish_tz == "America/New_York"
    page = alice_client.get(url(advisory)).content.decode()
    assert ">3 June 2030, 10:00</time> (America/New_York)" in page


BAD_INPUT = [
    ("cvss31_vector", "CVSS:3.1/AV:X", "This CVSS 3.1 vector is not valid"),
    ("cvss31_vector", "AV:N/AC:L", "starts with “CVSS:3.1/”"),
    ("cvss40_vector", "CVSS:4.0/AV:N", "This CVSS 4.0 vector is not valid"),
    ("cwe", "79", "CWE-&lt;number&gt;"),
    ("cve", "CVE-26-1", "like CVE-2026-1234"),
    ("references", "javascript:alert(1)", "Not a web address"),
    ("references", "ftp://example.org/x", "Not a web address"),
    ("products", "", "This field is required"),
    ("products", "a | b | c | d", "Line 1: write name"),
    ("publish_date", "2020-01-01", "cannot be in the past"),
    ("publish_time", "", "Give both the date and the time"),
    ("publish_tz", "Mars/Olympus", "Select a valid choice"),
    ("title", "", "This field is required"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_INPUT)
def test_it_refuses_bad_input_with_a_clear_message_and_stores_nothing(
    field: str, value: str, message: str, report: Report, alice: User, alice_client: Client
) -> None:
    advisory = publishing.start_draft(report, alice)
    before = dict(advisory.draft)
    response = alice_client.post(url(advisory, "edit"), form_data(**{field: value}))
    assert response.status_code == 400
    assert message in response.content.decode()
    advisory.refresh_from_db()
    advisory.__dict__.pop("_opened", None)
    assert advisory.draft_version == 1 and advisory.draft == before
    assert advisory.publish_at is None
    assert not Event.objects.filter(kind="advisory_updated").exists()


def test_it_refuses_a_time_the_clocks_skip(
    report: Report, alice: User, alice_client: Client
) -> None:
    advisory = publishing.start_draft(report, alice)
    data = form_data(publish_date="2030-03-31", publish_time="02:30", publish_tz="Europe/Brussels")
    response = alice_client.post(url(advisory, "edit"), data)
    assert response.status_code == 400
    assert "does not exist in Europe/Brussels" in response.content.decode()


def test_it_previews_the_credits_exactly_as_they_will_print(alice: User) -> None:
    named = fixed(alice, credit="name", name="  Rita   Finder ")
    hidden = fixed(alice, credit="none", name="Hidden Person")
    pseudonym = fixed(alice, credit="pseudonym", name="r00t")
    again = fixed(alice, credit="name", name="Rita Finder")
    advisory = ready(alice, named, hidden, pseudonym, again)
    assert publishing.credits_for(advisory) == ["Rita Finder", "r00t"]
    page = sign_in(Client(), alice).get(url(advisory)).content.decode()
    credits = re.search(r'id="preview-credits">(.*?)</dd>', page, re.S)
    assert credits is not None
    assert re.findall(r"<li>(.*?)</li>", credits.group(1)) == ["Rita Finder", "r00t"]
    assert "Hidden Person" not in page


def test_it_lets_a_viewer_read_but_not_change(report: Report, alice: User, bob: User) -> None:
    advisory = ready(alice, report)
    client = sign_in(Client(), bob)
    page = client.get(url(advisory))
    assert (
        page.status_code == 200 and "Reflected XSS in the customer portal" in page.content.decode()
    )
    assert 'action="' + url(advisory, "edit") not in page.content.decode()
    for action in ("edit", "schedule", "unschedule", "reports"):
        assert client.post(url(advisory, action), form_data()).status_code == 403
    assert client.post(start_url(fixed(alice))).status_code == 403
    assert client.get(url(advisory, "publish")).status_code == 403
    advisory.refresh_from_db()
    assert advisory.draft_version == 2 and Advisory.objects.count() == 1


def test_it_keeps_outsiders_and_anonymous_out(report: Report, alice: User) -> None:
    advisory = ready(alice, report)
    anonymous = Client().get(url(advisory))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/triage/login/")
    assert Client().get("/triage/advisories/").status_code == 302
    charlie = User.objects.create_user("charlie", password="x")
    outsider = Client()
    outsider.force_login(charlie)
    assert outsider.get(url(advisory)).status_code == 404
    assert outsider.post(url(advisory, "edit"), form_data()).status_code == 404


def test_it_answers_404_for_an_unknown_advisory_and_405_to_get_on_actions(
    report: Report, alice: User, alice_client: Client
) -> None:
    advisory = ready(alice, report)
    assert (
        alice_client.get("/triage/advisories/6d7f1e1c-0000-4000-8000-000000000000/").status_code
        == 404
    )
    for action in ("edit", "schedule", "unschedule", "reports"):
        assert alice_client.get(url(advisory, action)).status_code == 405
    assert alice_client.get(start_url(report)).status_code == 405


def test_it_lists_the_advisories_for_any_staff_member(report: Report, alice: User) -> None:
    advisory = ready(alice, report)
    viewer = make_staff("vera@example.org", "viewer")
    page = sign_in(Client(), viewer).get("/triage/advisories/").content.decode()
    assert advisory.identifier in page and report.reference in page


def test_it_requires_the_csrf_token(report: Report, alice: User) -> None:
    advisory = ready(alice, report)
    client = sign_in(Client(enforce_csrf_checks=True), alice)
    assert client.post(url(advisory, "edit"), form_data()).status_code == 403


@pytest.mark.parametrize(
    ("report_language", "ui", "language"),
    [("en", "en", "en"), ("fr", "en", "fr"), ("de", "en", "en"), ("de", "fr", "fr")],
)
def test_it_drafts_in_the_reports_language_else_the_readers(
    report: Report, alice_client: Client, report_language: str, ui: str, language: str
) -> None:
    Report.objects.filter(pk=report.pk).update(language=report_language, category="access_control")
    alice_client.post(start_url(report), HTTP_ACCEPT_LANGUAGE=ui)
    advisory = Advisory.objects.get()
    assert advisory.language == language
    with translation.override(language):
        assert advisory.draft["title"] == str(category_label("access_control"))
