#!/usr/bin/env bash
# Runs every test: Swift unit and database tests (against a PostgreSQL this script starts), then the
# end-to-end tests in which the real OpenTelemetry SDK and arize-phoenix-client talk to `cinder serve`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh" --with-python

work=$(mktemp -d /tmp/cinder-test.XXXXXX)
chmod 755 "$work"
pg_port=${CINDER_TEST_PG_PORT:-55432}
cleanup() { "$root/scripts/test-postgres.sh" stop "$work/pg"; rm -rf "$work"; }
trap cleanup EXIT
export CINDER_TEST_DATABASE_URL=$("$root/scripts/test-postgres.sh" start "$work/pg" "$pg_port")

echo "== swift test"
swift build --build-tests
swift test --skip-build 2>&1 | tee "$work/swift-test.log"

echo "== end-to-end (pytest)"
swift build
export CINDER_BIN="$root/.build/debug/cinder"
"$root/.venv/bin/python" -m pytest -q "$root/Tests/e2e" "$root/Tests/deploy" -p no:cacheprovider
