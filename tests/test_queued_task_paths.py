"""Mail tasks queued by the previous release, under the outbox's old module path, still run."""

from __future__ import annotations

from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from meldpunt.reports import outbox
from meldpunt.reports.models import OutboundMail
from tests.test_outbox import FINDER, finder, queued, smtp

__all__ = ["finder", "smtp"]  # fixtures used below

OLD_PATH = "meldpunt.lib.outbox.deliver"


def test_it_delivers_a_mail_task_queued_under_the_old_path(finder, smtp):
    mail = queued(finder.report)
    # What the previous release wrote to the queue for this mail: the same task, old path.
    old = outbox.deliver.enqueue(str(mail.uid))
    DBTaskResult.objects.filter(id=old.id).update(task_path=OLD_PATH)
    assert DBTaskResult.objects.get(id=old.id).task_path == OLD_PATH
    # What `meldpunt worker` runs for each queued task (its db_worker's own step), in this
    # test's database connection.
    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=1,
        worker_id="test",
        excluded_queue_names=[],
    )
    worker.run_task(DBTaskResult.objects.get(id=old.id))
    finished = DBTaskResult.objects.get(id=old.id)
    assert finished.status == "SUCCESSFUL", finished.status
    mail.refresh_from_db()
    assert mail.status == OutboundMail.Status.SENT
    assert [m.rcpt_tos for m in smtp.mails] == [[FINDER]]
