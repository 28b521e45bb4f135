#!/usr/bin/env bash
# Evaluator benchmark (see scripts/bench_evaluators.py): a release `cinder serve` with its private PostgreSQL
# and its in-process runner, the fake OpenAI server of the tests as the provider. Prints one JSON line per
# figure, then the physical reference measured on the same database: a raw COPY of the span and trace rows
# the runs and evaluations stored (../shared/bench/copy_limit.sh).
# Usage: scripts/bench-evaluators.sh [EXAMPLES]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. "$root/scripts/bench-serve-with-runner.sh" evaluators 16626

"$root/.venv/bin/python" "$root/scripts/bench_evaluators.py" --url "http://127.0.0.1:$port" --pid "$pid" --socket-dir "$work/postgres/run" \
  --examples "${1:-400}"
echo "copy limit (spans and traces the runs and evaluations stored): $("$root/../shared/bench/copy_limit.sh" -h "$work/postgres/run" -U postgres -d cinder)"
