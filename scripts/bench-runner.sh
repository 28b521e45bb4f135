#!/usr/bin/env bash
# Runner benchmark (see scripts/bench_runner.py): a release `cinder serve` with its private PostgreSQL and
# its in-process runner, the fake OpenAI server of the tests as the provider. Prints one JSON line per
# figure, then the physical reference measured on the same database: a raw COPY of the span and trace rows
# the runs stored (../shared/bench/copy_limit.sh).
# Usage: scripts/bench-runner.sh [EXAMPLES]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. "$root/scripts/bench-serve-with-runner.sh" runner 16616

"$root/.venv/bin/python" "$root/scripts/bench_runner.py" --url "http://127.0.0.1:$port" --pid "$pid" --examples "${1:-3000}"
echo "copy limit (spans and traces the runs stored): $("$root/../shared/bench/copy_limit.sh" -h "$work/postgres/run" -U postgres -d cinder)"
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
echo "cinder serve peak RSS: $((rss_kb / 1024)) MB"
