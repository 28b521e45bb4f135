"""Malformed OTLP requests and bad REST input. After every rejected request nothing may be stored."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from conftest import (
    MAX_DECOMPRESSED_BYTES,
    MAX_REQUEST_BYTES,
    encode_request,
    hex_span_id,
    make_tracer_provider,
    project_span_count,
    unique_name,
)

PB = {"Content-Type": "application/x-protobuf"}


def sample_request(project: str, n: int = 3) -> bytes:
    pipe = make_tracer_provider(None, project, None)
    with pipe.tracer.start_as_current_span("root", attributes={"openinference.span.kind": "CHAIN", "input.value": "x" * 50}):
        for i in range(n - 1):
            with pipe.tracer.start_as_current_span(f"child-{i}", attributes={"openinference.span.kind": "LLM"}):
                pass
    return encode_request(pipe.finish())


def assert_nothing_stored(cinder, project: str) -> None:
    count = project_span_count(cinder, project)
    assert count in (None, 0), f"{count} spans were stored for rejected request (project {project})"


def post(cinder, body: bytes, headers: dict, project: str) -> requests.Response:
    return requests.post(cinder.traces_url, data=body, headers={**headers, "x-project-name": project}, timeout=30)


def test_truncated_protobuf_is_400(cinder):
    project = unique_name("bad-trunc")
    body = sample_request(project)
    r = post(cinder, body[: len(body) // 2], PB, project)
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.text.strip(), "400 must carry a message"
    assert_nothing_stored(cinder, project)


def test_garbage_protobuf_is_400(cinder):
    project = unique_name("bad-garbage")
    r = post(cinder, b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", PB, project)
    assert r.status_code == 400, (r.status_code, r.text)
    assert_nothing_stored(cinder, project)


def test_bad_gzip_is_400(cinder):
    project = unique_name("bad-gzip")
    body = sample_request(project)
    r = post(cinder, b"\x1f\x8b\x08\x00not really gzip" + body, {**PB, "Content-Encoding": "gzip"}, project)
    assert r.status_code == 400, (r.status_code, r.text)
    assert_nothing_stored(cinder, project)


def test_truncated_gzip_is_400(cinder):
    project = unique_name("bad-gzip-trunc")
    gz = gzip.compress(sample_request(project))
    r = post(cinder, gz[: len(gz) - 12], {**PB, "Content-Encoding": "gzip"}, project)
    assert r.status_code == 400, (r.status_code, r.text)
    assert_nothing_stored(cinder, project)


def test_bad_deflate_is_400(cinder):
    project = unique_name("bad-deflate")
    r = post(cinder, b"definitely not zlib data", {**PB, "Content-Encoding": "deflate"}, project)
    assert r.status_code == 400, (r.status_code, r.text)
    assert_nothing_stored(cinder, project)


def test_unsupported_content_encoding_is_415(cinder):
    project = unique_name("bad-encoding")
    r = post(cinder, sample_request(project), {**PB, "Content-Encoding": "br"}, project)
    assert r.status_code == 415, (r.status_code, r.text)
    assert_nothing_stored(cinder, project)


def test_invalid_json_is_400(cinder):
    project = unique_name("bad-json")
    r = post(cinder, b'{"resourceSpans": [', {"Content-Type": "application/json"}, project)
    assert r.status_code == 400, (r.status_code, r.text)
    assert_nothing_stored(cinder, project)


def test_json_wrong_shape_is_400(cinder):
    project = unique_name("bad-json-shape")
    r = post(cinder, b'{"resourceSpans": "not a list"}', {"Content-Type": "application/json"}, project)
    assert r.status_code == 400, (r.status_code, r.text)
    assert_nothing_stored(cinder, project)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml"])
def test_wrong_content_type_is_415(cinder, content_type):
    project = unique_name("bad-ctype")
    r = post(cinder, sample_request(project), {"Content-Type": content_type}, project)
    assert r.status_code == 415, (r.status_code, r.text)
    assert_nothing_stored(cinder, project)


def test_oversize_body_is_413(cinder):
    project = unique_name("bad-oversize")
    pipe = make_tracer_provider(None, project, None)
    with pipe.tracer.start_as_current_span("huge", attributes={"openinference.span.kind": "CHAIN",
                                                               "input.value": "y" * 2_500_000}):
        pass
    body = encode_request(pipe.finish())
    assert len(body) > MAX_REQUEST_BYTES
    try:
        r = post(cinder, body, PB, project)
        status = r.status_code
    except requests.ConnectionError:
        pytest.fail("server reset the connection instead of answering 413")
    assert status == 413, (status, r.text[:300])
    assert_nothing_stored(cinder, project)
    # The server still works afterwards.
    ok = post(cinder, sample_request(project), PB, project)
    assert ok.status_code == 200
    assert project_span_count(cinder, project) == 3


def test_oversize_compressed_body_is_413(cinder):
    """A gzip body whose compressed size exceeds the limit."""
    import os

    project = unique_name("bad-oversize-gz")
    pipe = make_tracer_provider(None, project, None)
    noise = os.urandom(2_600_000).hex()  # 5.2 MB of hex; gzip gets it to ~2.7 MB
    with pipe.tracer.start_as_current_span("huge", attributes={"openinference.span.kind": "CHAIN", "input.value": noise}):
        pass
    body = gzip.compress(encode_request(pipe.finish()))
    assert len(body) > MAX_REQUEST_BYTES
    r = post(cinder, body, {**PB, "Content-Encoding": "gzip"}, project)
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert_nothing_stored(cinder, project)


def test_oversize_chunked_body_is_413(cinder):
    """No Content-Length (chunked transfer): the limit still applies while reading."""
    project = unique_name("bad-oversize-chunked")
    pipe = make_tracer_provider(None, project, None)
    with pipe.tracer.start_as_current_span("huge", attributes={"openinference.span.kind": "CHAIN",
                                                               "input.value": "z" * 2_500_000}):
        pass
    body = encode_request(pipe.finish())

    def chunks():
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]

    try:
        r = post(cinder, chunks(), PB, project)
    except requests.ConnectionError:
        pytest.fail("server reset the connection instead of answering 413")
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert_nothing_stored(cinder, project)


def test_gzip_bomb_is_413(cinder):
    project = unique_name("bad-bomb")
    pipe = make_tracer_provider(None, project, None)
    with pipe.tracer.start_as_current_span("bomb", attributes={"openinference.span.kind": "CHAIN",
                                                               "input.value": "0" * (MAX_DECOMPRESSED_BYTES + 1_000_000)}):
        pass
    body = gzip.compress(encode_request(pipe.finish()))
    assert len(body) < MAX_REQUEST_BYTES
    r = post(cinder, body, {**PB, "Content-Encoding": "gzip"}, project)
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert_nothing_stored(cinder, project)


def test_invalid_span_rejected_individually(cinder, client):
    project = unique_name("partial")
    pipe = make_tracer_provider(None, project, None)
    with pipe.tracer.start_as_current_span("good", attributes={"openinference.span.kind": "CHAIN"}):
        pass
    with pipe.tracer.start_as_current_span("bad", attributes={"openinference.span.kind": "CHAIN"}):
        pass
    spans = {s.name: s for s in pipe.finish()}
    req = ExportTraceServiceRequest()
    req.ParseFromString(encode_request([spans["good"], spans["bad"]]))
    proto_spans = req.resource_spans[0].scope_spans[0].spans
    assert [s.name for s in proto_spans] == ["good", "bad"]
    proto_spans[1].trace_id = bytes(16)  # all-zero trace id is invalid
    r = post(cinder, req.SerializeToString(), PB, project)
    assert r.status_code == 200, (r.status_code, r.text)
    resp = ExportTraceServiceResponse()
    resp.ParseFromString(r.content)
    assert resp.partial_success.rejected_spans == 1, resp
    assert resp.partial_success.error_message != ""
    got = client.spans.get_spans(project_identifier=project)
    assert [(g["name"], g["context"]["span_id"]) for g in got] == [("good", hex_span_id(spans["good"]))]


@pytest.mark.parametrize("defect", ["span-id-zero", "span-id-short", "trace-id-short", "start-time-zero"])
def test_invalid_span_variants(cinder, client, defect):
    project = unique_name("partial-" + defect)
    pipe = make_tracer_provider(None, project, None)
    for name in ("ok-1", "broken", "ok-2"):
        with pipe.tracer.start_as_current_span(name, attributes={"openinference.span.kind": "CHAIN"}):
            pass
    spans = {s.name: s for s in pipe.finish()}
    req = ExportTraceServiceRequest()
    req.ParseFromString(encode_request([spans["ok-1"], spans["broken"], spans["ok-2"]]))
    broken = req.resource_spans[0].scope_spans[0].spans[1]
    assert broken.name == "broken"
    if defect == "span-id-zero":
        broken.span_id = bytes(8)
    elif defect == "span-id-short":
        broken.span_id = b"\x01\x02\x03"
    elif defect == "trace-id-short":
        broken.trace_id = b"\x01\x02\x03\x04"
    else:
        broken.start_time_unix_nano = 0
    r = post(cinder, req.SerializeToString(), PB, project)
    assert r.status_code == 200, (r.status_code, r.text)
    resp = ExportTraceServiceResponse()
    resp.ParseFromString(r.content)
    assert resp.partial_success.rejected_spans == 1, resp
    assert resp.partial_success.error_message
    got = client.spans.get_spans(project_identifier=project)
    assert sorted(g["name"] for g in got) == ["ok-1", "ok-2"]


def test_invalid_span_json_partial_success(cinder, client):
    """The same over OTLP/JSON: partialSuccess.rejectedSpans == 1 in a JSON response."""
    project = unique_name("partial-json")
    good_span = {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": "good",
                 "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
                 "attributes": [{"key": "openinference.span.kind", "value": {"stringValue": "CHAIN"}}]}
    bad_span = dict(good_span, traceId="0" * 32, spanId="b7ad6b7169203332", name="bad")
    body = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [good_span, bad_span]}]}]}
    # Unique ids per run so that reruns against a kept database are independent.
    import uuid

    good_span["traceId"] = uuid.uuid4().hex
    good_span["spanId"] = uuid.uuid4().hex[:16]
    r = post(cinder, json.dumps(body).encode(), {"Content-Type": "application/json"}, project)
    assert r.status_code == 200, (r.status_code, r.text)
    out = r.json()
    assert int(out["partialSuccess"]["rejectedSpans"]) == 1, out
    assert out["partialSuccess"]["errorMessage"]
    got = client.spans.get_spans(project_identifier=project)
    assert [(g["name"], g["context"]["span_id"], g["start_time"]) for g in got] == [
        ("good", good_span["spanId"], "2023-11-14T22:13:20+00:00")]


def test_json_base64_ids_are_rejected(cinder, client):
    """OTLP/JSON ids are hex; a base64 id (the protobuf JSON mapping) is not a valid 16-byte hex id."""
    import uuid

    project = unique_name("json-b64")
    good = {"traceId": uuid.uuid4().hex, "spanId": uuid.uuid4().hex[:16], "name": "hexid",
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000500000000"}
    b64 = dict(good, traceId="CvdlGRbNQ92ESOshHIAxnA==", spanId="t61rcWkgMzE=", name="b64id")
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [good, b64]}]}]}
    r = post(cinder, json.dumps(body).encode(), {"Content-Type": "application/json"}, project)
    assert r.status_code == 200, r.text
    assert int(r.json()["partialSuccess"]["rejectedSpans"]) == 1
    got = client.spans.get_spans(project_identifier=project)
    assert [g["name"] for g in got] == ["hexid"]
    assert got[0]["span_kind"] == "UNKNOWN"  # no openinference.span.kind attribute


def test_empty_request_is_ok(cinder):
    project = unique_name("empty")
    r = post(cinder, b"", PB, project)
    assert r.status_code == 200, r.text
    resp = ExportTraceServiceResponse()
    resp.ParseFromString(r.content)
    assert resp.partial_success.rejected_spans == 0
    assert_nothing_stored(cinder, project)


# --------------------------------------------------------------------------------------------------
# Bad REST input
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def existing_project(cinder):
    project = unique_name("rest-bad")
    r = post(cinder, sample_request(project), PB, project)
    assert r.status_code == 200
    return project


@pytest.mark.parametrize("value,error_type", [("0", "greater_than"), ("1001", "less_than_equal"), ("abc", "int_parsing")])
def test_spans_bad_limit_is_422(cinder, existing_project, value, error_type):
    r = cinder.get(f"/v1/projects/{existing_project}/spans", params={"limit": value})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert detail[0]["loc"] == ["query", "limit"]
    assert detail[0]["type"] == error_type
    assert detail[0]["input"] == value


def test_traces_bad_limit_is_422(cinder, existing_project):
    r = cinder.get(f"/v1/projects/{existing_project}/traces", params={"limit": "0"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "limit"]


def test_traces_bad_sort_is_422(cinder, existing_project):
    r = cinder.get(f"/v1/projects/{existing_project}/traces", params={"sort": "name"})
    assert r.status_code == 422, r.text
    d = r.json()["detail"][0]
    assert d["loc"] == ["query", "sort"] and d["type"] == "literal_error"


def test_bad_start_time_is_422(cinder, existing_project):
    r = cinder.get(f"/v1/projects/{existing_project}/spans", params={"start_time": "yesterday"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "start_time"]


def test_unknown_project_is_404(cinder):
    missing = unique_name("nope")
    for path in (f"/v1/projects/{missing}", f"/v1/projects/{missing}/spans", f"/v1/projects/{missing}/traces",
                 f"/v1/projects/{missing}/sessions", f"/v1/projects/{missing}/spans/otlpv1"):
        r = cinder.get(path)
        assert r.status_code == 404, (path, r.status_code, r.text)
        assert r.text == f"Project with name {missing} not found", (path, r.text)
    r = cinder.get("/v1/projects/UHJvamVjdDo5OTk5OTk=")  # Project:999999
    assert r.status_code == 404
    assert r.text == "Project with ID UHJvamVjdDo5OTk5OTk= not found"


def test_invalid_status_code_filter_is_422(cinder, existing_project):
    r = cinder.get(f"/v1/projects/{existing_project}/spans", params=[("status_code", "BAD"), ("status_code", "ok"), ("status_code", "nope")])
    assert r.status_code == 422, r.text
    assert r.text == "Invalid status_code values: ['BAD', 'NOPE']"


def test_invalid_span_kind_filter_is_422(cinder, existing_project):
    r = cinder.get(f"/v1/projects/{existing_project}/spans", params={"span_kind": "FOO"})
    assert r.status_code == 422, r.text
    assert r.text == "Invalid span_kind values: ['FOO']"


@pytest.mark.parametrize("value", ["nocolon", ":v", "k:"])
def test_invalid_attribute_filter_is_422(cinder, existing_project, value):
    r = cinder.get(f"/v1/projects/{existing_project}/spans", params={"attribute": value})
    assert r.status_code == 422, (value, r.status_code, r.text)


def test_bad_cursor_is_422(cinder, existing_project):
    r = cinder.get(f"/v1/projects/{existing_project}/spans", params={"cursor": "%%%not-a-cursor"})
    assert r.status_code == 422, r.text


def test_create_project_validation(cinder):
    r = cinder.post("/v1/projects", json={})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "name"]
    r = cinder.post("/v1/projects", json={"name": ""})
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "string_too_short"


def test_delete_unknown_span_and_trace_404(cinder):
    r = cinder.delete("/v1/spans/0123456789abcdef")
    assert r.status_code == 404
    assert r.text == "Span with span_id '0123456789abcdef' not found"
    r = cinder.delete("/v1/traces/0123456789abcdef0123456789abcdef")
    assert r.status_code == 404
    assert r.text == "Trace with trace_id '0123456789abcdef0123456789abcdef' not found"


def test_server_healthy_after_malformed(cinder):
    assert cinder.get("/healthz").status_code == 200
    assert cinder.get("/readyz").text.strip() == "ready"
    r = cinder.get("/arize_phoenix_version")
    assert r.status_code == 200 and r.text == "20.26.1"
