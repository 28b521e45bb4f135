#!/usr/bin/env bash
# Distributed ingestion benchmark: ../shared/bench/otlp_load.py (10,000 traces = 40,000 spans, 100
# traces per request, 4 senders) against release builds of cinder-collector → cinder-kafka-mock (the
# mock cluster in its own process) → cinder-writer → PostgreSQL (durable: fsync on), all on this
# machine. End to end = until the writers' cinder_spans_written_total reaches the span count.
# Reports spans/s and the collector's peak RSS.
# Usage: scripts/bench-distributed.sh [TRACES]   env: PARTITIONS (default 1), WRITERS (default 1),
#        OTLP_LOAD=path/to/otlp_load.py
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
traces=${1:-10000}
partitions=${PARTITIONS:-1}
writers=${WRITERS:-1}
load=${OTLP_LOAD:-$root/../shared/bench/otlp_load.py}
[ -f "$load" ] || { echo "workload script not found at $load (set OTLP_LOAD)" >&2; exit 1; }
"$root/scripts/setup.sh" --with-python
for product in cinder-collector cinder-writer cinder-kafka-mock; do swift build -c release --product "$product" >/dev/null; done
bin=$root/.build/release

work=$(mktemp -d /tmp/cinder-bench-dist.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$root/scripts/test-postgres.sh" stop "$work/pg"
  [ -n "${BENCH_KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
pg_port=${BENCH_PG_PORT:-55490}
url=$(PG_DURABLE=1 "$root/scripts/test-postgres.sh" start "$work/pg" "$pg_port")
psql "$url" -qc "CREATE DATABASE cinder"
db=${url%/*}/cinder

mkfifo "$work/mock.in"
sleep infinity >"$work/mock.in" & pids+=($!)
"$bin/cinder-kafka-mock" --topic "cinder.spans.v1:$partitions" --topic cinder.spans.v1.dlq:1 <"$work/mock.in" >"$work/mock.out" 2>"$work/mock.err" &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$work/mock.out" ] && break; sleep 0.1; done
brokers=$(head -1 "$work/mock.out")

http=${BENCH_PORT:-14318}
CINDER_KAFKA_BROKERS=$brokers CINDER_COLLECTOR_HTTP_PORT=$http PHOENIX_GRPC_PORT=$((http + 1)) \
  "$bin/cinder-collector" >"$work/collector.log" 2>&1 &
collector=$!
pids+=($collector)
admin_ports=()
for i in $(seq 1 "$writers"); do
  port=$((http + 10 + i))
  admin_ports+=($port)
  CINDER_KAFKA_BROKERS=$brokers PHOENIX_SQL_DATABASE_URL=$db CINDER_WRITER_ADMIN_PORT=$port \
    "$bin/cinder-writer" >"$work/writer-$i.log" 2>&1 &
  pids+=($!)
done
for port in "$http" "${admin_ports[@]}"; do
  for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.5; done
done
# Writers joined and own their partitions before the clock starts.
sleep 4

# CPU seconds (user + system) a process and its children used so far: /proc/PID/stat fields 14-17.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15 + $16 + $17) / hz}' "/proc/$1/stat"; }
postmaster=$(head -1 "$work/pg/data/postmaster.pid")
pg_cpu() { local total=0; for pid in $postmaster $(pgrep -P "$postmaster"); do total=$(echo "$total + $(cpu_s "$pid")" | bc); done; echo "$total"; }
mock_pid=${pids[1]}
before="$(cpu_s "$collector") $(pg_cpu) $(cpu_s "$mock_pid")"
writer_pids=("${pids[@]:3}")
writers_before=0; for pid in "${writer_pids[@]}"; do writers_before=$(echo "$writers_before + $(cpu_s "$pid")" | bc); done

count="for p in ${admin_ports[*]}; do curl -s http://127.0.0.1:\$p/metrics; done | awk '/^cinder_spans_written_total/ {s += \$2} END {print s + 0}'"
result=$("$root/.venv/bin/python" "$load" --url "http://127.0.0.1:$http/v1/traces" --traces "$traces" --count-cmd "$count") || { echo "load failed: $result" >&2; tail -5 "$work"/*.log >&2; exit 1; }
read -r collector0 pg0 mock0 <<<"$before"
writers_after=0; for pid in "${writer_pids[@]}"; do writers_after=$(echo "$writers_after + $(cpu_s "$pid")" | bc); done
echo "CPU seconds during the run: collector $(echo "$(cpu_s "$collector") - $collector0" | bc)," \
  "writers $(echo "$writers_after - $writers_before" | bc), PostgreSQL $(echo "$(pg_cpu) - $pg0" | bc)," \
  "mock broker $(echo "$(cpu_s "$mock_pid") - $mock0" | bc)"
hwm_kb=$(awk '/VmHWM/ {print $2}' /proc/$collector/status)
echo "$result"
echo "partitions=$partitions writers=$writers collector peak RSS: $((hwm_kb / 1024)) MB"
for port in "${admin_ports[@]}"; do
  curl -s "http://127.0.0.1:$port/metrics" | awk -v port="$port" '
    /^cinder_writer_batches_total/ {b = $2} /^cinder_writer_batch_duration_seconds_sum/ {d = $2}
    END {printf "writer :%s batches=%d mean batch write+commit=%.0f ms\n", port, b, b ? d * 1000 / b : 0}'
done
