"""Phoenix ingestion semantics beyond the happy path: attribute value types, OpenInference coercions,
OTLP/JSON decoding rules, the otlpv1 span format, gRPC errors."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import grpc
import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from conftest import (
    encode_request,
    hex_parent_id,
    hex_span_id,
    hex_trace_id,
    make_tracer_provider,
    project_span_count,
    unique_name,
)

PB = {"Content-Type": "application/x-protobuf"}
EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def send_pb(cinder, spans, **headers):
    r = requests.post(cinder.traces_url, data=encode_request(spans), headers={**PB, **headers}, timeout=30)
    assert r.status_code == 200, r.text
    return r


def one_span(project, name="s", **attributes):
    pipe = make_tracer_provider(None, project, None)
    with pipe.tracer.start_as_current_span(name, attributes=attributes):
        pass
    (span,) = pipe.finish()
    return span


def test_attribute_value_types(cinder, client):
    project = unique_name("types")
    span = one_span(
        project,
        **{
            "openinference.span.kind": "LLM",
            "big.int": 2**62 + 1,
            "neg.int": -7,
            "zero.float": 0.0,
            "text.unicode": "héllo wörld — 你好 🌍",
            "text.empty": "",
            "list.ints": [1, 2, 3],
            "list.floats": [0.5, 1.25],
            "list.bools": [True, False],
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "be brief",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": "hi",
            "tool.parameters": json.dumps({"city": "Paris", "units": {"temp": "C"}}),
            "llm.prompt_template.variables": json.dumps({"question": "why?"}),
            "metadata": "not json {",
        },
    )
    send_pb(cinder, [span])
    (got,) = client.spans.get_spans(project_identifier=project)
    assert got["span_kind"] == "LLM"
    assert got["attributes"] == {
        "big.int": 2**62 + 1,
        "neg.int": -7,
        "zero.float": 0.0,
        "text.unicode": "héllo wörld — 你好 🌍",
        "text.empty": "",
        "list.ints": [1, 2, 3],
        "list.floats": [0.5, 1.25],
        "list.bools": [True, False],
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "be brief",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": "hi",
        # JSON-string attributes (keys ending in metadata, tool.parameters,
        # llm.prompt_template.variables, document.metadata) are parsed into objects...
        "tool.parameters.city": "Paris",
        "tool.parameters.units.temp": "C",
        "llm.prompt_template.variables.question": "why?",
        # ...unless they are not valid JSON.
        "metadata": "not json {",
    }
    assert type(got["attributes"]["big.int"]) is int
    assert type(got["attributes"]["zero.float"]) is float


def test_token_counts_are_coerced_to_int(cinder, client):
    project = unique_name("tokens")
    span = one_span(project, **{"openinference.span.kind": "LLM", "llm.token_count.prompt": "15",
                                "llm.token_count.completion": 4.0, "llm.token_count.total": "19"})
    send_pb(cinder, [span])
    (got,) = client.spans.get_spans(project_identifier=project)
    assert got["attributes"] == {"llm.token_count.prompt": 15, "llm.token_count.completion": 4,
                                 "llm.token_count.total": 19}
    assert all(type(v) is int for v in got["attributes"].values())
    (trace,) = client.traces.get_traces(project_identifier=project)
    assert (trace["token_count_prompt"], trace["token_count_completion"], trace["token_count_total"]) == (15, 4, 19)


def test_token_counts_only_from_llm_spans(cinder, client):
    project = unique_name("tokens-kind")
    pipe = make_tracer_provider(None, project, None)
    with pipe.tracer.start_as_current_span("chain", attributes={
            "openinference.span.kind": "CHAIN", "llm.token_count.prompt": 100, "llm.token_count.completion": 100}):
        with pipe.tracer.start_as_current_span("llm", attributes={
                "openinference.span.kind": "LLM", "llm.token_count.prompt": 2, "llm.token_count.completion": 3,
                "llm.token_count.total": 999}):
            pass
    send_pb(cinder, pipe.finish())
    (trace,) = client.traces.get_traces(project_identifier=project)
    # Only LLM spans count; total = prompt + completion (the total attribute is ignored).
    assert (trace["token_count_prompt"], trace["token_count_completion"], trace["token_count_total"]) == (2, 3, 5)


def test_non_string_input_value_is_json_encoded(cinder, client):
    project = unique_name("input-json")
    span = one_span(project, **{"openinference.span.kind": "CHAIN", "input.value": 42})
    send_pb(cinder, [span])
    (got,) = client.spans.get_spans(project_identifier=project)
    assert got["attributes"] == {"input.value": "42", "input.mime_type": "application/json"}


def test_span_kind_casing_and_unknown(cinder, client):
    project = unique_name("kinds")
    pipe = make_tracer_provider(None, project, None)
    with pipe.tracer.start_as_current_span("root", attributes={"openinference.span.kind": "chain"}):
        with pipe.tracer.start_as_current_span("lower-llm", attributes={
                "openinference.span.kind": "llm", "llm.token_count.prompt": 5, "llm.token_count.completion": 6}):
            pass
        with pipe.tracer.start_as_current_span("weird", attributes={"openinference.span.kind": "FOO"}):
            pass
        with pipe.tracer.start_as_current_span("no-kind"):
            pass
    spans = {s.name: s for s in pipe.finish()}
    send_pb(cinder, list(spans.values()))
    got = {s["name"]: s for s in client.spans.get_spans(project_identifier=project)}
    # /spans returns the attribute as sent (Phoenix keeps its casing); missing -> UNKNOWN.
    assert {n: s["span_kind"] for n, s in got.items()} == {
        "root": "chain", "lower-llm": "llm", "weird": "FOO", "no-kind": "UNKNOWN"}
    # The span_kind filter works on the normalized kind.
    llm = client.spans.get_spans(project_identifier=project, span_kind="LLM")
    assert [s["name"] for s in llm] == ["lower-llm"]
    unknown = client.spans.get_spans(project_identifier=project, span_kind="UNKNOWN")
    assert sorted(s["name"] for s in unknown) == ["no-kind", "weird"]
    (trace,) = client.traces.get_traces(project_identifier=project, include_spans=True)
    assert {s["name"]: s["span_kind"] for s in trace["spans"]} == {
        "root": "CHAIN", "lower-llm": "LLM", "weird": "UNKNOWN", "no-kind": "UNKNOWN"}
    assert (trace["token_count_prompt"], trace["token_count_completion"]) == (5, 6)


def test_project_name_with_spaces_and_unicode(cinder, client):
    project = f"my prøject ü {uuid.uuid4().hex[:8]}"
    span = one_span(project, **{"openinference.span.kind": "CHAIN"})
    send_pb(cinder, [span])
    assert client.projects.get(project_name=project)["name"] == project
    got = client.spans.get_spans(project_identifier=project)
    assert [s["context"]["span_id"] for s in got] == [hex_span_id(span)]


# --------------------------------------------------------------------------------------------------
# OTLP/JSON decoding rules
# --------------------------------------------------------------------------------------------------


def _json_span(**over):
    span = {"traceId": uuid.uuid4().hex, "spanId": uuid.uuid4().hex[:16], "name": "json-span",
            "startTimeUnixNano": "1700000000000001000", "endTimeUnixNano": "1700000002500000000",
            "attributes": [{"key": "openinference.span.kind", "value": {"stringValue": "TOOL"}}]}
    span.update(over)
    return span


def _post_json(cinder, body, project):
    r = requests.post(cinder.traces_url, data=json.dumps(body), timeout=30,
                      headers={"Content-Type": "application/json", "x-project-name": project})
    assert r.status_code == 200, r.text
    ps = r.json().get("partialSuccess") or {}
    assert int(ps.get("rejectedSpans", 0)) == 0, r.text
    return r


def test_json_uppercase_hex_ids_and_numeric_int64(cinder, client):
    project = unique_name("json-rules")
    trace_id, span_id, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
    span = _json_span(
        traceId=trace_id.upper(), spanId=span_id.upper(), parentSpanId=parent.upper(),
        startTimeUnixNano=1700000000000001000,  # a JSON number instead of a string
        attributes=[
            {"key": "openinference.span.kind", "value": {"stringValue": "TOOL"}},
            {"key": "n.str", "value": {"intValue": "5"}},
            {"key": "n.num", "value": {"intValue": 6}},
            {"key": "d", "value": {"doubleValue": 2.5}},
            {"key": "b", "value": {"boolValue": True}},
            {"key": "arr", "value": {"arrayValue": {"values": [{"stringValue": "x"}, {"stringValue": "y"}]}}},
        ],
        status={"code": "STATUS_CODE_ERROR", "message": "nope"},
        kind="SPAN_KIND_CLIENT",
        events=[{"timeUnixNano": "1700000001000000000", "name": "exception",
                 "attributes": [{"key": "exception.type", "value": {"stringValue": "KeyError"}},
                                {"key": "exception.message", "value": {"stringValue": "'k'"}}]}],
    )
    _post_json(cinder, {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}, project)
    (got,) = client.spans.get_spans(project_identifier=project)
    assert got["context"] == {"trace_id": trace_id, "span_id": span_id}
    assert got["parent_id"] == parent
    assert got["start_time"] == "2023-11-14T22:13:20.000001+00:00"
    assert got["end_time"] == "2023-11-14T22:13:22.500000+00:00"
    assert (got["span_kind"], got["status_code"], got["status_message"]) == ("TOOL", "ERROR", "nope")
    assert got["attributes"] == {"n.str": 5, "n.num": 6, "d": 2.5, "b": True, "arr": ["x", "y"]}
    assert got["events"] == [{"name": "exception", "timestamp": "2023-11-14T22:13:21+00:00",
                              "attributes": {"exception.type": "KeyError", "exception.message": "'k'"}}]


def test_json_unknown_fields_are_ignored(cinder, client):
    project = unique_name("json-unknown")
    span = _json_span(futureField={"x": 1}, droppedAttributesCount=2)
    body = {"resourceSpans": [{"resource": {"attributes": [], "somethingNew": True},
                               "scopeSpans": [{"scope": {"name": "s", "version": "1"}, "spans": [span],
                                               "schemaUrl": "https://x", "unknownList": [1, 2]}]}],
            "topLevelExtra": "ignored"}
    _post_json(cinder, body, project)
    got = client.spans.get_spans(project_identifier=project)
    assert [s["context"]["span_id"] for s in got] == [span["spanId"]]


def test_json_empty_object_is_ok(cinder):
    project = unique_name("json-empty")
    r = requests.post(cinder.traces_url, data=b"{}", timeout=30,
                      headers={"Content-Type": "application/json", "x-project-name": project})
    assert r.status_code == 200, r.text
    assert project_span_count(cinder, project) in (None, 0)


# --------------------------------------------------------------------------------------------------
# GET /v1/projects/{id}/spans/otlpv1
# --------------------------------------------------------------------------------------------------


def _phoenix_ns(us: int) -> int:
    """Phoenix computes int(dt.timestamp() * 1e9) with float math from the stored microseconds."""
    dt = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)
    return int(dt.timestamp() * 1_000_000_000)


def _any_value(v):
    base = {"array_value": None, "bool_value": None, "bytes_value": None, "double_value": None,
            "int_value": None, "kvlist_value": None, "string_value": None}
    if isinstance(v, bool):
        base["bool_value"] = v
    elif isinstance(v, int):
        base["int_value"] = v
    elif isinstance(v, float):
        base["double_value"] = v
    elif isinstance(v, str):
        base["string_value"] = v
    elif isinstance(v, list):
        base["array_value"] = {"values": [_any_value(x) for x in v]}
    return base


def test_otlpv1_span_format(cinder):
    project = unique_name("otlpv1")
    pipe = make_tracer_provider(None, project, None)
    from opentelemetry.trace import Status, StatusCode

    with pipe.tracer.start_as_current_span("root", attributes={"openinference.span.kind": "CHAIN", "k": "v"}):
        with pipe.tracer.start_as_current_span("child", attributes={
                "openinference.span.kind": "LLM", "n": 3, "f": 1.5, "b": False, "l": ["a", "b"]}) as child:
            child.add_event("ev", attributes={"x": 1})
            child.set_status(Status(StatusCode.ERROR, "bad"))
    spans = {s.name: s for s in pipe.finish()}
    send_pb(cinder, list(spans.values()))
    r = cinder.get(f"/v1/projects/{project}/spans/otlpv1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None
    got = {s["name"]: s for s in body["data"]}
    assert set(got) == {"root", "child"}
    keys = ["attributes", "dropped_attributes_count", "dropped_events_count", "dropped_links_count",
            "end_time_unix_nano", "events", "flags", "kind", "links", "name", "parent_span_id", "span_id",
            "start_time_unix_nano", "status", "trace_id", "trace_state"]
    for name, s in got.items():
        sdk = spans[name]
        assert sorted(s) == keys
        assert s["trace_id"] == hex_trace_id(sdk)
        assert s["span_id"] == hex_span_id(sdk)
        assert s["parent_span_id"] == hex_parent_id(sdk)
        assert s["kind"] == "SPAN_KIND_INTERNAL"
        assert s["start_time_unix_nano"] == _phoenix_ns(sdk.start_time // 1000)
        assert s["end_time_unix_nano"] == _phoenix_ns(sdk.end_time // 1000)
        for k in ("dropped_attributes_count", "dropped_events_count", "dropped_links_count", "flags", "links", "trace_state"):
            assert s[k] is None, (name, k)
    root, child = got["root"], got["child"]
    assert root["status"] == {"code": 0, "message": None}
    assert child["status"] == {"code": 2, "message": "bad"}
    assert root["events"] is None
    assert {a["key"]: a["value"] for a in root["attributes"]} == {
        "openinference.span.kind": _any_value("CHAIN"), "k": _any_value("v")}
    assert {a["key"]: a["value"] for a in child["attributes"]} == {
        "openinference.span.kind": _any_value("LLM"), "n": _any_value(3), "f": _any_value(1.5),
        "b": _any_value(False), "l": _any_value(["a", "b"])}
    (event,) = child["events"]
    assert event == {"attributes": [{"key": "x", "value": _any_value(1)}], "dropped_attributes_count": None,
                     "name": "ev", "time_unix_nano": _phoenix_ns(spans["child"].events[0].timestamp // 1000)}


def test_otlpv1_pagination(cinder):
    project = unique_name("otlpv1-page")
    pipe = make_tracer_provider(None, project, None)
    for i in range(5):
        with pipe.tracer.start_as_current_span(f"s{i}"):
            pass
    send_pb(cinder, pipe.finish())
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = cinder.get(f"/v1/projects/{project}/spans/otlpv1", params=params).json()
        seen += [s["name"] for s in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == ["s4", "s3", "s2", "s1", "s0"]  # id DESC


# --------------------------------------------------------------------------------------------------
# HTTP details
# --------------------------------------------------------------------------------------------------


def test_version_header_and_error_content_types(cinder):
    ok = cinder.get("/v1/projects")
    assert ok.headers.get("x-phoenix-server-version") == "20.26.1"
    assert ok.headers["content-type"].startswith("application/json")
    missing = cinder.get(f"/v1/projects/{unique_name('nope')}")
    assert missing.status_code == 404
    assert missing.headers.get("x-phoenix-server-version") == "20.26.1"
    assert missing.headers["content-type"].startswith("text/plain")
    assert cinder.get("/arize_phoenix_version").headers["content-type"].startswith("text/plain")


def test_create_project_returns_200_and_delete_204(cinder):
    name = unique_name("codes")
    r = cinder.post("/v1/projects", json={"name": name, "description": "d"})
    assert r.status_code == 200, r.text
    assert r.json() == {"data": {"name": name, "description": "d", "id": r.json()["data"]["id"]}}
    r2 = cinder.delete(f"/v1/projects/{name}")
    assert r2.status_code == 204
    assert r2.content == b""


# --------------------------------------------------------------------------------------------------
# gRPC errors
# --------------------------------------------------------------------------------------------------


def _grpc_export(cinder, payload: bytes, metadata=()):
    with grpc.insecure_channel(cinder.grpc_endpoint) as channel:
        call = channel.unary_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)
        return call(payload, timeout=30, metadata=metadata)


def test_grpc_malformed_is_invalid_argument(cinder):
    written = cinder.metric("cinder_spans_written_total")
    project = unique_name("grpc-bad")
    span = one_span(project, **{"openinference.span.kind": "CHAIN"})
    payload = encode_request([span])
    with pytest.raises(grpc.RpcError) as e:
        _grpc_export(cinder, payload[: len(payload) // 2])
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value
    assert cinder.metric("cinder_spans_written_total") == written
    assert project_span_count(cinder, project) in (None, 0)


def test_grpc_partial_success(cinder, client):
    project = unique_name("grpc-partial")
    pipe = make_tracer_provider(None, project, None)
    for name in ("good", "bad"):
        with pipe.tracer.start_as_current_span(name, attributes={"openinference.span.kind": "CHAIN"}):
            pass
    spans = {s.name: s for s in pipe.finish()}
    req = ExportTraceServiceRequest()
    req.ParseFromString(encode_request([spans["good"], spans["bad"]]))
    req.resource_spans[0].scope_spans[0].spans[1].span_id = bytes(8)
    raw = _grpc_export(cinder, req.SerializeToString())
    resp = ExportTraceServiceResponse()
    resp.ParseFromString(raw)
    assert resp.partial_success.rejected_spans == 1, resp
    assert resp.partial_success.error_message
    got = client.spans.get_spans(project_identifier=project)
    assert [s["context"]["span_id"] for s in got] == [hex_span_id(spans["good"])]


def test_grpc_oversize_is_refused_and_not_stored(cinder):
    # grpc-swift's transport refuses an over-limit message by resetting the stream (the client reports
    # CANCELLED) rather than with a RESOURCE_EXHAUSTED status; either way nothing may be stored.
    from conftest import MAX_REQUEST_BYTES

    project = unique_name("grpc-big")
    span = one_span(project, **{"openinference.span.kind": "CHAIN", "input.value": "q" * 2_500_000})
    payload = encode_request([span])
    assert len(payload) > MAX_REQUEST_BYTES
    with pytest.raises(grpc.RpcError) as e:
        _grpc_export(cinder, payload)
    assert e.value.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.CANCELLED), e.value
    assert project_span_count(cinder, project) in (None, 0)
