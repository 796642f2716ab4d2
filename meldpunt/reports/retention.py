"""The retention schedule: purge what the policy says we keep only for a while.

Attachments (which may hold data the finder obtained through the hole) and the finder's
contact data are removed a set number of days after the report was published or closed,
unless a legal hold is on. The workflow record stays (dates, states, scores) so the
metrics stay true. Each report is purged in its own transaction, under a row lock, so a
legal hold set at the same moment wins.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from meldpunt.audit.actors import Actor
from meldpunt.reports.models import Attachment, Report
from meldpunt.reports.services import forget_contact, record_event

log = logging.getLogger(__name__)


@dataclass
class Purged:
    attachments: int = 0
    contacts: int = 0


def _due(field: str, days: int, now: datetime) -> list[int]:
    cutoff = now - timedelta(days=days)
    return list(
        Report.objects.filter(
            legal_hold=False,
            retention_from__isnull=False,
            retention_from__lte=cutoff,
            **{f"{field}__isnull": True},
        ).values_list("pk", flat=True)[:500]
    )


def _purge_attachments(pk: int, now: datetime) -> int:
    names: list[str] = []
    with transaction.atomic():
        report = Report.objects.select_for_update().get(pk=pk)
        if report.legal_hold or report.attachments_purged_at is not None:
            return 0
        attachments = Attachment.objects.filter(report=report)
        names = list(attachments.values_list("storage_name", flat=True))
        # Pieces kept in the database go with their rows, in this transaction.
        attachments.delete()
        report.attachments_purged_at = now
        report.save(update_fields=["attachments_purged_at"])
        record_event(report, "attachments_purged", "system", count=len(names))
        # Files go only once the rows are gone for good.
        transaction.on_commit(lambda: _delete_files(names))
    return 1


def _delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            log.warning("could not remove purged attachment file %s", name)


def _purge_contact(pk: int, now: datetime) -> int:
    with transaction.atomic():
        report = Report.objects.select_for_update().get(pk=pk)
        if report.legal_hold or report.contact_purged_at is not None:
            return 0
        fields = forget_contact(report)
        report.contact_purged_at = now
        report.save(update_fields=[*fields, "contact_purged_at"])
        record_event(report, "contact_data_purged", "system")
    return 1


def purge_due(now: datetime | None = None) -> Purged:
    """Purge whatever is due; idempotent, safe with several workers."""
    now = now or timezone.now()
    done = Purged()
    for pk in _due("attachments_purged_at", settings.MELDPUNT_RETENTION_ATTACHMENT_DAYS, now):
        done.attachments += _purge_attachments(pk, now)
    for pk in _due("contact_purged_at", settings.MELDPUNT_RETENTION_CONTACT_DAYS, now):
        done.contacts += _purge_contact(pk, now)
    return done


def set_legal_hold(report: Report, hold: bool, actor: Actor | str) -> None:
    with transaction.atomic():
        Report.objects.filter(pk=report.pk).update(legal_hold=hold)
        report.legal_hold = hold
        record_event(report, "legal_hold_set" if hold else "legal_hold_lifted", actor)
