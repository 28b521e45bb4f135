#!/usr/bin/env bash
# Ingestion with auth on (API key + row-level security) against auth off, alternating in one run, with
# the raw COPY rate of the stored rows as reference: see scripts/bench_auth.py.
# Usage: scripts/bench-auth.sh [ROUNDS] [TRACES]   (defaults 5 and 10000; CINDER_BIN to skip the build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh" --with-python
bin=${CINDER_BIN:-}
if [ -z "$bin" ]; then
  swift build -c release --product cinder >/dev/null
  bin=$root/.build/release/cinder
fi
exec "$root/.venv/bin/python" "$root/scripts/bench_auth.py" --rounds "${1:-5}" --traces "${2:-10000}" --binary "$bin"
