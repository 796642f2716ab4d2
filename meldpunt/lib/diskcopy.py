"""The last good copy of a rarely changing public file, kept in the data directory.

The public key and security.txt live in the database but change a few times a year; when
the database is down they are served from this copy instead of a 503, so mail programs,
scanners and finders still find how to reach us securely.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

# What this process last wrote (or found) per file: a request that serves the same bytes
# again costs a hash, not a disk write.
_kept: dict[str, str] = {}


def _path(name: str) -> Path:
    return Path(settings.DATA_DIR) / "published" / name


def keep(name: str, data: bytes) -> None:
    """Store `data` as the copy of `name` if it differs from the one kept (atomically)."""
    digest = hashlib.sha256(data).hexdigest()
    path = _path(name)
    if _kept.get(str(path)) == digest:
        return
    try:
        if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            _kept[str(path)] = digest
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        # A read-only or full disk must not break the page that is being served.
        log.warning("could not keep a local copy of %s", name)
        return
    _kept[str(path)] = digest


def last(name: str) -> bytes | None:
    """The copy of `name` kept earlier, or None."""
    try:
        return _path(name).read_bytes()
    except OSError:
        return None
