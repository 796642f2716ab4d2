"""The worker's periodic pass runs every job, even when one of them fails."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from meldpunt.management.commands import worker
from meldpunt.policy.models import SecurityTxt
from meldpunt.reports.models import Promise

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Any:
    # The worker closes stale connections between jobs; the test's transaction must stay.
    with mock.patch.object(worker, "close_old_connections"):
        yield


def test_it_signs_security_txt_and_sends_the_outbox(org_key: Any) -> None:
    with mock.patch("meldpunt.reports.outbox.deliver_due", return_value=2) as deliver:
        worker.run_schedule()
    deliver.assert_called_once()
    assert SecurityTxt.objects.count() == 1


def test_it_runs_the_other_jobs_when_one_fails(org_key: Any, caplog: Any) -> None:
    with (
        mock.patch.object(worker, "send_due_reminders", side_effect=RuntimeError("boom")),
        mock.patch("meldpunt.reports.outbox.deliver_due", return_value=0) as deliver,
    ):
        worker.run_schedule()
    deliver.assert_called_once()
    assert SecurityTxt.objects.count() == 1
    assert "_reminders failed" in caplog.text


def test_it_computes_missing_promise_ledgers_in_the_periodic_pass(org_key: Any, rita: Any) -> None:
    Promise.objects.all().delete()  # a report from before the ledger existed
    with mock.patch("meldpunt.reports.outbox.deliver_due", return_value=0):
        worker.run_schedule()
    assert Promise.objects.filter(report=rita.report, kind="first_response").exists()
