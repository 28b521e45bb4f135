#!/usr/bin/env bash
# Installs what Cinder needs on a fresh Debian machine: PostgreSQL server binaries and the tools the
# tests use, plus a Python virtual environment with the real OpenTelemetry and Phoenix clients.
# Idempotent: skips what is already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

need_apt=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v psql >/dev/null || need_apt+=(postgresql-client)
command -v runuser >/dev/null || need_apt+=(util-linux)
python3 -c 'import venv' 2>/dev/null || need_apt+=(python3-venv)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
[ -f /usr/include/librdkafka/rdkafka_mock.h ] || need_apt+=(librdkafka-dev)
# The UI tests drive Debian's Chromium (Playwright never downloads a browser here).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# The sandbox of code evaluators: bubblewrap, and the Python the evaluators are written in.
[ -x /usr/bin/bwrap ] || need_apt+=(bubblewrap)
/usr/bin/python3 -c "import resource" 2>/dev/null || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ "${1:-}" = "--with-python" ]; then
  venv=$root/.venv
  if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
  if ! "$venv/bin/python" -c 'import phoenix.client, phoenix.otel, opentelemetry.exporter.otlp.proto.grpc, pandas, pytest, playwright.sync_api, helm_python, kubernetes_validate, yaml' 2>/dev/null || [ ! -x "$venv/bin/hadolint" ]; then
    echo "setup: installing Python test clients into $venv"
    "$venv/bin/pip" install -q -r "$root/Tests/e2e/requirements.txt"
  fi
fi
