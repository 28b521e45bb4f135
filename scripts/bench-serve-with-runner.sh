# Sourced by the benchmarks of server-side work (bench-runner.sh, bench-evaluators.sh): builds the release
# binary and starts `cinder serve` with its private PostgreSQL and its in-process runner polling every
# 100 ms, in a fresh working directory ($work) on $port, as $pid; stops it and removes the directory on exit.
# Usage: . scripts/bench-serve-with-runner.sh NAME DEFAULT_PORT   (BENCH_PORT overrides the port)
"$root/scripts/setup.sh" --with-python
swift build -c release --product cinder >/dev/null

work=$(mktemp -d "/tmp/cinder-bench-$1.XXXXXX")
chmod 755 "$work"
port=${BENCH_PORT:-$2}
PHOENIX_WORKING_DIR=$work PHOENIX_PORT=$port PHOENIX_GRPC_PORT=$((port + 1)) CINDER_RUNNER_POLL_MS=100 \
  "$root/.build/release/cinder" serve >"$work/serve.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.5; done
