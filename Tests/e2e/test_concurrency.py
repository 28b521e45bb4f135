"""Concurrent exporters, traces assembled across requests, and back-pressure when the queue is full."""

from __future__ import annotations

import concurrent.futures as cf
import threading

import pytest
import requests
from opentelemetry import trace as otel_trace

from conftest import (
    encode_request,
    grpc_exporter,
    hex_span_id,
    hex_trace_id,
    iso_to_us,
    make_tracer_provider,
    project_span_count,
    running_server,
    unique_name,
)

PB = {"Content-Type": "application/x-protobuf"}


def test_concurrent_exporters(cinder, client):
    """8 threads (HTTP and gRPC) x 5 requests x 10 spans, all at once: every span stored exactly once."""
    from opentelemetry.sdk.trace.export import SpanExportResult

    project = unique_name("concurrent")
    written_before = cinder.metric("cinder_spans_written_total")
    expected: set[str] = set()
    lock = threading.Lock()

    def worker(w: int) -> None:
        grpc_exp = grpc_exporter(cinder) if w % 2 else None
        for req in range(5):
            pipe = make_tracer_provider(None, project, None)
            with pipe.tracer.start_as_current_span(f"w{w}-r{req}-root"):
                for i in range(9):
                    with pipe.tracer.start_as_current_span(f"w{w}-r{req}-c{i}"):
                        pass
            spans = pipe.finish()
            if grpc_exp is not None:
                assert grpc_exp.export(spans) == SpanExportResult.SUCCESS
            else:
                r = requests.post(cinder.traces_url, data=encode_request(spans), headers=PB, timeout=60)
                assert r.status_code == 200, r.text
            with lock:
                expected.update(hex_span_id(s) for s in spans)
        if grpc_exp is not None:
            grpc_exp.shutdown()

    with cf.ThreadPoolExecutor(8) as ex:
        for f in [ex.submit(worker, w) for w in range(8)]:
            f.result()

    assert len(expected) == 400
    got = client.spans.get_spans(project_identifier=project, limit=1000)
    assert len(got) == 400
    assert {s["context"]["span_id"] for s in got} == expected
    assert len(client.traces.get_traces(project_identifier=project, limit=1000)) == 40
    assert cinder.metric("cinder_spans_written_total") - written_before == 400


def test_trace_assembled_across_requests(cinder, client):
    """Children arrive before their root (as with SimpleSpanProcessor); the trace's bounds, session and
    token counts are right once everything is in."""
    project = unique_name("assembled")
    session = unique_name("sess")
    pipe = make_tracer_provider(None, project, None)
    t = pipe.tracer
    base = 1_700_000_000_000_000_000
    root = t.start_span("root", start_time=base, attributes={"openinference.span.kind": "AGENT", "session.id": session})
    ctx = otel_trace.set_span_in_context(root)
    llm = t.start_span("llm", context=ctx, start_time=base + 100_000_000,
                       attributes={"openinference.span.kind": "LLM", "llm.token_count.prompt": 8,
                                   "llm.token_count.completion": 2})
    llm.end(end_time=base + 200_000_000)
    late = t.start_span("late-tool", context=ctx, start_time=base + 300_000_000,
                        attributes={"openinference.span.kind": "TOOL"})
    late.end(end_time=base + 2_000_000_000)  # ends after the root
    root.end(end_time=base + 1_000_000_000)
    spans = {s.name: s for s in pipe.finish()}

    for name in ("llm", "root", "late-tool"):
        r = requests.post(cinder.traces_url, data=encode_request([spans[name]]), headers=PB, timeout=30)
        assert r.status_code == 200, r.text
        if name == "llm":
            (tr,) = client.traces.get_traces(project_identifier=project)
            assert iso_to_us(tr["start_time"]) == (base + 100_000_000) // 1000
            assert client.sessions.list(project_name=project) == []

    (tr,) = client.traces.get_traces(project_identifier=project, include_spans=True)
    assert tr["trace_id"] == hex_trace_id(spans["root"])
    assert iso_to_us(tr["start_time"]) == base // 1000
    assert iso_to_us(tr["end_time"]) == (base + 2_000_000_000) // 1000
    assert (tr["token_count_prompt"], tr["token_count_completion"], tr["token_count_total"]) == (8, 2, 10)
    assert [s["name"] for s in tr["spans"]] == ["root", "llm", "late-tool"]
    (sess,) = client.sessions.list(project_name=project)
    assert sess["session_id"] == session
    assert [x["trace_id"] for x in sess["traces"]] == [tr["trace_id"]]
    assert (sess["token_count_prompt"], sess["token_count_completion"]) == (8, 2)
    # Latency: (end - start) of the trace = 2000 ms.
    assert [t["trace_id"] for t in client.traces.get_traces(project_identifier=project, min_latency_ms=2000,
                                                            max_latency_ms=2000)] == [tr["trace_id"]]
    # The session covers its traces (Phoenix widens it on every span of an attached trace, also
    # spans that carry no session.id themselves).
    assert iso_to_us(sess["start_time"]) == base // 1000
    assert iso_to_us(sess["end_time"]) == (base + 2_000_000_000) // 1000


def test_span_joins_existing_trace_project(cinder, client):
    """A span whose trace already exists goes to that trace's project, whatever its own resource says."""
    first, second = unique_name("trace-owner"), unique_name("trace-other")
    pipe = make_tracer_provider(None, first, None)
    with pipe.tracer.start_as_current_span("root", attributes={"openinference.span.kind": "CHAIN"}):
        pass
    (root,) = pipe.finish()
    assert requests.post(cinder.traces_url, data=encode_request([root]), headers=PB, timeout=30).status_code == 200
    pipe2 = make_tracer_provider(None, second, None)
    child = pipe2.tracer.start_span("child", context=otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(root.context)))
    child.end()
    (child_span,) = pipe2.finish()
    assert requests.post(cinder.traces_url, data=encode_request([child_span]), headers=PB, timeout=30).status_code == 200
    got = client.spans.get_spans(project_identifier=first)
    assert {s["name"] for s in got} == {"root", "child"}
    assert project_span_count(cinder, second) in (None, 0)


# --------------------------------------------------------------------------------------------------
# Back-pressure
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_queue_server():
    with running_server({"PHOENIX_MAX_SPANS_QUEUE_SIZE": "4"}, prefix="cinder-e2e-queue-") as server:
        yield server


def test_queue_full_is_503_with_retry_after(small_queue_server):
    server = small_queue_server
    project = unique_name("queue")
    # A single request larger than the whole queue is accepted when the queue is empty (Phoenix checks
    # "is full" before decoding), so a big batch can never be rejected forever.
    pipe = make_tracer_provider(None, project, None)
    for i in range(50):
        with pipe.tracer.start_as_current_span(f"big-{i}"):
            pass
    r = requests.post(server.traces_url, data=encode_request(pipe.finish()), headers=PB, timeout=60)
    assert r.status_code == 200, (r.status_code, r.text)
    assert project_span_count(server, project) == 50

    # Flood: every request is either fully stored (200) or not at all (503 + Retry-After).
    flood = unique_name("flood")
    barrier = threading.Barrier(16)

    def send(i: int):
        spans, body = _flood_request(flood, f"f{i}")
        if i < 16:
            barrier.wait(30)
        r = requests.post(server.traces_url, data=body, headers=PB, timeout=60)
        return r, {hex_span_id(s) for s in spans}

    with cf.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(send, range(96)))
    statuses = {r.status_code for r, _ in results}
    assert statuses <= {200, 503}, statuses
    assert 503 in statuses, "a queue of 4 spans never filled under 16 concurrent writers"
    for r, _ in results:
        if r.status_code == 503:
            assert r.headers.get("Retry-After", "").strip().isdigit(), r.headers
    accepted = set().union(*(ids for r, ids in results if r.status_code == 200))
    got = {s["context"]["span_id"] for s in _all_spans(server, flood)}
    assert got == accepted
    rejected_requests = sum(1 for r, _ in results if r.status_code == 503)
    assert server.metric("cinder_queue_full_rejections_total") == rejected_requests


def _flood_request(project, prefix):
    """Five spans of one request (a trace of their own each), and the OTLP protobuf body carrying them."""
    pipe = make_tracer_provider(None, project, None)
    for j in range(5):
        with pipe.tracer.start_as_current_span(f"{prefix}-{j}"):
            pass
    spans = pipe.finish()
    return spans, encode_request(spans)


def _all_spans(server, project):
    out, cursor = [], None
    if server.get(f"/v1/projects/{project}").status_code == 404:
        return out
    while True:
        params = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        body = server.get(f"/v1/projects/{project}/spans", params=params).json()
        out += body["data"]
        cursor = body["next_cursor"]
        if not cursor:
            return out


def test_grpc_queue_full_is_resource_exhausted(small_queue_server):
    import grpc

    server = small_queue_server
    flood = unique_name("grpc-flood")
    barrier = threading.Barrier(16)
    method = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

    def send(i: int):
        spans, body = _flood_request(flood, f"g{i}")
        if i < 16:
            barrier.wait(30)
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
            try:
                call(body, timeout=60)
                return grpc.StatusCode.OK, {hex_span_id(s) for s in spans}
            except grpc.RpcError as e:
                return e.code(), {hex_span_id(s) for s in spans}

    with cf.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(send, range(96)))
    codes = {code for code, _ in results}
    assert codes <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes, "a queue of 4 spans never filled under 16 concurrent exporters"
    accepted = set().union(*(ids for code, ids in results if code == grpc.StatusCode.OK))
    got = {s["context"]["span_id"] for s in _all_spans(server, flood)}
    assert got == accepted
