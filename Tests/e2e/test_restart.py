"""Data survives a restart; SIGTERM stops the private PostgreSQL cluster."""

from __future__ import annotations

import os
import time

from conftest import build_sample_trace, hex_span_id, make_tracer_provider, unique_name


def _postmaster_running_for(working_dir) -> list[int]:
    """PIDs of postgres postmasters whose data directory is inside working_dir."""
    data_dir = str(working_dir / "postgres" / "data")
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"postgres") and data_dir.encode() in argv:
            pids.append(int(pid))
    return pids


def test_restart_keeps_data_and_stops_postgres(cinder, client):
    project = unique_name("restart")
    sent = []
    for protocol in ("http", "grpc"):
        pipe = make_tracer_provider(cinder, project, protocol)
        build_sample_trace(pipe.tracer, session_id=unique_name("rs"), seed=f"-{protocol}")
        sent += pipe.finish()
    assert len(sent) == 6
    before = client.spans.get_spans(project_identifier=project, limit=100)
    assert len(before) == 6
    project_before = client.projects.get(project_name=project)
    sessions_before = client.sessions.list(project_name=project)
    assert len(sessions_before) == 2
    traces_before = client.traces.get_traces(project_identifier=project, include_spans=True)
    assert len(traces_before) == 2

    assert _postmaster_running_for(cinder.working_dir), "private PostgreSQL should be running"
    assert cinder.postmaster_pid_file.exists()

    status = cinder.stop()
    assert status == 0, f"cinder exited with {status} on SIGTERM"
    assert not cinder.postmaster_pid_file.exists(), "postmaster.pid still present after SIGTERM"
    deadline = time.monotonic() + 5
    while _postmaster_running_for(cinder.working_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _postmaster_running_for(cinder.working_dir) == [], "postgres still running after cinder exited"

    cinder.start()  # same working dir and ports

    after = client.spans.get_spans(project_identifier=project, limit=100)
    assert len(after) == 6
    assert sorted(s["context"]["span_id"] for s in after) == sorted(hex_span_id(s) for s in sent)
    assert sorted(after, key=lambda s: s["id"]) == sorted(before, key=lambda s: s["id"])
    assert client.projects.get(project_name=project) == project_before
    assert client.sessions.list(project_name=project) == sessions_before
    assert client.traces.get_traces(project_identifier=project, include_spans=True) == traces_before

    # Ingestion works after the restart, over both transports.
    for protocol in ("http", "grpc"):
        pipe = make_tracer_provider(cinder, project, protocol)
        with pipe.tracer.start_as_current_span(f"after-restart-{protocol}", attributes={"openinference.span.kind": "CHAIN"}):
            pass
        pipe.finish()
    after_ingest = client.spans.get_spans(project_identifier=project, limit=100)
    assert len(after_ingest) == 8
    # The counter restarts with the process: exactly the 2 spans written since.
    assert cinder.metric("cinder_spans_written_total") == 2

    # restart() once more (SIGTERM, wait, start with the same dir and ports): everything still there.
    cinder.restart()
    assert _postmaster_running_for(cinder.working_dir), "private PostgreSQL should run again after restart()"
    again = client.spans.get_spans(project_identifier=project, limit=100)
    assert sorted(s["context"]["span_id"] for s in again) == sorted(s["context"]["span_id"] for s in after_ingest)
