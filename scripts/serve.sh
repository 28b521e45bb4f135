#!/usr/bin/env bash
# Builds and runs `cinder serve` (all-in-one) on this machine, installing PostgreSQL first if missing.
# Extra arguments go to `cinder serve` (e.g. --port 6006 --database-url postgresql://...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
cd "$root"
swift build -c release --product cinder
exec "$root/.build/release/cinder" serve "$@"
