"""Prometheus metrics count exactly what was ingested."""

from __future__ import annotations

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from conftest import build_sample_trace, encode_request, make_tracer_provider, unique_name


def test_metrics_endpoint(cinder):
    r = cinder.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "# TYPE cinder_spans_written_total counter" in r.text


def test_spans_written_counts_exactly(cinder, client):
    before = cinder.metric("cinder_spans_written_total")
    accepted_before = cinder.metric("cinder_receiver_spans_accepted_total")

    # 3 spans over OTLP/HTTP, 3 over gRPC, 1 raw protobuf POST = 7 new spans.
    project = unique_name("metrics")
    for protocol in ("http", "grpc"):
        pipe = make_tracer_provider(cinder, project, protocol)
        build_sample_trace(pipe.tracer, session_id=unique_name("ms"))
        assert len(pipe.finish()) == 3
    pipe = make_tracer_provider(None, project, None)
    with pipe.tracer.start_as_current_span("one-more", attributes={"openinference.span.kind": "CHAIN"}):
        pass
    r = requests.post(cinder.traces_url, data=encode_request(pipe.finish()),
                      headers={"Content-Type": "application/x-protobuf"}, timeout=30)
    assert r.status_code == 200

    assert len(client.spans.get_spans(project_identifier=project, limit=100)) == 7
    assert cinder.metric("cinder_spans_written_total") - before == 7
    assert cinder.metric("cinder_receiver_spans_accepted_total") - accepted_before == 7


def test_rejected_spans_are_counted_not_written(cinder):
    written_before = cinder.metric("cinder_spans_written_total")
    rejected_before = cinder.metric("cinder_receiver_spans_rejected_total")
    project = unique_name("metrics-rej")
    pipe = make_tracer_provider(None, project, None)
    for name in ("fine", "zero-trace-id"):
        with pipe.tracer.start_as_current_span(name, attributes={"openinference.span.kind": "CHAIN"}):
            pass
    req = ExportTraceServiceRequest()
    req.ParseFromString(encode_request(pipe.finish()))
    spans = req.resource_spans[0].scope_spans[0].spans
    next(s for s in spans if s.name == "zero-trace-id").trace_id = bytes(16)
    r = requests.post(cinder.traces_url, data=req.SerializeToString(),
                      headers={"Content-Type": "application/x-protobuf"}, timeout=30)
    assert r.status_code == 200
    resp = ExportTraceServiceResponse()
    resp.ParseFromString(r.content)
    assert resp.partial_success.rejected_spans == 1
    assert cinder.metric("cinder_spans_written_total") - written_before == 1
    assert cinder.metric("cinder_receiver_spans_rejected_total") - rejected_before == 1

    # A request rejected as a whole writes nothing.
    bad = requests.post(cinder.traces_url, data=b"\x0a\xff\xff", headers={"Content-Type": "application/x-protobuf"},
                        timeout=30)
    assert bad.status_code == 400
    assert cinder.metric("cinder_spans_written_total") - written_before == 1
