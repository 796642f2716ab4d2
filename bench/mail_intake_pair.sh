#!/bin/bash
# Old (a git archive of an earlier commit in /tmp/mail_old, with this tree's bench/mail_intake.py
# copied in) and this tree, interleaved, per database. Usage: bench/mail_intake_pair.sh
PY=${PY:-.venv/bin/python}; PY=$(realpath "$PY")
for pair in 1 2; do
  for tree in /tmp/mail_old $(cd "$(dirname "$0")/.." && pwd); do
    echo "=== sqlite $tree pair $pair $(cat /proc/loadavg)"
    (cd $tree && env -u DATABASE_URL PYTHONPATH=$tree $PY bench/mail_intake.py --db sqlite -n 100 --rounds 2 2>/dev/null | tail -3)
    echo "=== postgres $tree pair $pair $(cat /proc/loadavg)"
    (cd $tree && DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres MAIL_BENCH_PG_DATABASE=meldpunt_mail_bench PYTHONPATH=$tree $PY bench/mail_intake.py --db postgres -n 100 --rounds 2 2>/dev/null | tail -3)
  done
done
