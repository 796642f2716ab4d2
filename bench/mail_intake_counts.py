"""Mail intake, counted rather than timed: CPU, SQL queries, header objects and classes, fsyncs.

Wall-clock rates swing with the load of a shared host (fsync and lock waits); these figures
barely do, so two versions can be compared on a busy machine. SQLite, in-process:

    .venv/bin/python bench/mail_intake_counts.py [TREE]

TREE is a checkout to measure (default: this one), e.g. an older commit extracted with
`git archive <commit> | tar -x -C /tmp/old`: its own bench/mail_intake.py makes the mails.
"""

from __future__ import annotations

import email.headerregistry
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WARMUP, COUNTED, TIMED = 5, 20, 100


def main() -> None:
    tree = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent).resolve()
    sys.path.insert(0, str(tree))
    os.chdir(tree)
    import bench.mail_intake as bench

    data = Path(tempfile.mkdtemp(prefix="mail-counts-"))
    bench.setup_django(data, f"sqlite:///{data / 'meldpunt.sqlite3'}")
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from meldpunt.intake.mail import process_message
    from meldpunt.policy import keys

    call_command("init", stdout=io.StringIO())
    cert = keys.primary().cert
    mails = [bench.make_mail(cert, i, "c") for i in range(WARMUP + COUNTED + TIMED)]
    for raw in mails[:WARMUP]:
        process_message(raw)

    made, classes, syncs = [0], [0], [0]
    registry_call, real_fsync = email.headerregistry.HeaderRegistry.__call__, os.fsync
    registry_class = email.headerregistry.HeaderRegistry.__getitem__

    def counting_registry(self: Any, name: str, value: str) -> Any:
        made[0] += 1
        return registry_call(self, name, value)

    def counting_class(self: Any, name: str) -> Any:
        classes[0] += 1  # the standard registry makes a new class on every call
        return registry_class(self, name)

    def counting_fsync(fd: int) -> None:
        syncs[0] += 1
        real_fsync(fd)

    email.headerregistry.HeaderRegistry.__call__ = counting_registry  # type: ignore[method-assign]
    email.headerregistry.HeaderRegistry.__getitem__ = counting_class  # type: ignore[method-assign]
    os.fsync = counting_fsync
    with CaptureQueriesContext(connection) as queries:
        for raw in mails[WARMUP : WARMUP + COUNTED]:
            assert process_message(raw).outcome == "report"
    email.headerregistry.HeaderRegistry.__call__ = registry_call  # type: ignore[method-assign]
    email.headerregistry.HeaderRegistry.__getitem__ = registry_class  # type: ignore[method-assign]
    os.fsync = real_fsync

    cpu, wall = time.process_time(), time.perf_counter()
    for raw in mails[WARMUP + COUNTED :]:
        assert process_message(raw).outcome == "report"
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(
        f"{tree}: CPU {cpu * 1000 / TIMED:.1f} ms/mail, wall {wall * 1000 / TIMED:.1f} ms/mail, "
        f"{len(queries.captured_queries) / COUNTED:.1f} queries/mail, "
        f"{made[0] / COUNTED:.1f} header objects/mail, {classes[0] / COUNTED:.1f} header "
        f"classes made/mail, {syncs[0] / COUNTED:.1f} fsync/mail "
        f"(load {load})"
    )


if __name__ == "__main__":
    main()
