"""The triage aids of issue 20: how right they are on labelled reports, and what they cost.

Run from the project root with the project's virtualenv:

    .venv/bin/python bench/triage_aids.py                   # SQLite, 20 rounds
    .venv/bin/python bench/triage_aids.py --db postgres --rounds 50

Setup: a fresh temporary data directory, `meldpunt init` in-process (key file, migrations,
static files); PostgreSQL uses the database `meldpunt_bench_aids`, dropped and recreated
and dropped afterwards (names starting with `test` are refused). The scope inventory
tests/data/triage_aids/scope.toml is loaded with `meldpunt.scope.importing.load_file`.

(a) Quality. Every line of every tests/data/triage_aids/*.jsonl is a labelled report
(format: tests/test_triage_aids_dataset.py). Each of the three checks runs on the content
of each report whose label for that check is not null:

- low value: `meldpunt.begbounty.rules.recognise(content, language)`; the label applies when
  it returns a Recognition whose `.overridden` is empty. Precision and recall of that label
  against `expect.low_value` (the targets: precision >= 0.95, recall >= 0.8).
- scope: `meldpunt.scope.matching.report_verdict(content)` against `expect.scope`: accuracy.
- completeness: `meldpunt.reports.completeness.missing(content)` against `expect.missing`
  (as sets): accuracy.

Each misclassified report is listed by id with what the check said. A check whose module
is not importable (built by another part of the issue and not merged yet), or that raises,
is reported as "not available" (with the error), not scored, and does not stop the run.

(b) Speed. The checks as intake runs them, on the same content, in-process:

- checks: the available checks above, run one after the other on one report's content;
  wall time per report, every report of the dataset R rounds (after a warm-up round);
  p50/p95 (nearest rank) in ms, against the target of 5 ms per report.
- each check alone, likewise.
- submit_report: `meldpunt.reports.services.submit_report` of each report (the dataset's
  content, targets parsed as the form parses them, no attachment), R/5 rounds at least 2,
  alternating report by report between the receivers of `event_recorded` as installed
  (with the checks' receivers, those defined in meldpunt.scope and meldpunt.begbounty)
  and the same signal without those receivers; p50/p95 of both and the difference of the
  medians, in the same run. With no such receiver installed both columns time the same.

The Markdown summary goes to stdout; progress to stderr. Exit status 0 unless setup fails.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import shutil
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import triage  # noqa: E402  (bench/triage.py: one set-up and pg_admin for every benchmark)

pg_admin = triage.pg_admin

DATA = ROOT / "tests" / "data" / "triage_aids"
TARGET_MS = 5.0
CHECK_MODULES = ("meldpunt.scope", "meldpunt.begbounty")


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def load_dataset() -> list[dict[str, Any]]:
    rows = []
    for path in sorted(DATA.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


# --- the checks, each possibly not there yet -----------------------------------------


class Check:
    """One check: a function of a labelled row, or the reason it is not available."""

    def __init__(self, name: str, label: str, find: Callable[[], Callable[[dict[str, Any]], Any]]):
        self.name, self.label = name, label
        self.run: Callable[[dict[str, Any]], Any] | None = None
        self.unavailable = ""
        try:
            self.run = find()
        except Exception as exc:  # an ImportError, or a module without the function yet
            self.unavailable = f"{type(exc).__name__}: {exc}"


def _low_value() -> Callable[[dict[str, Any]], Any]:
    recognise = importlib.import_module("meldpunt.begbounty.rules").recognise

    def run(row: dict[str, Any]) -> bool:
        found = recognise(row["content"], row["language"])
        return found is not None and not found.overridden

    return run


def _scope() -> Callable[[dict[str, Any]], Any]:
    verdict = importlib.import_module("meldpunt.scope.matching").report_verdict
    return lambda row: verdict(row["content"])


def _missing() -> Callable[[dict[str, Any]], Any]:
    missing = importlib.import_module("meldpunt.reports.completeness").missing
    return lambda row: sorted(missing(row["content"]))


def make_checks() -> list[Check]:
    return [
        Check("low value", "low_value", _low_value),
        Check("scope", "scope", _scope),
        Check("completeness", "missing", _missing),
    ]


def load_scope() -> str:
    try:
        load_file = importlib.import_module("meldpunt.scope.importing").load_file
    except Exception as exc:
        return f"not loaded ({type(exc).__name__}: {exc})"
    try:
        return f"{load_file(DATA / 'scope.toml')} assets loaded from scope.toml"
    except Exception as exc:
        return f"not loaded ({type(exc).__name__}: {exc})"


# --- (a) quality -----------------------------------------------------------------------


def quality(rows: list[dict[str, Any]], checks: list[Check]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for check in checks:
        labelled = [r for r in rows if r["expect"].get(check.label) is not None]
        entry: dict[str, Any] = {"labelled": len(labelled), "unavailable": check.unavailable}
        results[check.name] = entry
        if check.run is None:
            continue
        wrong, said = [], {}
        try:
            for row in labelled:
                got = check.run(row)
                expected = row["expect"][check.label]
                if check.label == "missing":
                    expected = sorted(expected)
                said[row["id"]] = (got, expected)
                if got != expected:
                    wrong.append(f"{row['id']} (said {got!r}, labelled {expected!r})")
        except Exception as exc:
            entry["unavailable"] = f"raised {type(exc).__name__}: {exc}"
            continue
        entry["wrong"] = wrong
        entry["accuracy"] = (len(labelled) - len(wrong)) / len(labelled) if labelled else None
        if check.label == "low_value":
            tp = sum(1 for got, exp in said.values() if got and exp)
            fp = sum(1 for got, exp in said.values() if got and not exp)
            fn = sum(1 for got, exp in said.values() if not got and exp)
            entry["precision"] = tp / (tp + fp) if tp + fp else None
            entry["recall"] = tp / (tp + fn) if tp + fn else None
            entry["counts"] = {"tp": tp, "fp": fp, "fn": fn}
    return results


# --- (b) speed -------------------------------------------------------------------------


def time_checks(
    rows: list[dict[str, Any]], runs: list[Callable[[Any], Any]], rounds: int
) -> list[float]:
    for row in rows:  # warm-up: imports, rule loading, regex compilation, caches
        for run in runs:
            run(row)
    times = []
    for _ in range(rounds):
        for row in rows:
            t = time.perf_counter()
            for run in runs:
                run(row)
            times.append((time.perf_counter() - t) * 1000)
    return times


def _receiver_module(entry: tuple[Any, ...]) -> str:
    ref = entry[1]
    fn = ref() if isinstance(ref, weakref.ReferenceType) else ref
    return str(getattr(fn, "__module__", ""))


@contextlib.contextmanager
def without_check_receivers() -> Iterator[int]:
    """`event_recorded` without the receivers the checks' apps connected; restored after."""
    from meldpunt.reports.signals import event_recorded

    saved = list(event_recorded.receivers)
    kept = [e for e in saved if not _receiver_module(e).startswith(CHECK_MODULES)]
    with event_recorded.lock:
        event_recorded.receivers = kept
        event_recorded.sender_receivers_cache.clear()
    try:
        yield len(saved) - len(kept)
    finally:
        with event_recorded.lock:
            event_recorded.receivers = saved
            event_recorded.sender_receivers_cache.clear()


def new_report(row: dict[str, Any]) -> Any:
    from meldpunt.lib.targets import TargetError, find_targets, parse_target
    from meldpunt.policy.commitments import current_version
    from meldpunt.reports.services import NewReport

    content = row["content"]
    targets = []
    for line in content.get("affected_systems") or []:
        with contextlib.suppress(TargetError):
            targets.append(parse_target(line))
    if not targets:  # as mail intake finds them in the text
        targets = find_targets(f"{content.get('subject', '')}\n{content['description']}", 20)
    return NewReport(
        channel="web",
        language=row["language"],
        policy_version=current_version(),
        category=row["category"],
        out_of_scope=False,
        targets=targets,
        content=content,
        finder={"name": "", "email": "", "pgp_key": ""},
    )


def time_submit(rows: list[dict[str, Any]], rounds: int) -> dict[str, Any]:
    from meldpunt.reports.services import submit_report

    with without_check_receivers() as removed:
        pass
    with_checks: list[float] = []
    without: list[float] = []
    for row in rows[:4]:  # warm-up
        submit_report(new_report(row))
    for _ in range(rounds):
        for row in rows:
            new = new_report(row)
            t = time.perf_counter()
            submit_report(new)
            with_checks.append((time.perf_counter() - t) * 1000)
            new = new_report(row)
            with without_check_receivers():
                t = time.perf_counter()
                submit_report(new)
                without.append((time.perf_counter() - t) * 1000)
    return {"receivers": removed, "with": with_checks, "without": without}


# --- setup and report ------------------------------------------------------------------


def setup_django(db: str, data_dir: Path, pg_database: str) -> None:
    triage.setup_django(db, data_dir, pg_database, settings_module="meldpunt.settings")


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def summary(args: argparse.Namespace, rows: list[dict[str, Any]], result: dict[str, Any]) -> str:
    out = [
        f"## Triage aids ({args.db}, {len(rows)} labelled reports, scope: {result['scope']})",
        "",
    ]
    out += ["| check | labelled | result | misclassified |", "|---|---|---|---|"]
    for name, entry in result["quality"].items():
        if entry["unavailable"]:
            out.append(
                f"| {name} | {entry['labelled']} | not available: {entry['unavailable']} | |"
            )
            continue
        if "precision" in entry:
            c = entry["counts"]
            score = (
                f"precision {fmt(entry['precision'])}, recall {fmt(entry['recall'])} "
                f"(tp {c['tp']}, fp {c['fp']}, fn {c['fn']})"
            )
        else:
            score = f"accuracy {fmt(entry['accuracy'])}"
        out.append(f"| {name} | {entry['labelled']} | {score} | {'; '.join(entry['wrong'])} |")
    out += ["", "| timing (ms per report) | n | p50 | p95 | target |", "|---|---|---|---|---|"]
    for name, times in result["timings"].items():
        if isinstance(times, str):
            out.append(f"| {name} | | {times} | | |")
            continue
        target = f"< {TARGET_MS:g}" if name == "all available checks" else ""
        out.append(
            f"| {name} | {len(times)} | {pct(times, 50):.3f} | {pct(times, 95):.3f} | {target} |"
        )
    submit = result["submit"]
    for key, label in (
        ("with", "submit_report as installed"),
        ("without", "submit_report without the checks' receivers"),
    ):
        times = submit[key]
        out.append(f"| {label} | {len(times)} | {pct(times, 50):.3f} | {pct(times, 95):.3f} | |")
    diff = pct(submit["with"], 50) - pct(submit["without"], 50)
    out += [
        "",
        f"Receivers of `event_recorded` from {', '.join(CHECK_MODULES)}: {submit['receivers']}; "
        f"difference of the submit_report medians: {diff:+.3f} ms.",
    ]
    return "\n".join(out)


def run(args: argparse.Namespace) -> str:
    rows = load_dataset()
    data_dir = Path(tempfile.mkdtemp(prefix=f"meldpunt-aids-{args.db}-"))
    if args.db == "postgres":
        if args.pg_database.startswith("test"):
            raise SystemExit("refusing a database name starting with 'test'")
        pg_admin("dropdb", "--if-exists", args.pg_database)
        pg_admin("createdb", args.pg_database)
    try:
        setup_django(args.db, data_dir, args.pg_database)
        from django.core.management import call_command

        t = time.perf_counter()
        call_command("init", stdout=io.StringIO())
        say(f"[{args.db}] init: {time.perf_counter() - t:.1f} s")
        result: dict[str, Any] = {"scope": load_scope()}
        checks = make_checks()
        result["quality"] = quality(rows, checks)
        say(f"[{args.db}] quality scored")
        timings: dict[str, Any] = {}
        available = [
            c for c in checks if c.run is not None and not result["quality"][c.name]["unavailable"]
        ]
        timings["all available checks"] = (
            time_checks(rows, [c.run for c in available if c.run], args.rounds)
            if available
            else "no check available"
        )
        for check in checks:
            name = f"{check.name} alone"
            timings[name] = (
                time_checks(rows, [check.run], args.rounds)
                if check in available and check.run
                else "not available"
            )
        result["timings"] = timings
        say(f"[{args.db}] checks timed")
        result["submit"] = time_submit(rows, max(2, args.rounds // 5))
        say(f"[{args.db}] submit_report timed")
        return summary(args, rows, result)
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(data_dir, ignore_errors=True)
        if args.db == "postgres":
            pg_admin("dropdb", "--if-exists", args.pg_database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--pg-database", default="meldpunt_bench_aids")
    args = parser.parse_args()
    print(run(args))


if __name__ == "__main__":
    main()
