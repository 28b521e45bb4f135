#!/usr/bin/env bash
# Evaluator benchmark (see scripts/bench_evaluators.py): a release `cinder serve` with its private PostgreSQL
# and its in-process runner, the fake OpenAI server of the tests as the provider. Prints one JSON line per
# figure, then the physical reference measured on the same database: a raw COPY of the span and trace rows
# the runs and evaluations stored (../shared/bench/copy_limit.sh).
# Usage: scripts/bench-evaluators.sh [EXAMPLES]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh" --with-python
swift build -c release --product cinder >/dev/null

work=$(mktemp -d /tmp/cinder-bench-evaluators.XXXXXX)
chmod 755 "$work"
port=${BENCH_PORT:-16626}
PHOENIX_WORKING_DIR=$work PHOENIX_PORT=$port PHOENIX_GRPC_PORT=$((port + 1)) CINDER_RUNNER_POLL_MS=100 \
  "$root/.build/release/cinder" serve >"$work/serve.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.5; done

"$root/.venv/bin/python" "$root/scripts/bench_evaluators.py" --url "http://127.0.0.1:$port" --pid "$pid" --socket-dir "$work/postgres/run" \
  --examples "${1:-400}"
echo "copy limit (spans and traces the runs and evaluations stored): $("$root/../shared/bench/copy_limit.sh" -h "$work/postgres/run" -U postgres -d cinder)"
