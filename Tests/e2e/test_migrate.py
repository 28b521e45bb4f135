"""Migrations as their own step, as a Kubernetes Job runs them: `cinder migrate` applies them as the
schema's owner and grants the service role; a service started with CINDER_MIGRATE_ON_START=false waits
for the schema it was built for, gives up with a message when it does not come, and refuses a newer one.
Each test uses a fresh database in the private cluster of the running `cinder serve`."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import free_port, unique_name

BUILD = Path(__file__).resolve().parents[2] / ".build" / "debug"
API_BIN = os.environ.get("CINDER_API_BIN", str(BUILD / "cinder-api"))
PSQL = "/usr/lib/postgresql/15/bin/psql"


@pytest.fixture
def database(cinder):
    """A new, empty database; yields URLs for (owner `postgres`, service role `cinder`) and a psql runner."""
    socket_dir = cinder.working_dir / "postgres" / "run"
    name = unique_name("mig").replace("-", "_")

    def psql(sql: str, db: str = "postgres") -> str:
        out = subprocess.run([PSQL, "-h", str(socket_dir), "-U", "postgres", "-d", db, "-At", "-c", sql],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    psql(f"CREATE DATABASE {name}")
    yield {
        "owner": f"postgresql://postgres@/{name}?host={socket_dir}",
        "service": f"postgresql://cinder@/{name}?host={socket_dir}",
        "psql": lambda sql: psql(sql, name),
    }
    psql(f"DROP DATABASE {name} WITH (FORCE)")


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "CINDER_"))}
    env.update(values)
    return env


def migrate(cinder, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(cinder.binary), "migrate"], env=clean_env(**env), capture_output=True, text=True, timeout=120)


def start_api(log: Path, **env: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([API_BIN], env=clean_env(PHOENIX_PORT=str(port), CINDER_MIGRATE_ON_START="false", **env),
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(proc: subprocess.Popen, base: str, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        assert proc.poll() is None, log.read_text()
        time.sleep(0.2)
    raise AssertionError(f"not ready: {log.read_text()}")


def test_a_service_waits_for_the_migration_step_then_serves(cinder, database, tmp_path):
    log = tmp_path / "api.log"
    proc, base = start_api(log, PHOENIX_SQL_DATABASE_URL=database["service"], CINDER_SCHEMA_WAIT_SECONDS="120")
    try:
        deadline = time.monotonic() + 30
        while "waiting for migrations" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        with pytest.raises(requests.ConnectionError):
            requests.get(base + "/readyz", timeout=2)  # not serving a schema it cannot use
        assert database["psql"]("SELECT to_regclass('spans') IS NULL") == "t"  # and it did not migrate

        done = migrate(cinder, CINDER_MIGRATION_DATABASE_URL=database["owner"], PHOENIX_SQL_DATABASE_URL=database["service"])
        assert done.returncode == 0, done.stderr + done.stdout
        assert "database schema is current" in done.stdout + done.stderr
        wait_ready(proc, base, log)
        assert requests.get(base + "/v1/projects", timeout=10).status_code == 200
        # The service role was granted row access and owns nothing.
        assert database["psql"]("SELECT tableowner FROM pg_tables WHERE tablename = 'spans'") == "postgres"
        assert database["psql"]("SELECT has_table_privilege('cinder', 'spans', 'INSERT')") == "t"
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0, log.read_text()
    again = migrate(cinder, CINDER_MIGRATION_DATABASE_URL=database["owner"], PHOENIX_SQL_DATABASE_URL=database["service"])
    assert again.returncode == 0, again.stderr  # nothing pending: still fine


def test_a_service_gives_up_when_the_schema_does_not_come(database, tmp_path):
    log = tmp_path / "api.log"
    proc, _ = start_api(log, PHOENIX_SQL_DATABASE_URL=database["service"], CINDER_SCHEMA_WAIT_SECONDS="1")
    assert proc.wait(timeout=60) != 0
    text = log.read_text()
    assert "this build needs" in text and "cinder migrate" in text and "CINDER_SCHEMA_WAIT_SECONDS=1" in text, text


def test_a_service_refuses_a_newer_schema_at_once(cinder, database, tmp_path):
    done = migrate(cinder, CINDER_MIGRATION_DATABASE_URL=database["owner"], PHOENIX_SQL_DATABASE_URL=database["service"])
    assert done.returncode == 0, done.stderr
    database["psql"]("INSERT INTO cinder_schema_migrations (version, name) VALUES (999, 'from a newer Cinder')")
    log = tmp_path / "api.log"
    started = time.monotonic()
    proc, _ = start_api(log, PHOENIX_SQL_DATABASE_URL=database["service"], CINDER_SCHEMA_WAIT_SECONDS="120")
    assert proc.wait(timeout=60) != 0
    assert time.monotonic() - started < 30  # no waiting for a schema that will not get older
    assert "version 999" in log.read_text() and "upgrade Cinder" in log.read_text(), log.read_text()
    refused = migrate(cinder, CINDER_MIGRATION_DATABASE_URL=database["owner"])
    assert refused.returncode != 0 and "upgrade Cinder" in refused.stderr + refused.stdout


def test_migrate_needs_a_database_url(cinder):
    out = migrate(cinder)
    assert out.returncode != 0
    assert "CINDER_MIGRATION_DATABASE_URL" in out.stderr + out.stdout
