"""Sealed attachment files that no row names, removed after a grace period.

Attachments are written before the transaction that stores their rows (services.py): a
process killed between the two, or a purge whose file removal failed, leaves a file that
nothing will ever read. Files younger than the grace period may belong to a submission
still in flight, so they stay until a later pass.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from django.core.files.storage import default_storage
from django.utils import timezone

from meldpunt.reports.models import Attachment

log = logging.getLogger(__name__)

GRACE = timedelta(hours=1)
BATCH = 500


def _files(root: Path) -> Iterator[tuple[str, float]]:
    """(storage name, modification time) of every file under the storage's root."""
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue  # removed meanwhile (a purge)
            yield path.relative_to(root).as_posix(), mtime


def _remove_unnamed(batch: list[tuple[str, float]]) -> int:
    known = set(
        # A row kept in the database names no file: one left behind by an interrupted
        # `meldpunt attachments move` is an orphan too.
        Attachment.objects.filter(
            storage_name__in=[n for n, _m in batch], in_database=False
        ).values_list("storage_name", flat=True)
    )
    removed = 0
    for name, _mtime in batch:
        if name not in known:
            default_storage.delete(name)
            log.info("removed attachment file %s that no row names", name)
            removed += 1
    return removed


def remove_orphan_files(now: datetime | None = None, grace: timedelta = GRACE) -> int:
    """Remove attachment files older than `grace` that no Attachment row names."""
    try:
        root = Path(default_storage.path(""))
    except NotImplementedError:
        return 0  # not on a local disk: nothing to walk
    cutoff = ((now or timezone.now()) - grace).timestamp()
    removed, batch = 0, []
    for name, mtime in _files(root):
        if mtime <= cutoff:
            batch.append((name, mtime))
        if len(batch) >= BATCH:
            removed += _remove_unnamed(batch)
            batch = []
    if batch:
        removed += _remove_unnamed(batch)
    return removed
