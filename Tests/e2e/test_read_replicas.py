"""Read replicas: `cinder serve` over a primary and a real streaming replica (pg_basebackup -R) reads
from the replica, falls back to the primary when the replica stops, and returns to it when it is back."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import free_port, running_server, unique_name

ROOT = Path(__file__).resolve().parents[2]
PG = str(ROOT / "scripts" / "test-postgres.sh")
PSQL = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))[-1]


def reads(server, target: str) -> float:
    text = server.get("/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("cinder_database_reads_total{") and f'target="{target}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def healthy_replicas(server) -> float:
    for line in server.get("/metrics").text.splitlines():
        if line.startswith("cinder_database_replicas_healthy"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def replica_client_backends(url: str) -> int:
    out = subprocess.run(
        [PSQL, url, "-Atc", "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                              "AND pid <> pg_backend_pid()"],
        check=True, capture_output=True, text=True)
    return int(out.stdout.strip())


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def replicated():
    base = Path(tempfile.mkdtemp(prefix="cinder-replica-", dir="/tmp"))
    os.chmod(base, 0o755)
    primary_port, replica_port = free_port(), free_port()
    while replica_port == primary_port:
        replica_port = free_port()
    primary = subprocess.check_output([PG, "start", str(base / "primary"), str(primary_port)], text=True).strip()
    try:
        replica = subprocess.check_output(
            [PG, "replica", str(base / "replica"), str(replica_port), str(primary_port)], text=True).strip()
        env = {"PHOENIX_SQL_DATABASE_URL": primary, "CINDER_DATABASE_READ_URLS": replica, "CINDER_LOG_LEVEL": "info"}
        with running_server(env, prefix="cinder-replica-e2e-") as server:
            yield server, base, replica, replica_port
    finally:
        subprocess.run([PG, "stop", str(base / "replica")], check=False)
        subprocess.run([PG, "stop", str(base / "primary")], check=False)
        shutil.rmtree(base, ignore_errors=True)


def test_reads_go_to_the_replica_and_fall_back_when_it_stops(replicated):
    server, base, replica_url, replica_port = replicated
    wait_for(lambda: healthy_replicas(server) == 1, 20, "the replica to pass its health check")

    # A write on the primary becomes readable through the replica once replicated.
    name = unique_name("replicated")
    r = server.post("/v1/projects", json={"name": name})
    assert r.status_code == 200, r.text
    wait_for(lambda: server.get(f"/v1/projects/{name}").status_code == 200, 10, "the project on the replica")

    before_replica, before_primary = reads(server, "replica"), reads(server, "primary")
    for _ in range(20):
        assert server.get("/v1/projects", params={"limit": 5}).status_code == 200
    assert reads(server, "replica") - before_replica >= 20
    assert reads(server, "primary") == before_primary
    # The replica really serves them: Cinder's pool holds client connections there.
    assert replica_client_backends(replica_url) >= 1

    # Stop the replica: every read keeps succeeding (on the primary), within a bounded wait.
    subprocess.run([PG, "stop", str(base / "replica")], check=True)
    before_primary = reads(server, "primary")
    for _ in range(20):
        started = time.monotonic()
        r = server.get(f"/v1/projects/{name}")
        assert r.status_code == 200, r.text
        assert time.monotonic() - started < 8
    assert reads(server, "primary") - before_primary >= 20
    wait_for(lambda: healthy_replicas(server) == 0, 10, "the stopped replica to be skipped")

    # Back again: it is re-tried by the health checks and serves reads once more.
    subprocess.run([PG, "restart", str(base / "replica"), str(replica_port)], check=True)
    wait_for(lambda: healthy_replicas(server) == 1, 20, "the restarted replica to pass its health check")
    before_replica = reads(server, "replica")
    for _ in range(10):
        assert server.get("/v1/projects", params={"limit": 5}).status_code == 200
    assert reads(server, "replica") - before_replica >= 10


def test_writes_stay_on_the_primary(replicated):
    server, _, _, _ = replicated
    # Creating a dataset writes on the primary and answers from it: the upload's own ids come back even
    # before the replica has caught up.
    r = server.post("/v1/datasets/upload", params={"sync": "true"},
                    json={"name": unique_name("rw"), "inputs": [{"q": 1}]})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["num_created_examples"] == 1
