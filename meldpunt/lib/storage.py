"""Files that must survive a power cut once the database says they exist."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import Storage


def save_durably(storage: Storage, name: str, data: bytes) -> str:
    """Save `data` and, on a local disk, flush the file and its directory before returning.

    The caller commits a database row that acknowledges the file right after this: without
    the flush, a power cut could keep the row (the database syncs its commit) and lose the
    file still in the page cache.
    """
    saved = storage.save(name, ContentFile(data))
    try:
        path = Path(storage.path(saved))
    except NotImplementedError:
        return saved  # not on a local disk: that storage keeps its own promises
    with path.open("rb") as fh:
        os.fsync(fh.fileno())
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the new directory entry, too
    finally:
        os.close(directory)
    return saved
