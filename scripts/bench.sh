#!/usr/bin/env bash
# Reference ingestion benchmark: ../shared/bench/otlp_load.py (10,000 traces = 40,000 spans, 100 traces
# per request, 4 senders) against a release build of `cinder serve` with its private PostgreSQL.
# Reports end-to-end spans/s (until every span is counted in the database), the server's CPU per span
# and its RSS after; with BENCH_COPY_LIMIT=1 also the same-run reference (a raw COPY of the stored rows).
# Usage: scripts/bench.sh [TRACES]   (OTLP_LOAD=path/to/otlp_load.py to use another copy of the workload)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
traces=${1:-10000}
load=${OTLP_LOAD:-$root/../shared/bench/otlp_load.py}
[ -f "$load" ] || { echo "workload script not found at $load (set OTLP_LOAD)" >&2; exit 1; }
"$root/scripts/setup.sh" --with-python
swift build -c release --product cinder >/dev/null

work=$(mktemp -d /tmp/cinder-bench.XXXXXX)
chmod 755 "$work"
port=${BENCH_PORT:-16606}
grpc=${BENCH_GRPC_PORT:-14617}
PHOENIX_WORKING_DIR=$work PHOENIX_PORT=$port PHOENIX_GRPC_PORT=$grpc "$root/.build/release/cinder" serve >"$work/serve.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.5; done

socket=$work/postgres/run
count="psql -h $socket -U postgres -d cinder -tAc \"select count(*) from spans s join projects p on p.id = s.project_id where p.name = '{project}'\""
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ split($0, a, ") "); split(a[2], f, " "); printf "%.2f", (f[12] + f[13]) / hz }' "/proc/$1/stat"; }
cpu_before=$(cpu_seconds "$pid")
result=$("$root/.venv/bin/python" "$load" --url "http://127.0.0.1:$port/v1/traces" --traces "$traces" --count-cmd "$count")
cpu_after=$(cpu_seconds "$pid")
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
hwm_kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
echo "$result"
spans=$(psql -h "$socket" -U postgres -d cinder -tAc "select count(*) from spans")
echo "cinder serve CPU: $(python3 -c "print(f'{($cpu_after - $cpu_before) / $spans * 1e6:.1f}')") µs per span ($spans spans)"
echo "cinder serve RSS after run: $((rss_kb / 1024)) MB (peak $((hwm_kb / 1024)) MB)"
if [ -n "${BENCH_COPY_LIMIT:-}" ]; then
  echo "copy limit: $("$root/../shared/bench/copy_limit.sh" -h "$socket" -U postgres -d cinder)"
fi
