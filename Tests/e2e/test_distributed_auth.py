"""Auth on in the distributed deployment: `cinder-collector` verifies API keys against the database
(through its credential cache) and stamps the key's organization on every span batch; `cinder-writer`
stores them under that organization; `cinder-api` reads them back with the same key."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import grpc
import pytest
import requests

from conftest import ADMIN_SECRET, AUTH_SECRET, build_sample_trace, free_port, make_tracer_provider, unique_name
from test_distributed import ACK_TIMEOUT_MS, BIN_DIR, DLQ, PARTITIONS, TOPIC, Postgres, Process, _clean_env
from tenancy import Caller, create_key, row_id, unique_email

CACHE_SECONDS = 2
AUTH_ENV = {
    "PHOENIX_ENABLE_AUTH": "true", "PHOENIX_SECRET": AUTH_SECRET, "PHOENIX_ADMIN_SECRET": ADMIN_SECRET,
    "CINDER_CREDENTIAL_CACHE_SECONDS": str(CACHE_SECONDS), "CINDER_PASSWORD_HASH_COST": "10",
}


class Endpoint:
    """Stands in for the server conftest's helpers address (`traces_url`, `grpc_endpoint`, `base_url`)."""

    def __init__(self, base_url: str, traces_url: str = "", grpc_endpoint: str = ""):
        self.base_url, self.traces_url, self.grpc_endpoint = base_url, traces_url, grpc_endpoint


@pytest.fixture(scope="module")
def deployment():
    work = Path(tempfile.mkdtemp(prefix="cinder-dist-auth-", dir="/tmp"))
    os.chmod(work, 0o755)
    pg = Postgres(work)
    processes: list[Process] = []
    mock = None
    try:
        owner, service = pg.start_for_cinder()
        mock = subprocess.Popen(
            [str(BIN_DIR / "cinder-kafka-mock"), "--topic", f"{TOPIC}:{PARTITIONS}", "--topic", f"{DLQ}:1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        brokers = mock.stdout.readline().strip()
        database = {"PHOENIX_SQL_DATABASE_URL": service, "CINDER_MIGRATION_DATABASE_URL": owner}
        api_port = free_port()
        api = Process("cinder-api", [str(BIN_DIR / "cinder-api")],
                      _clean_env() | AUTH_ENV | database | {"PHOENIX_PORT": str(api_port), "PHOENIX_HOST": "127.0.0.1"},
                      work, f"http://127.0.0.1:{api_port}/readyz").start()
        processes.append(api)
        writer_port = free_port()
        processes.append(Process("cinder-writer", [str(BIN_DIR / "cinder-writer")], _clean_env() | database | {
            "CINDER_KAFKA_BROKERS": brokers, "CINDER_WRITER_ADMIN_PORT": str(writer_port), "PHOENIX_HOST": "127.0.0.1",
            "CINDER_WRITER_BATCH_MS": "50"}, work, f"http://127.0.0.1:{writer_port}/readyz").start())
        http_port, grpc_port = free_port(), free_port()
        # The collector reads keys only: the service role's URL, no migrations.
        processes.append(Process("cinder-collector", [str(BIN_DIR / "cinder-collector")], _clean_env() | AUTH_ENV | {
            "PHOENIX_SQL_DATABASE_URL": service, "CINDER_KAFKA_BROKERS": brokers, "CINDER_COLLECTOR_HTTP_PORT": str(http_port),
            "PHOENIX_GRPC_PORT": str(grpc_port), "PHOENIX_HOST": "127.0.0.1", "CINDER_COLLECTOR_ACK_TIMEOUT_MS": str(ACK_TIMEOUT_MS)},
            work, f"http://127.0.0.1:{http_port}/readyz").start())
        collector = Endpoint(f"http://127.0.0.1:{http_port}", f"http://127.0.0.1:{http_port}/v1/traces", f"127.0.0.1:{grpc_port}")
        yield Endpoint(f"http://127.0.0.1:{api_port}"), collector, pg
    finally:
        for p in processes:
            if p.running():
                try:
                    p.terminate(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        if mock is not None:
            mock.terminate()
            mock.wait(10)
        pg.stop()
        if not os.environ.get("CINDER_E2E_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


def stored(api: Caller, project: str, expected: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while True:
        r = api.get(f"/v1/projects/{project}/spans", params={"limit": 1000})
        count = len(r.json()["data"]) if r.status_code == 200 else 0
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.2)


def test_collector_verifies_keys_and_stamps_their_organization(deployment):
    api_endpoint, collector, pg = deployment
    secret = Caller(api_endpoint, "admin-secret", token=ADMIN_SECRET)
    password = "pw-distributed"
    admin_email = unique_email("dist-admin")
    org = secret.ok("post", "/v1/organizations", 201, json={"name": unique_name("dist"), "admin": {"email": admin_email, "password": password}})["data"]
    admin = Caller(api_endpoint, "admin")
    assert admin.session.post(api_endpoint.base_url + "/auth/login", json={"email": admin_email, "password": password}, timeout=30).status_code == 204
    key = create_key(admin, "system")
    reader = Caller(api_endpoint, "reader", token=key)

    project = unique_name("dist-auth")
    for protocol in ["http", "grpc"]:
        pipeline = make_tracer_provider(collector, project, protocol, headers={"authorization": f"Bearer {key}"})
        build_sample_trace(pipeline.tracer, session_id=unique_name("s"), seed=protocol)
        pipeline.finish()
    assert stored(reader, project, 6) == 6
    # Stored under the key's organization, nowhere else.
    org_ids = pg.query(f"SELECT DISTINCT s.org_id FROM spans s JOIN projects p ON p.id = s.project_id WHERE p.name = '{project}'")
    assert org_ids == [str(row_id(org["id"]))]
    assert secret.get(f"/v1/projects/{project}").status_code == 404  # the default organization has no such project

    # No key, a bad one, a viewer's.
    assert requests.post(collector.traces_url, data=b"", headers={"Content-Type": "application/x-protobuf"}, timeout=30).status_code == 401
    assert requests.post(collector.traces_url, data=b"", timeout=30,
                         headers={"Content-Type": "application/x-protobuf", "Authorization": "Bearer nope"}).status_code == 401
    viewer_email = unique_email("dist-viewer")
    admin.ok("post", "/v1/users", 201, json={"user": {"email": viewer_email, "username": "v", "role": "VIEWER",
                                                      "auth_method": "LOCAL", "password": password}})
    viewer = Caller(api_endpoint, "viewer")
    assert viewer.session.post(api_endpoint.base_url + "/auth/login", json={"email": viewer_email, "password": password}, timeout=30).status_code == 204
    viewer_key = create_key(viewer, "user")
    r = requests.post(collector.traces_url, data=b"", timeout=30,
                      headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {viewer_key}"})
    assert (r.status_code, r.text) == (403, "Viewers cannot perform this action.")

    # A revoked key stops working at the collector within the credential cache's lifetime.
    keys = admin.ok("get", "/v1/system/api_keys")["data"]
    admin.ok("delete", f"/v1/system/api_keys/{keys[0]['id']}", 204)
    deadline = time.monotonic() + CACHE_SECONDS + 3
    while True:
        r = requests.post(collector.traces_url, data=b"", timeout=30,
                          headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"})
        if r.status_code == 401:
            break
        assert time.monotonic() < deadline, f"revoked key still accepted: {r.status_code}"
        time.sleep(0.2)
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    channel = grpc.insecure_channel(collector.grpc_endpoint)
    with pytest.raises(grpc.RpcError) as raised:
        trace_service_pb2_grpc.TraceServiceStub(channel).Export(
            trace_service_pb2.ExportTraceServiceRequest(), metadata=[("authorization", f"Bearer {key}")], timeout=30)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    channel.close()
    # The collector counts itself among the receivers that share the quotas.
    assert pg.query("SELECT count(*) FROM ingestion_receivers WHERE name = 'cinder-collector'") == ["1"]
