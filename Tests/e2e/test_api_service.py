"""`cinder-api`: the same REST API as `cinder serve`, without ingestion, over an existing database
(here the private cluster of the running `cinder serve`, reached through its unix socket)."""

import os
import subprocess
import time
from pathlib import Path

import requests
from phoenix.client import Client

from conftest import free_port, make_tracer_provider, unique_name

API_BIN = os.environ.get("CINDER_API_BIN", str(Path(__file__).resolve().parents[2] / ".build" / "debug" / "cinder-api"))


def test_cinder_api_reads_what_cinder_serve_stored(cinder):
    project = unique_name("api-svc")
    tp = make_tracer_provider(cinder, project)
    with tp.tracer.start_as_current_span("root", attributes={"openinference.span.kind": "CHAIN"}):
        with tp.tracer.start_as_current_span("child", attributes={"openinference.span.kind": "LLM"}):
            pass
    sent = tp.finish()
    assert len(sent) == 2

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "CINDER_"))}
    socket_dir = cinder.working_dir / "postgres" / "run"
    # The roles `cinder serve` set up in its cluster: it serves as `cinder`; `postgres` owns the schema.
    env["PHOENIX_SQL_DATABASE_URL"] = f"postgresql://cinder@/cinder?host={socket_dir}"
    env["CINDER_MIGRATION_DATABASE_URL"] = f"postgresql://postgres@/cinder?host={socket_dir}"
    env["PHOENIX_PORT"] = str(port)
    log = open(cinder.working_dir / "cinder-api.log", "ab")
    proc = subprocess.Popen([API_BIN], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, (cinder.working_dir / "cinder-api.log").read_text()
            time.sleep(0.2)
        client = Client(base_url=base)
        spans = client.spans.get_spans(project_identifier=project, limit=10)
        assert sorted(s["name"] for s in spans) == ["child", "root"]
        assert client.projects.get(project_name=project)["name"] == project
        # No OTLP ingestion on the API service.
        assert requests.post(base + "/v1/traces", data=b"", headers={"Content-Type": "application/x-protobuf"}).status_code == 404
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
