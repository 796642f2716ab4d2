"""The assessment's affected asset is sealed, and the upgrade seals the ones stored in clear."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from meldpunt.advisories import publishing
from meldpunt.reports import assessment
from meldpunt.reports.models import Event, Report
from tests.advisory_cast import fixed
from tests.conftest import Submitted, sign_in
from tests.test_encryption_at_rest import database_bytes

BEFORE = [("reports", "0004_retention")]
ASSET = "billing-db-07.internal.example.org"


def report_columns() -> list[str]:
    with connection.cursor() as cursor:
        return [
            c.name for c in connection.introspection.get_table_description(cursor, "reports_report")
        ]


@pytest.fixture
def executor() -> Iterator[MigrationExecutor]:
    executor = MigrationExecutor(connection)
    yield executor
    # Leave the schema as the rest of the session expects it, whatever the test did.
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_it_seals_an_affected_asset_that_an_older_version_stored_in_clear(
    rita: Submitted, executor: MigrationExecutor
) -> None:
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("reports", "Report")
    old.objects.filter(pk=rita.report.pk).update(affected_asset=ASSET)
    assert ASSET.encode() in database_bytes()  # the dump showed it before the upgrade

    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert "affected_asset" not in report_columns()
    assert "assessment_blob" in report_columns()
    report = Report.objects.get(pk=rita.report.pk)
    assert report.affected_asset == ASSET
    assert report.assessment == {"affected_asset": ASSET}


@pytest.mark.django_db(transaction=True)
def test_it_opens_the_sealed_asset_again_when_the_upgrade_is_undone(
    rita: Submitted, alice: User, executor: MigrationExecutor
) -> None:
    sign_in(Client(), alice)
    report = fixed(alice, rita)
    assert report.affected_asset == "portal.example.org"

    executor.migrate(BEFORE)

    old = executor.loader.project_state(BEFORE).apps.get_model("reports", "Report")
    assert old.objects.get(pk=report.pk).affected_asset == "portal.example.org"
    assert "assessment_blob" not in report_columns()


@pytest.mark.django_db
def test_it_shows_prefills_and_records_the_sealed_asset_without_its_value(
    rita: Submitted, alice: User
) -> None:
    client = sign_in(Client(), alice)
    response = client.post(
        f"/triage/reports/{rita.report.uid}/assess/", {"affected_asset": f" {ASSET} "}
    )
    assert response.status_code == 303

    report = Report.objects.get(pk=rita.report.pk)
    assert report.affected_asset == ASSET
    assert ASSET.encode() not in bytes(report.assessment_blob)
    page = client.get(f"/triage/reports/{report.uid}/").content.decode()
    assert f'name="affected_asset" value="{ASSET}"' in page
    event = Event.objects.filter(report=report, kind="assessed").get()
    assert event.data["fields"] == ["affected_asset"]
    assert ASSET not in str(event.data)

    fixed(alice, rita)
    draft = publishing.start_draft(Report.objects.get(pk=report.pk), alice).draft
    assert draft["products"][0]["name"] == "portal.example.org"


@pytest.mark.django_db
def test_it_reads_the_new_asset_on_the_report_that_was_assessed(
    rita: Submitted, alice: User
) -> None:
    report = rita.report
    assert report.affected_asset == ""
    assessment.assess(report, alice, affected_asset=ASSET)
    # As with the clear column before: assess() refreshes the caller's object.
    assert report.affected_asset == ASSET
