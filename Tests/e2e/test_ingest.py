"""OTLP ingestion through every transport, read back field by field with arize-phoenix-client."""

from __future__ import annotations

import base64
import gzip
import json
import zlib

import pytest
import requests
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from conftest import (
    PROJECT_ATTR,
    assert_rest_span_matches,
    build_sample_trace,
    encode_request,
    hex_span_id,
    hex_trace_id,
    make_tracer_provider,
    project_span_count,
    sdk_by_name,
    spans_by_name,
    unique_name,
)


def otlp_json_body(spans, integer_enums: bool = False) -> dict:
    """OTLP/JSON as the spec defines it: lowerCamelCase keys, HEX trace/span ids (not base64),
    64-bit integers as strings, enums as names (or numbers)."""
    body = MessageToDict(encode_spans(spans), use_integers_for_enums=integer_enums)

    def b64_to_hex(v: str) -> str:
        return base64.b64decode(v).hex()

    for rs in body["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = b64_to_hex(span[key])
                for link in span.get("links", []):
                    link["traceId"] = b64_to_hex(link["traceId"])
                    link["spanId"] = b64_to_hex(link["spanId"])
    return body


def _assert_protobuf_ok(r: requests.Response) -> None:
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/x-protobuf"), r.headers
    resp = ExportTraceServiceResponse()
    resp.ParseFromString(r.content)
    assert resp.partial_success.rejected_spans == 0, resp
    assert resp.partial_success.error_message == "", resp


def _assert_json_ok(r: requests.Response) -> None:
    assert r.status_code == 200, (r.status_code, r.text)
    # OTLP/HTTP: the response uses the request's content type.
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body, dict), body
    ps = body.get("partialSuccess") or {}
    assert int(ps.get("rejectedSpans", 0)) == 0, body


def send(cinder, transport: str, project: str):
    """Creates the sample trace and delivers it over `transport`; returns the SDK's spans."""
    if transport.startswith("sdk-"):
        kw = {}
        if transport == "sdk-http-gzip":
            from opentelemetry.exporter.otlp.proto.http import Compression

            kw["compression"] = Compression.Gzip
        elif transport == "sdk-http-deflate":
            from opentelemetry.exporter.otlp.proto.http import Compression

            kw["compression"] = Compression.Deflate
        elif transport == "sdk-grpc-gzip":
            import grpc

            kw["compression"] = grpc.Compression.Gzip
        pipe = make_tracer_provider(cinder, project, "grpc" if transport.startswith("sdk-grpc") else "http", **kw)
        build_sample_trace(pipe.tracer)
        return pipe.finish()

    pipe = make_tracer_provider(None, project, None)
    build_sample_trace(pipe.tracer)
    spans = pipe.finish()
    if transport == "json":
        r = requests.post(cinder.traces_url, data=json.dumps(otlp_json_body(spans)),
                          headers={"Content-Type": "application/json"}, timeout=30)
        _assert_json_ok(r)
    elif transport == "json-int-enums-gzip":
        raw = json.dumps(otlp_json_body(spans, integer_enums=True)).encode()
        r = requests.post(cinder.traces_url, data=gzip.compress(raw),
                          headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}, timeout=30)
        _assert_json_ok(r)
    elif transport == "protobuf-gzip":
        r = requests.post(cinder.traces_url, data=gzip.compress(encode_request(spans)),
                          headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, timeout=30)
        _assert_protobuf_ok(r)
    elif transport == "protobuf-deflate":
        r = requests.post(cinder.traces_url, data=zlib.compress(encode_request(spans)),
                          headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "deflate"}, timeout=30)
        _assert_protobuf_ok(r)
    elif transport == "protobuf-raw":
        r = requests.post(cinder.traces_url, data=encode_request(spans),
                          headers={"Content-Type": "application/x-protobuf"}, timeout=30)
        _assert_protobuf_ok(r)
    else:  # pragma: no cover
        raise ValueError(transport)
    return spans


TRANSPORTS = ["sdk-http", "sdk-grpc", "sdk-http-gzip", "sdk-http-deflate", "sdk-grpc-gzip", "json", "json-int-enums-gzip", "protobuf-gzip", "protobuf-deflate", "protobuf-raw"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_field_round_trips(cinder, client, transport):
    project = unique_name(f"ingest-{transport}")
    sdk_spans = send(cinder, transport, project)
    assert len(sdk_spans) == 3
    sdk = sdk_by_name(sdk_spans)

    got = client.spans.get_spans(project_identifier=project, limit=100)
    assert len(got) == 3, got
    rest = spans_by_name(got)
    assert set(rest) == {"agent-run", "llm-call", "weather-tool"}

    for name, sdk_span in sdk.items():
        assert_rest_span_matches(rest[name], sdk_span)

    # Spot checks with literal values (independent of the generic comparison above).
    root, llm, tool = rest["agent-run"], rest["llm-call"], rest["weather-tool"]
    trace_id = hex_trace_id(sdk["agent-run"])
    assert len(trace_id) == 32 and trace_id != "0" * 32
    assert {s["context"]["trace_id"] for s in got} == {trace_id}
    assert root["parent_id"] is None
    assert llm["parent_id"] == hex_span_id(sdk["agent-run"])
    assert tool["parent_id"] == hex_span_id(sdk["agent-run"])
    assert (root["span_kind"], llm["span_kind"], tool["span_kind"]) == ("CHAIN", "LLM", "TOOL")
    assert (root["status_code"], llm["status_code"], tool["status_code"]) == ("OK", "UNSET", "ERROR")
    assert tool["status_message"] == "tool failed: unavailable"

    assert root["attributes"] == {
        "input.value": "What is the weather in Paris?",
        "input.mime_type": "text/plain",
        "output.value": "It is sunny.",
        "session.id": "session-1",
        "user.id": "user-42",
        "metadata.user": "alice",
        "metadata.tier": 2,
        "metadata.nested.deep": True,
        "tag.tags": ["alpha", "beta", "gamma"],
        "retry.enabled": True,
        "temperature.ratio": 0.25,
    }
    assert "openinference.span.kind" not in root["attributes"]
    assert llm["attributes"]["llm.model_name"] == "gpt-4o-mini"
    assert llm["attributes"]["llm.token_count.prompt"] == 12
    assert type(llm["attributes"]["llm.token_count.prompt"]) is int
    assert llm["attributes"]["llm.token_count.completion"] == 7
    assert type(llm["attributes"]["llm.token_count.completion"]) is int
    assert type(root["attributes"]["metadata.tier"]) is int
    assert type(root["attributes"]["retry.enabled"]) is bool
    assert tool["attributes"] == {"tool.name": "get_weather", "tool.attempts": 3}

    assert llm["events"] == []
    assert [e["name"] for e in root["events"]] == ["retrieval-started", "checkpoint"]
    assert root["events"][0]["attributes"] == {"doc.count": 3, "doc.source": "web"}
    assert root["events"][1]["attributes"] == {}
    assert len(tool["events"]) == 1
    event = tool["events"][0]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "RuntimeError"
    assert event["attributes"]["exception.message"] == "weather service unavailable"
    assert "RuntimeError: weather service unavailable" in event["attributes"]["exception.stacktrace"]
    assert event["attributes"]["exception.escaped"] == "False"

    # Nothing leaked into other projects: exactly the 3 spans here.
    assert project_span_count(cinder, project) == 3


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_phoenix_otel_register(cinder, client, protocol):
    from phoenix.otel import register

    project = unique_name("register-" + protocol.replace("/", "-"))
    endpoint = (f"http://127.0.0.1:{cinder.grpc_port}" if protocol == "grpc" else cinder.traces_url)
    tp = register(project_name=project, endpoint=endpoint, protocol=protocol, batch=False,
                  set_global_tracer_provider=False, verbose=False)
    tracer = tp.get_tracer("register-test")
    with tracer.start_as_current_span("outer", attributes={"openinference.span.kind": "AGENT"}) as outer:
        with tracer.start_as_current_span("inner", attributes={"openinference.span.kind": "RETRIEVER", "k": "v"}) as inner:
            pass
    assert tp.force_flush(30_000)
    tp.shutdown()
    trace_id = format(outer.get_span_context().trace_id, "032x")

    spans = client.spans.get_spans(project_identifier=project, limit=100)
    assert len(spans) == 2, spans
    by = spans_by_name(spans)
    assert by["outer"]["context"] == {"trace_id": trace_id, "span_id": format(outer.get_span_context().span_id, "016x")}
    assert by["inner"]["context"] == {"trace_id": trace_id, "span_id": format(inner.get_span_context().span_id, "016x")}
    assert by["outer"]["parent_id"] is None
    assert by["inner"]["parent_id"] == by["outer"]["context"]["span_id"]
    assert by["outer"]["span_kind"] == "AGENT"
    assert by["inner"]["span_kind"] == "RETRIEVER"
    assert by["inner"]["attributes"] == {"k": "v"}


def test_x_project_name_header_overrides_resource(cinder, client):
    header_project = unique_name("hdr")
    resource_project = unique_name("res")
    pipe = make_tracer_provider(None, resource_project, None)
    with pipe.tracer.start_as_current_span("only", attributes={"openinference.span.kind": "CHAIN"}):
        pass
    spans = pipe.finish()
    r = requests.post(cinder.traces_url, data=encode_request(spans),
                      headers={"Content-Type": "application/x-protobuf", "x-project-name": header_project}, timeout=30)
    _assert_protobuf_ok(r)
    got = client.spans.get_spans(project_identifier=header_project)
    assert [s["context"]["span_id"] for s in got] == [hex_span_id(spans[0])]
    assert cinder.get(f"/v1/projects/{resource_project}").status_code == 404


def test_no_project_goes_to_default(cinder, client):
    pipe = make_tracer_provider(None, None, None)
    with pipe.tracer.start_as_current_span("to-default", attributes={"openinference.span.kind": "CHAIN"}):
        pass
    spans = pipe.finish()
    assert PROJECT_ATTR not in spans[0].resource.attributes
    r = requests.post(cinder.traces_url, data=encode_request(spans),
                      headers={"Content-Type": "application/x-protobuf"}, timeout=30)
    _assert_protobuf_ok(r)
    got = client.spans.get_spans(project_identifier="default", trace_ids=[hex_trace_id(spans[0])])
    assert [(s["name"], s["context"]["span_id"]) for s in got] == [("to-default", hex_span_id(spans[0]))]


@pytest.mark.parametrize("transport", ["protobuf", "grpc"])
def test_duplicate_export_is_stored_once(cinder, client, transport):
    from conftest import grpc_exporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    project = unique_name("dup-" + transport)
    pipe = make_tracer_provider(None, project, None)
    build_sample_trace(pipe.tracer)
    spans = pipe.finish()
    for _ in range(2):
        if transport == "protobuf":
            r = requests.post(cinder.traces_url, data=encode_request(spans),
                              headers={"Content-Type": "application/x-protobuf"}, timeout=30)
            assert r.status_code == 200, r.text
        else:
            exporter = grpc_exporter(cinder)
            assert exporter.export(spans) == SpanExportResult.SUCCESS
            exporter.shutdown()
    got = client.spans.get_spans(project_identifier=project, limit=100)
    assert sorted(s["context"]["span_id"] for s in got) == sorted(hex_span_id(s) for s in spans)
    assert len(got) == 3
    traces = client.traces.get_traces(project_identifier=project)
    assert len(traces) == 1


def test_same_request_twice_in_one_body(cinder, client):
    """A span repeated inside one request is also stored once."""
    project = unique_name("dup-inbody")
    pipe = make_tracer_provider(None, project, None)
    with pipe.tracer.start_as_current_span("single", attributes={"openinference.span.kind": "CHAIN"}):
        pass
    spans = pipe.finish()
    r = requests.post(cinder.traces_url, data=encode_request(spans + spans),
                      headers={"Content-Type": "application/x-protobuf"}, timeout=30)
    assert r.status_code == 200, r.text
    got = client.spans.get_spans(project_identifier=project)
    assert [s["context"]["span_id"] for s in got] == [hex_span_id(spans[0])]
