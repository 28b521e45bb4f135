"""The GraphQL endpoint (/graphql), end to end.

Data goes in through the real clients (the OpenTelemetry SDK for spans, arize-phoenix-client for
annotations, datasets, experiments and prompts); it is read back with plain HTTP POSTs of
{"query": ..., "variables": {...}} and compared with what was sent and with the REST API.

Reference: Arize Phoenix's GraphQL schema (schema.graphql in /work/shared/phoenix-reference). What these
tests rely on:
- Answers are HTTP 200 JSON {"data": ..., "errors": [...]}, also when `errors` is present (execution and
  validation errors, syntax errors); a body that is not JSON or has no `query` is HTTP 400.
- Global ids are the REST ids: base64("TypeName:rowid"). `node(id:)` is `Node!`, so an unknown or malformed
  id is an entry in `errors` and `data` is null.
- Connections page forward with `first`/`after` (after = a previous page's endCursor); startCursor/endCursor
  are the first/last edge's cursor (null on an empty page); a page before the last is full.
- Project.spans: default order start time desc; `sort: {col, dir}`; TimeRange {start, end} is start
  inclusive, end exclusive, on span start (spans) or trace start (traces). Trace.spans: newest first
  (the spans here are ingested in start order, so "start desc" and Phoenix's "row id desc" agree).
  ProjectSession.traces: start time asc (Phoenix). Project.traces (a Cinder extension): newest start first.
- Quantiles are checked where linear interpolation (percentile_cont) and nearest-rank agree.
- Span.attributes is a JSON *string* of the nested attributes; Span.metadata a JSON string or null;
  Span.tokenCountTotal is prompt + completion. SpanAnnotation.spanId and
  ProjectSessionAnnotation.projectSessionId are the parent's *global* id (Phoenix).
- Query.projects (and projectCount) leave out experiment projects, as Phoenix and REST /v1/projects do.
"""

from __future__ import annotations

import base64
import json
import re
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

import pytest
import requests
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Status, StatusCode

from conftest import (
    client_span_count,
    encode_request,
    expected_attributes,
    hex_span_id,
    hex_trace_id,
    make_tracer_provider,
    session_exists,
    unique_name,
)

NS = 1_000_000_000
MS = 1_000_000  # ns
WAIT_S = 20.0
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"


# --------------------------------------------------------------------------------------------------
# GraphQL over HTTP
# --------------------------------------------------------------------------------------------------


def post_graphql(cinder, query: str, variables: Optional[dict] = None, **extra: Any) -> requests.Response:
    body: dict[str, Any] = {"query": query, **extra}
    if variables is not None:
        body["variables"] = variables
    return cinder.post("/graphql", json=body)


def gql(cinder, query: str, variables: Optional[dict] = None, **extra: Any) -> dict:
    """Executes a query that must succeed; returns `data`."""
    r = post_graphql(cinder, query, variables, **extra)
    assert r.status_code == 200, (r.status_code, r.text[:3000])
    assert "json" in r.headers.get("content-type", ""), r.headers.get("content-type")
    body = r.json()
    assert not body.get("errors"), json.dumps(body.get("errors"), indent=1)[:3000]
    assert isinstance(body.get("data"), dict), body
    return body["data"]


def gql_errors(cinder, query: str, variables: Optional[dict] = None, **extra: Any) -> dict:
    """Executes a query that must fail; returns the whole body (HTTP 200, non-empty `errors`)."""
    r = post_graphql(cinder, query, variables, **extra)
    assert r.status_code == 200, (r.status_code, r.text[:3000])
    body = r.json()
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, body
    for e in errors:
        assert isinstance(e, dict) and isinstance(e.get("message"), str) and e["message"], e
    return body


def check_page_info(conn: dict, first_page: bool) -> None:
    info, edges = conn["pageInfo"], conn["edges"]
    assert isinstance(info["hasNextPage"], bool) and isinstance(info["hasPreviousPage"], bool), info
    if edges:
        for e in edges:
            assert isinstance(e["cursor"], str) and e["cursor"], e
        assert info["startCursor"] == edges[0]["cursor"], info
        assert info["endCursor"] == edges[-1]["cursor"], info
    else:
        assert info["startCursor"] is None and info["endCursor"] is None, info
        assert info["hasNextPage"] is False, info
    if first_page:
        assert info["hasPreviousPage"] is False, info


def walk(cinder, query: str, variables: dict, extract: Callable[[dict], dict], first: int
         ) -> tuple[list[dict], list[int]]:
    """Pages forward through a connection. `query` declares $first: Int! and $after: String and
    extract(data) returns the connection. Returns the nodes in order and the page sizes."""
    nodes: list[dict] = []
    sizes: list[int] = []
    after: Optional[str] = None
    cursors: set[str] = set()
    for _ in range(2000):
        conn = extract(gql(cinder, query, {**variables, "first": first, "after": after}))
        edges = conn["edges"]
        check_page_info(conn, first_page=after is None)
        assert len(edges) <= first, (len(edges), first)
        for e in edges:
            assert e["cursor"] not in cursors, "a cursor came back twice"
            cursors.add(e["cursor"])
            nodes.append(e["node"])
        sizes.append(len(edges))
        if not conn["pageInfo"]["hasNextPage"]:
            return nodes, sizes
        assert len(edges) == first, f"a page before the last one must be full: {sizes}"
        after = conn["pageInfo"]["endCursor"]
    raise AssertionError("pagination does not terminate")


def edge_nodes(conn: dict) -> list[dict]:
    return [e["node"] for e in conn["edges"]]


# --------------------------------------------------------------------------------------------------
# Ids, times, JSON
# --------------------------------------------------------------------------------------------------


def make_gid(type_name: str, rowid: int) -> str:
    return base64.b64encode(f"{type_name}:{rowid}".encode()).decode()


def parse_gid(value: str) -> tuple[str, int]:
    assert isinstance(value, str) and value, value
    raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode()
    type_name, sep, rowid = raw.partition(":")
    assert sep and rowid.isdigit(), f"not a global id: {value!r} ({raw!r})"
    return type_name, int(rowid)


def gid_type(value: str) -> str:
    return parse_gid(value)[0]


def rowid_of(value: str, type_name: str) -> int:
    """Row id of an id the REST API returned (Phoenix's session annotation POST returns a bare row id)."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    t, n = parse_gid(value)
    assert t == type_name, (value, t, type_name)
    return n


def ns_to_iso(ns: int) -> str:
    return (EPOCH + timedelta(microseconds=ns // 1000)).isoformat()


def dt_us(value: Any) -> int:
    """Microseconds since the epoch of a DateTime value (ISO 8601 with an offset)."""
    assert isinstance(value, str), value
    dt = datetime.fromisoformat(value)
    assert dt.tzinfo is not None and dt.utcoffset() is not None, f"DateTime without an offset: {value!r}"
    d = dt - EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def assert_recent(value: Any, hours: float = 6) -> None:
    now_us = int(time.time() * 1_000_000)
    assert abs(now_us - dt_us(value)) < hours * 3600 * 1_000_000, value


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested JSON → dotted keys. Lists of objects are flattened by index (OpenInference's
    retrieval.documents.N.document.*); lists of scalars stay lists."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else k))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}.{i}"))
    else:
        out[prefix] = value
    return out


# --------------------------------------------------------------------------------------------------
# Ingestion helpers
# --------------------------------------------------------------------------------------------------


def post_spans(cinder, spans) -> None:
    r = requests.post(cinder.traces_url, data=encode_request(spans),
                      headers={"Content-Type": "application/x-protobuf"}, timeout=30)
    assert r.status_code == 200, r.text


def post_in_start_order(cinder, spans) -> None:
    """One request per span, in start-time order, so row ids grow with start times."""
    for s in sorted(spans, key=lambda s: (s.start_time, s.context.span_id)):
        post_spans(cinder, [s])


def wait_for(what: str, probe: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def wait_ingested(client, project: str, n_spans: int, sessions=()) -> None:
    wait_for(f"{n_spans} spans in {project}", lambda: client_span_count(client, project) == n_spans)
    for s in sessions:
        wait_for(f"session {s}", lambda: session_exists(client, s))


def _span(tracer, name: str, start_ns: int, end_ns: int, parent=None, attributes: Optional[dict] = None,
          status: Optional[Status] = None):
    ctx = otel_trace.set_span_in_context(parent) if parent is not None else None
    span = tracer.start_span(name, context=ctx, start_time=start_ns, attributes=attributes or {})
    if status is not None:
        span.set_status(status)
    span.end(end_time=end_ns)
    return span


def readable(pipe, live: dict) -> dict:
    """label -> finished ReadableSpan, for the live spans start_span returned."""
    done = {s.context.span_id: s for s in pipe.finish()}
    out = {label: done[span.get_span_context().span_id] for label, span in live.items()}
    assert len(out) == len(done), (sorted(out), len(done))
    return out


def rest_project_id(client, name: str) -> str:
    return client.projects.get(project_name=name)["id"]


def rest_all(cinder, path: str, limit: int = 100, **params: Any) -> list[dict]:
    out: list[dict] = []
    cursor = None
    for _ in range(10_000):
        q = {"limit": limit, **params}
        if cursor:
            q["cursor"] = cursor
        r = cinder.get(path, params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["data"]
        cursor = body.get("next_cursor")
        if not cursor:
            return out
    raise AssertionError(f"{path}: pagination does not terminate")


# --------------------------------------------------------------------------------------------------
# Fixture: a project with five traces at fixed times (counts, time ranges, quantiles, sessions)
# --------------------------------------------------------------------------------------------------

LATENCY_MS = [100, 200, 300, 400, 500]  # root span (= trace) latency of trace i
PROMPT = [10, 20, 40, 80]  # tokens of the LLM child of trace i (trace 4 has no child)
COMPLETION = [1, 2, 4, 8]
PROMPT_COST = [0.001, 0.002, 0.003, 0.004]
COMPLETION_COST = [0.0005, 0.001, 0.0015, 0.002]
CHILD_MS = 10  # every LLM child starts 10 ms after its root and lasts 10 ms


@dataclass
class Metrics:
    project: str
    base_ns: int
    starts: list  # root start (ns) of trace i
    spans: dict  # "r0".."r4" roots, "c0".."c3" LLM children -> ReadableSpan
    sess_a: str  # traces 0 and 1
    sess_b: str  # trace 2

    def sid(self, label: str) -> str:
        return hex_span_id(self.spans[label])

    def tid(self, label: str) -> str:
        return hex_trace_id(self.spans[label])


@pytest.fixture(scope="module")
def metrics(cinder, client) -> Metrics:
    """Trace i (i = 0..4) starts at base + 10 s·i + 0.123456 s: a CHAIN root lasting LATENCY_MS[i] with
    input "question i" / output "answer i"; traces 0..3 have an LLM child (PROMPT[i]/COMPLETION[i]
    tokens, llm.cost.* attributes) from +10 ms to +20 ms. Traces 0, 1 are session A, trace 2 session B."""
    project = unique_name("gql-metrics")
    sess_a, sess_b = f"gql-sa-{uuid.uuid4().hex[:8]}", f"gql-sb-{uuid.uuid4().hex[:8]}"
    base_ns = (int(time.time()) - 7200) * NS
    pipe = make_tracer_provider(None, project, None)
    t = pipe.tracer
    live: dict = {}
    starts = []
    for i in range(5):
        s0 = base_ns + i * 10 * NS + 123_456_000
        starts.append(s0)
        attrs = {"openinference.span.kind": "CHAIN", "input.value": f"question {i}", "output.value": f"answer {i}"}
        session = {0: sess_a, 1: sess_a, 2: sess_b}.get(i)
        if session is not None:
            attrs["session.id"] = session
        root = t.start_span("agent", start_time=s0, attributes=attrs)
        if i < 4:
            live[f"c{i}"] = _span(t, "llm", s0 + CHILD_MS * MS, s0 + 2 * CHILD_MS * MS, root, {
                "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
                "llm.token_count.prompt": PROMPT[i], "llm.token_count.completion": COMPLETION[i],
                "llm.cost.prompt": PROMPT_COST[i], "llm.cost.completion": COMPLETION_COST[i],
                "llm.cost.total": PROMPT_COST[i] + COMPLETION_COST[i]})
        root.set_status(Status(StatusCode.OK))
        root.end(end_time=s0 + LATENCY_MS[i] * MS)
        live[f"r{i}"] = root
    spans = readable(pipe, live)
    post_in_start_order(cinder, spans.values())
    wait_ingested(client, project, len(spans), (sess_a, sess_b))
    return Metrics(project, base_ns, starts, spans, sess_a, sess_b)


# --------------------------------------------------------------------------------------------------
# Fixture: one detailed trace (every Span field) plus a bare span in its own trace
# --------------------------------------------------------------------------------------------------

ROOT_METADATA = {"user": "alice", "tier": 2, "nested": {"deep": True}}
ROOT_OUTPUT = '{"answer": "sunny", "confidence": 0.9}'


@dataclass
class Rich:
    project: str
    spans: dict  # root, llm, retrieve, tool, plain -> ReadableSpan

    def sid(self, label: str) -> str:
        return hex_span_id(self.spans[label])

    def tid(self, label: str) -> str:
        return hex_trace_id(self.spans[label])


@pytest.fixture(scope="module")
def rich(cinder, client) -> Rich:
    """root CHAIN (OK, text input, JSON output, metadata, two events, 100 ms)
         ├─ llm LLM (12/7 tokens, 50 ms) ── retrieve RETRIEVER (2 documents, 20 ms)
         └─ tool TOOL (ERROR "tool failed: unavailable", exception event, 20 ms)
       plain: a span without a kind in a trace of its own."""
    project = unique_name("gql-rich")
    pipe = make_tracer_provider(None, project, None)
    t = pipe.tracer
    r0 = (int(time.time()) - 3600) * NS + 500 * MS
    live: dict = {}
    root = t.start_span("agent", start_time=r0, attributes={
        "openinference.span.kind": "CHAIN",
        "input.value": "What is the weather in Paris?", "input.mime_type": "text/plain",
        "output.value": ROOT_OUTPUT, "output.mime_type": "application/json",
        "metadata": json.dumps(ROOT_METADATA), "tag.tags": ["alpha", "beta", "gamma"],
        "retry.enabled": True, "temperature.ratio": 0.25, "user.id": "user-42"})
    root.add_event("retrieval-started", attributes={"doc.count": 3, "doc.source": "web"}, timestamp=r0 + 5 * MS)
    root.add_event("checkpoint", timestamp=r0 + 6 * MS)
    llm = t.start_span("llm-call", context=otel_trace.set_span_in_context(root), start_time=r0 + 10 * MS,
                       attributes={"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
                                   "llm.token_count.prompt": 12, "llm.token_count.completion": 7,
                                   "input.value": "weather Paris"})
    live["retrieve"] = _span(t, "retrieve", r0 + 20 * MS, r0 + 40 * MS, llm, {
        "openinference.span.kind": "RETRIEVER", "input.value": "paris weather",
        "retrieval.documents.0.document.id": "doc-0", "retrieval.documents.0.document.content": "sunny all day",
        "retrieval.documents.0.document.score": 0.9,
        "retrieval.documents.1.document.id": "doc-1", "retrieval.documents.1.document.content": "light wind",
        "retrieval.documents.1.document.score": 0.5})
    llm.end(end_time=r0 + 60 * MS)
    live["llm"] = llm
    tool = t.start_span("weather-tool", context=otel_trace.set_span_in_context(root), start_time=r0 + 70 * MS,
                        attributes={"openinference.span.kind": "TOOL", "tool.name": "get_weather"})
    try:
        raise RuntimeError("weather service unavailable")
    except RuntimeError as e:
        tool.record_exception(e, timestamp=r0 + 80 * MS)
    tool.set_status(Status(StatusCode.ERROR, "tool failed: unavailable"))
    tool.end(end_time=r0 + 90 * MS)
    live["tool"] = tool
    root.set_status(Status(StatusCode.OK))
    root.end(end_time=r0 + 100 * MS)
    live["root"] = root
    live["plain"] = _span(t, "plain", r0 + 200 * MS, r0 + 201 * MS, None, {"custom.flag": "x"})
    spans = readable(pipe, live)
    post_in_start_order(cinder, spans.values())
    wait_ingested(client, project, len(spans))
    return Rich(project, spans)


# --------------------------------------------------------------------------------------------------
# Fixture: 25 one-span traces, one second apart (pagination)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paged(cinder, client):
    project = unique_name("gql-paged")
    pipe = make_tracer_provider(None, project, None)
    t0 = (int(time.time()) - 5400) * NS
    live = {i: _span(pipe.tracer, f"span-{i:02d}", t0 + i * NS, t0 + i * NS + 5 * MS, None,
                     {"openinference.span.kind": "CHAIN", "idx": i}) for i in range(25)}
    spans = readable(pipe, live)
    post_spans(cinder, list(spans.values()))
    wait_ingested(client, project, 25)
    return project, spans  # idx -> ReadableSpan


# ==================================================================================================
# Protocol: HTTP, errors, explorer, schema
# ==================================================================================================


def test_graphiql_explorer_and_get_queries(cinder):
    r = cinder.get("/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 200, r.text[:500]
    assert r.headers.get("content-type", "").startswith("text/html"), r.headers.get("content-type")
    # The web UI's explorer: every script and style from this server.
    assert re.search(r'src="/assets/[0-9a-f]{16}/app\.js"', r.text), r.text[:500]
    assert "unpkg" not in r.text and "cdn" not in r.text.lower()

    count = gql(cinder, "{ projectCount }")["projectCount"]
    r = cinder.get("/graphql", params={"query": "{ projectCount }"}, headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    assert not r.json().get("errors") and r.json()["data"] == {"projectCount": count}, r.text
    r = cinder.get("/graphql", params={"query": "query($n: String!) { getProjectByName(name: $n) { name } }",
                                       "variables": json.dumps({"n": "default"})},
                   headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"getProjectByName": {"name": "default"}}


def test_bad_http_bodies_are_400(cinder):
    r = cinder.post("/graphql", data=b"this is { not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400, (r.status_code, r.text[:500])
    r = cinder.post("/graphql", json={"variables": {}})
    assert r.status_code == 400, (r.status_code, r.text[:500])
    r = cinder.post("/graphql", json={"operationName": None})
    assert r.status_code == 400, (r.status_code, r.text[:500])
    # Still alive and correct afterwards.
    assert isinstance(gql(cinder, "{ projectCount }")["projectCount"], int)


def test_syntax_error_is_reported_in_errors(cinder):
    body = gql_errors(cinder, "{ projects(first: 2) { edges { node { id ")
    assert body.get("data") is None, body
    body = gql_errors(cinder, "query { projectCount ) }")
    assert body.get("data") is None, body


def test_validation_errors(cinder):
    body = gql_errors(cinder, "{ projectCount noSuchField }")
    assert body.get("data") is None, body
    assert any("noSuchField" in e["message"] for e in body["errors"]), body
    # Unknown field on a nested type.
    body = gql_errors(cinder, "{ projects(first: 1) { edges { node { name bogusProjectField } } } }")
    assert body.get("data") is None
    assert any("bogusProjectField" in e["message"] for e in body["errors"]), body
    # Missing required argument, argument of the wrong type, undeclared / missing variables.
    gql_errors(cinder, "{ node { id } }")
    gql_errors(cinder, '{ projects(first: "ten") { edges { cursor } } }')
    gql_errors(cinder, "{ getProjectByName(name: $nope) { id } }")
    gql_errors(cinder, "query($id: ID!) { node(id: $id) { id } }", {})
    gql_errors(cinder, "query($first: Int!) { projects(first: $first) { edges { cursor } } }", {"first": "x"})
    # A selection set is required on object fields and forbidden on scalars.
    gql_errors(cinder, "{ getProjectByName(name: \"default\") }")
    gql_errors(cinder, "{ projectCount { id } }")


@pytest.mark.parametrize("bad_id", [
    "not-a-global-id!!",
    make_gid("Project", 999_999_999),
    make_gid("Span", 999_999_999),
    make_gid("NoSuchType", 1),
    base64.b64encode(b"Project:abc").decode(),
    base64.b64encode(b"Project").decode(),
])
def test_node_with_bad_id_is_an_error(cinder, bad_id):
    body = gql_errors(cinder, "query($id: ID!) { node(id: $id) { id __typename } }", {"id": bad_id})
    assert body.get("data") is None, body  # node is Node!: the error nulls the whole result


def test_variables_aliases_fragments_and_operation_name(cinder):
    q = """
    query Lookup($name: String!, $missing: String!) {
      found: getProjectByName(name: $name) { ...P }
      absent: getProjectByName(name: $missing) { ...P }
      n: projectCount
      __typename
    }
    fragment P on Project { id name kind: __typename }
    """
    d = gql(cinder, q, {"name": "default", "missing": unique_name("absent")}, operationName="Lookup")
    assert d["found"]["name"] == "default" and d["found"]["kind"] == "Project"
    assert gid_type(d["found"]["id"]) == "Project"
    assert d["absent"] is None
    assert isinstance(d["n"], int) and d["n"] >= 1
    assert d["__typename"] == "Query"
    # Inline fragments on node, and a document with two operations selected by operationName.
    d = gql(cinder, "query($id: ID!) { node(id: $id) { __typename ... on Project { name } ... on Span { spanId } } }",
            {"id": d["found"]["id"]})
    assert d["node"] == {"__typename": "Project", "name": "default"}
    both = "query A { projectCount } query B { datasetCount promptCount }"
    assert set(gql(cinder, both, operationName="B")) == {"datasetCount", "promptCount"}
    assert set(gql(cinder, both, operationName="A")) == {"projectCount"}
    # Several operations without operationName: an error (in `errors`, or a 400).
    r = post_graphql(cinder, both)
    assert r.status_code in (200, 400), (r.status_code, r.text)
    assert r.json().get("errors"), r.text


# Fields per type, exactly as Phoenix's schema names them.
EXPECTED_FIELDS = {
    "Query": "node projects datasets prompts getProjectByName getSpanByOtelId getTraceByOtelId "
             "getProjectSessionById projectCount datasetCount promptCount",
    "Project": "id name description gradientStartColor gradientEndColor createdAt updatedAt startTime endTime "
               "hasTraces recordCount traceCount tokenCountTotal tokenCountPrompt tokenCountCompletion costSummary "
               "latencyMsQuantile spanLatencyMsQuantile trace spans sessions sessionCount spanAnnotationNames "
               "traceAnnotationNames traces",
    "Trace": "id traceId startTime endTime latencyMs project projectId projectSessionId session rootSpan numSpans "
             "spans traceAnnotations",
    "Span": "id spanId name statusCode statusMessage startTime endTime latencyMs parentId spanKind trace project "
            "context attributes metadata numDocuments tokenCountTotal tokenCountPrompt tokenCountCompletion input "
            "output events spanAnnotations spanNotes numChildSpans descendants",
    "SpanAnnotation": "id name annotatorKind label score explanation metadata source identifier createdAt "
                      "updatedAt spanId span",
    "TraceAnnotation": "id name annotatorKind label score explanation metadata source identifier createdAt "
                       "updatedAt trace",
    "ProjectSessionAnnotation": "id name annotatorKind label score explanation metadata source identifier "
                                "createdAt updatedAt projectSessionId",
    "ProjectSession": "id sessionId startTime endTime project numTraces tokenUsage traces firstInput lastOutput "
                      "sessionAnnotations",
    "Dataset": "id name description metadata createdAt updatedAt exampleCount examples versions experimentCount "
               "experiments splits labels",
    "DatasetVersion": "id description metadata createdAt",
    "DatasetExample": "id externalId createdAt dataset revision datasetSplits",
    "DatasetExampleRevision": "input output metadata revisionKind createdAt",
    "Experiment": "id name projectName description isEphemeral repetitions dataset metadata createdAt updatedAt "
                  "runs runCount errorRate averageRunLatencyMs",
    "ExperimentRun": "id experimentId repetitionNumber traceId output startTime endTime error latencyMs "
                     "annotations example",
    "ExperimentRunAnnotation": "id name annotatorKind label score explanation metadata error",
    "Prompt": "id sourcePromptId name description metadata createdAt version versionTags promptVersions",
    "PromptVersion": "id description templateType templateFormat modelName modelProvider metadata createdAt "
                     "sequenceNumber isLatest tags previousVersion",
    "PromptVersionTag": "id name description promptVersionId",
    "SpanIOValue": "value mimeType",
    "SpanEvent": "name message timestamp attributes",
    "SpanContext": "traceId spanId",
    "TokenUsage": "prompt completion total",
    "SpanCostSummary": "prompt completion total",
    "CostBreakdown": "tokens cost",
    "PageInfo": "hasNextPage hasPreviousPage startCursor endCursor",
}

# (type, field) -> Phoenix's type signature of the field; (type, field, arg) -> the argument's.
EXPECTED_SIGNATURES = {
    ("Query", "node"): "Node!",
    ("Query", "node", "id"): "ID!",
    ("Query", "getProjectByName"): "Project",
    ("Query", "getProjectByName", "name"): "String!",
    ("Query", "getSpanByOtelId"): "Span",
    ("Query", "getTraceByOtelId"): "Trace",
    ("Query", "getProjectSessionById"): "ProjectSession",
    ("Query", "projectCount"): "Int!",
    ("Query", "projects"): "ProjectConnection!",
    ("Query", "projects", "first"): "Int",
    ("Query", "projects", "after"): "String",
    ("Project", "name"): "String!",
    ("Project", "startTime"): "DateTime",
    ("Project", "recordCount"): "Int!",
    ("Project", "recordCount", "timeRange"): "TimeRange",
    ("Project", "latencyMsQuantile"): "Float",
    ("Project", "latencyMsQuantile", "probability"): "Float!",
    ("Project", "trace"): "Trace",
    ("Project", "trace", "traceId"): "ID!",
    ("Project", "spans", "first"): "Int!",
    ("Project", "spans", "sort"): "SpanSort",
    ("Project", "sessions", "first"): "Int!",
    ("Project", "spanAnnotationNames"): "[String!]!",
    ("Trace", "traceId"): "ID!",
    ("Trace", "rootSpan"): "Span",
    ("Trace", "numSpans"): "Int!",
    ("Trace", "spans", "first"): "Int!",
    ("Trace", "projectSessionId"): "ID",
    ("Span", "statusCode"): "SpanStatusCode!",
    ("Span", "statusMessage"): "String!",
    ("Span", "startTime"): "DateTime!",
    ("Span", "parentId"): "ID",
    ("Span", "spanKind"): "SpanKind!",
    ("Span", "attributes"): "String!",
    ("Span", "metadata"): "String",
    ("Span", "tokenCountTotal"): "Int",
    ("Span", "input"): "SpanIOValue",
    ("Span", "events"): "[SpanEvent!]!",
    ("Span", "spanAnnotations"): "[SpanAnnotation!]!",
    ("Span", "numChildSpans"): "Int!",
    ("SpanAnnotation", "metadata"): "JSON!",
    ("SpanAnnotation", "spanId"): "ID!",
    ("SpanAnnotation", "score"): "Float",
    ("ProjectSession", "traces", "first"): "Int!",
    ("Dataset", "metadata"): "JSON!",
    ("Dataset", "exampleCount"): "Int!",
    ("Dataset", "exampleCount", "datasetVersionId"): "ID",
    ("DatasetExample", "revision"): "DatasetExampleRevision!",
    ("DatasetExampleRevision", "input"): "JSON!",
    ("Experiment", "errorRate"): "Float",
    ("ExperimentRun", "output"): "JSON",
    ("Prompt", "name"): "Identifier!",
    ("Prompt", "version"): "PromptVersion!",
    ("Prompt", "version", "tagName"): "Identifier",
    ("PromptVersion", "modelName"): "String!",
    ("PromptVersion", "sequenceNumber"): "Int!",
    ("PromptVersion", "previousVersion"): "PromptVersion",
}

TYPE_REF = "kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }"


def render(t: dict) -> str:
    if t["kind"] == "NON_NULL":
        return render(t["ofType"]) + "!"
    if t["kind"] == "LIST":
        return "[" + render(t["ofType"]) + "]"
    return t["name"]


def introspect_type(cinder, name: str) -> dict:
    q = """query($name: String!) { __type(name: $name) {
      name kind
      fields { name type { %s } args { name defaultValue type { %s } } }
      inputFields { name type { %s } }
      enumValues { name }
      possibleTypes { name }
    } }""" % (TYPE_REF, TYPE_REF, TYPE_REF)
    t = gql(cinder, q, {"name": name})["__type"]
    assert t is not None, f"type {name} is not in the schema"
    return t


def test_schema_has_phoenix_fields_and_signatures(cinder):
    types = {name: introspect_type(cinder, name) for name in EXPECTED_FIELDS}
    missing = {}
    for name, fields in EXPECTED_FIELDS.items():
        have = {f["name"] for f in types[name]["fields"] or []}
        lacking = set(fields.split()) - have
        if lacking:
            missing[name] = sorted(lacking)
    assert not missing, f"fields missing from the schema: {missing}"

    wrong = {}
    for key, want in EXPECTED_SIGNATURES.items():
        type_name, field_name = key[0], key[1]
        t = types.get(type_name) or introspect_type(cinder, type_name)
        field = next(f for f in t["fields"] if f["name"] == field_name)
        if len(key) == 2:
            got = render(field["type"])
        else:
            arg = next((a for a in field["args"] if a["name"] == key[2]), None)
            got = render(arg["type"]) if arg else "<no such argument>"
        if got != want:
            wrong[".".join(key)] = f"{got} (Phoenix: {want})"
    assert not wrong, f"signatures that differ from Phoenix's: {wrong}"

    # Phoenix's argument defaults for descendants.
    desc = next(f for f in types["Span"]["fields"] if f["name"] == "descendants")
    defaults = {a["name"]: a["defaultValue"] for a in desc["args"]}
    assert defaults.get("maxDepth") == "3" and defaults.get("first") == "50", defaults


def test_schema_enums_scalars_inputs_and_node(cinder):
    def enum(name: str) -> set[str]:
        t = introspect_type(cinder, name)
        assert t["kind"] == "ENUM", t
        return {v["name"] for v in t["enumValues"]}

    assert enum("SpanKind") >= {"llm", "chain", "tool", "retriever", "embedding", "agent", "reranker",
                                "evaluator", "guardrail", "prompt", "unknown"}
    assert enum("SpanStatusCode") == {"OK", "ERROR", "UNSET"}
    assert enum("MimeType") == {"text", "json"}
    assert enum("SortDir") == {"asc", "desc"}
    assert enum("SpanColumn") >= {"startTime", "endTime"}
    assert enum("AnnotatorKind") == {"LLM", "HUMAN", "CODE"}
    assert enum("AnnotationSource") >= {"API", "APP"}
    assert enum("PromptTemplateType") == {"STRING", "CHAT"}
    assert enum("PromptTemplateFormat") == {"MUSTACHE", "F_STRING", "NONE"}
    assert enum("RevisionKind") == {"CREATE", "PATCH", "DELETE"}
    for scalar in ("ID", "DateTime", "JSON", "Identifier"):
        assert introspect_type(cinder, scalar)["kind"] == "SCALAR", scalar
    tr = introspect_type(cinder, "TimeRange")
    assert tr["kind"] == "INPUT_OBJECT"
    assert {f["name"]: render(f["type"]) for f in tr["inputFields"]} == {"start": "DateTime", "end": "DateTime"}
    sort = introspect_type(cinder, "SpanSort")
    assert {f["name"]: render(f["type"]) for f in sort["inputFields"]}.items() >= {
        ("col", "SpanColumn"), ("dir", "SortDir!")}
    node = introspect_type(cinder, "Node")
    assert node["kind"] == "INTERFACE"
    assert {f["name"] for f in node["fields"]} == {"id"}
    assert {t["name"] for t in node["possibleTypes"]} >= {
        "Project", "Trace", "Span", "ProjectSession", "Dataset", "DatasetVersion", "DatasetExample",
        "Experiment", "ExperimentRun", "Prompt", "PromptVersion", "SpanAnnotation"}
    root = gql(cinder, "{ __schema { queryType { name } } }")
    assert root["__schema"]["queryType"]["name"] == "Query"


# ==================================================================================================
# Projects
# ==================================================================================================


def test_projects_connection_matches_rest(cinder, client):
    for _ in range(2):
        client.projects.create(name=unique_name("gql-list"))
    q = f"""query($first: Int!, $after: String) {{
      projects(first: $first, after: $after) {{ edges {{ cursor node {{ id name }} }} {PAGE_INFO} }}
    }}"""
    nodes, sizes = walk(cinder, q, {}, lambda d: d["projects"], first=7)
    ids = [n["id"] for n in nodes]
    assert len(ids) == len(set(ids)), "a project was listed twice"
    assert all(gid_type(i) == "Project" for i in ids)
    rest = rest_all(cinder, "/v1/projects")
    # Same set as REST (which, like Phoenix, leaves out experiment projects), same ids and names.
    assert {n["id"]: n["name"] for n in nodes} == {p["id"]: p["name"] for p in rest}
    assert gql(cinder, "{ projectCount }")["projectCount"] == len(nodes)
    assert sizes[-1] <= 7 and all(s == 7 for s in sizes[:-1])


def test_project_lookup_fields_and_ids(cinder, client, metrics):
    pid = rest_project_id(client, metrics.project)
    q = """query($name: String!, $id: ID!) {
      byName: getProjectByName(name: $name) {
        id name description gradientStartColor gradientEndColor createdAt updatedAt startTime endTime hasTraces
      }
      byId: node(id: $id) { __typename id ... on Project { name } }
    }"""
    d = gql(cinder, q, {"name": metrics.project, "id": pid})
    p = d["byName"]
    assert p["id"] == pid
    assert parse_gid(pid)[0] == "Project"
    assert d["byId"] == {"__typename": "Project", "id": pid, "name": metrics.project}
    assert p["name"] == metrics.project
    assert p["description"] is None  # created by ingestion
    assert isinstance(p["gradientStartColor"], str) and p["gradientStartColor"]
    assert isinstance(p["gradientEndColor"], str) and p["gradientEndColor"]
    assert_recent(p["createdAt"])
    assert dt_us(p["updatedAt"]) >= dt_us(p["createdAt"])
    assert p["hasTraces"] is True
    # Phoenix rounds the project's time span out to whole minutes; it must cover every span.
    first_start = min(s.start_time for s in metrics.spans.values()) // 1000
    last_end = max(s.end_time for s in metrics.spans.values()) // 1000
    assert first_start - 60_000_000 <= dt_us(p["startTime"]) <= first_start
    assert last_end <= dt_us(p["endTime"]) <= last_end + 120_000_000


def test_project_created_through_rest_is_empty(cinder, client):
    name = unique_name("gql-empty")
    created = client.projects.create(name=name, description="nothing here yet")
    q = f"""query($name: String!) {{ getProjectByName(name: $name) {{
      id name description hasTraces recordCount traceCount tokenCountTotal tokenCountPrompt tokenCountCompletion
      startTime endTime sessionCount spanAnnotationNames traceAnnotationNames
      latencyMsQuantile(probability: 0.5) spanLatencyMsQuantile(probability: 0.5)
      spans(first: 5) {{ edges {{ cursor }} {PAGE_INFO} }}
      traces(first: 5) {{ edges {{ cursor }} {PAGE_INFO} }}
      sessions(first: 5) {{ edges {{ cursor }} {PAGE_INFO} }}
    }} }}"""
    p = gql(cinder, q, {"name": name})["getProjectByName"]
    assert p["id"] == created["id"]
    assert (p["name"], p["description"]) == (name, "nothing here yet")
    assert p["hasTraces"] is False
    assert (p["recordCount"], p["traceCount"], p["sessionCount"]) == (0, 0, 0)
    assert (p["tokenCountTotal"], p["tokenCountPrompt"], p["tokenCountCompletion"]) == (0, 0, 0)
    assert p["startTime"] is None and p["endTime"] is None
    assert p["latencyMsQuantile"] is None and p["spanLatencyMsQuantile"] is None
    assert p["spanAnnotationNames"] == [] and p["traceAnnotationNames"] == []
    for conn in ("spans", "traces", "sessions"):
        assert p[conn]["edges"] == [], conn
        check_page_info(p[conn], first_page=True)


def test_project_counts_tokens_and_costs(cinder, metrics):
    q = """query($name: String!) { getProjectByName(name: $name) {
      recordCount traceCount tokenCountTotal tokenCountPrompt tokenCountCompletion sessionCount
      costSummary { prompt { tokens cost } completion { tokens cost } total { tokens cost } }
    } }"""
    p = gql(cinder, q, {"name": metrics.project})["getProjectByName"]
    assert p["recordCount"] == 9
    assert p["traceCount"] == 5
    assert p["sessionCount"] == 2
    assert p["tokenCountPrompt"] == sum(PROMPT) == 150
    assert p["tokenCountCompletion"] == sum(COMPLETION) == 15
    assert p["tokenCountTotal"] == 165
    cost = p["costSummary"]
    assert cost["prompt"]["cost"] == pytest.approx(sum(PROMPT_COST))
    assert cost["completion"]["cost"] == pytest.approx(sum(COMPLETION_COST))
    assert cost["total"]["cost"] == pytest.approx(sum(PROMPT_COST) + sum(COMPLETION_COST))
    assert cost["prompt"]["tokens"] == pytest.approx(150)
    assert cost["completion"]["tokens"] == pytest.approx(15)
    assert cost["total"]["tokens"] == pytest.approx(165)


def test_project_time_ranges_are_start_inclusive_end_exclusive(cinder, metrics):
    s = metrics.starts
    q = """query($name: String!, $tr: TimeRange) { getProjectByName(name: $name) {
      recordCount(timeRange: $tr) traceCount(timeRange: $tr)
      tokenCountTotal(timeRange: $tr) tokenCountPrompt(timeRange: $tr) tokenCountCompletion(timeRange: $tr)
      costSummary(timeRange: $tr) { total { cost } }
      spans(first: 50, timeRange: $tr) { edges { node { spanId } } }
    } }"""

    def run(start: Optional[int], end: Optional[int]) -> dict:
        tr = {}
        if start is not None:
            tr["start"] = ns_to_iso(start)
        if end is not None:
            tr["end"] = ns_to_iso(end)
        return gql(cinder, q, {"name": metrics.project, "tr": tr})["getProjectByName"]

    # [start of trace 1, start of trace 3): traces 1 and 2 with their children; trace 3's root starts
    # exactly at the end (excluded), trace 1's root exactly at the start (included).
    p = run(s[1], s[3])
    assert (p["recordCount"], p["traceCount"]) == (4, 2)
    assert {n["spanId"] for n in edge_nodes(p["spans"])} == {metrics.sid(x) for x in ("r1", "c1", "r2", "c2")}
    assert (p["tokenCountPrompt"], p["tokenCountCompletion"], p["tokenCountTotal"]) == (60, 6, 66)
    assert p["costSummary"]["total"]["cost"] == pytest.approx(PROMPT_COST[1] + PROMPT_COST[2]
                                                              + COMPLETION_COST[1] + COMPLETION_COST[2])
    # One microsecond later on both ends: trace 1's root drops out, trace 3's root comes in.
    p = run(s[1] + 1000, s[3] + 1000)
    assert {n["spanId"] for n in edge_nodes(p["spans"])} == {metrics.sid(x) for x in ("c1", "r2", "c2", "r3")}
    assert (p["recordCount"], p["traceCount"]) == (4, 2)  # traces 2 and 3
    # Open-ended ranges.
    p = run(s[4], None)
    assert (p["recordCount"], p["traceCount"]) == (1, 1)
    p = run(None, s[0] + 1000)
    assert (p["recordCount"], p["traceCount"]) == (1, 1)
    assert [n["spanId"] for n in edge_nodes(p["spans"])] == [metrics.sid("r0")]
    p = run(None, None)
    assert (p["recordCount"], p["traceCount"]) == (9, 5)
    p = run(s[4] + 1000, None)
    assert (p["recordCount"], p["traceCount"], p["tokenCountTotal"]) == (0, 0, 0)
    assert p["spans"]["edges"] == []


def test_latency_quantiles(cinder, metrics):
    roots = [metrics.spans[f"r{i}"] for i in range(5)]
    trace_ms = [(r.end_time - r.start_time) / MS for r in roots]
    span_ms = [(x.end_time - x.start_time) / MS for x in metrics.spans.values()]
    assert sorted(trace_ms) == LATENCY_MS and len(span_ms) == 9
    q = """query($name: String!, $early: TimeRange, $future: TimeRange) { getProjectByName(name: $name) {
      p50: latencyMsQuantile(probability: 0.5)
      p25: latencyMsQuantile(probability: 0.25)
      p75: latencyMsQuantile(probability: 0.75)
      p100: latencyMsQuantile(probability: 1.0)
      early50: latencyMsQuantile(probability: 0.5, timeRange: $early)
      none50: latencyMsQuantile(probability: 0.5, timeRange: $future)
      span50: spanLatencyMsQuantile(probability: 0.5)
      span25: spanLatencyMsQuantile(probability: 0.25)
      early_span50: spanLatencyMsQuantile(probability: 0.5, timeRange: $early)
    } }"""
    s = metrics.starts
    p = gql(cinder, q, {"name": metrics.project,
                        "early": {"start": ns_to_iso(s[0]), "end": ns_to_iso(s[3])},
                        "future": {"start": ns_to_iso(s[4] + 1000)}})["getProjectByName"]
    # Odd counts, so the median is one of the values whatever the interpolation.
    assert statistics.median(trace_ms) == 300
    assert p["p50"] == pytest.approx(300)
    assert p["p25"] == pytest.approx(200)
    assert p["p75"] == pytest.approx(400)
    assert p["p100"] == pytest.approx(max(trace_ms))
    assert statistics.median(trace_ms[:3]) == 200
    assert p["early50"] == pytest.approx(200)
    assert p["none50"] is None
    # Spans: five roots (100..500 ms) and four 10 ms children.
    assert statistics.median(span_ms) == 100
    assert p["span50"] == pytest.approx(100)
    assert p["span25"] == pytest.approx(CHILD_MS)
    # Traces 0..2: six spans (10, 10, 10, 100, 200, 300 ms); the median lies between 10 and 100
    # (55 interpolated, 10 nearest-rank), so only the bounds are checked.
    assert CHILD_MS <= p["early_span50"] <= 100


# ==================================================================================================
# Project spans and traces: order, sort, pagination
# ==================================================================================================

SPANS_PAGE = f"""query($name: String!, $first: Int!, $after: String, $sort: SpanSort, $tr: TimeRange) {{
  getProjectByName(name: $name) {{
    spans(first: $first, after: $after, sort: $sort, timeRange: $tr) {{
      edges {{ cursor node {{ id spanId name startTime endTime }} }} {PAGE_INFO}
    }}
  }}
}}"""


def _spans_conn(d: dict) -> dict:
    return d["getProjectByName"]["spans"]


def test_project_spans_pagination_visits_every_span_once(cinder, paged):
    project, spans = paged
    nodes, sizes = walk(cinder, SPANS_PAGE, {"name": project}, _spans_conn, first=10)
    assert sizes == [10, 10, 5]
    got = [n["spanId"] for n in nodes]
    assert len(set(got)) == 25
    assert set(got) == {hex_span_id(s) for s in spans.values()}
    # Default order: newest start first.
    assert got == [hex_span_id(spans[i]) for i in reversed(range(25))]
    # After the last page's endCursor: an empty page.
    cursor, flags = None, []
    for _ in range(3):
        conn = _spans_conn(gql(cinder, SPANS_PAGE, {"name": project, "first": 10, "after": cursor}))
        flags.append(conn["pageInfo"]["hasNextPage"])
        cursor = conn["pageInfo"]["endCursor"]
    assert flags == [True, True, False]
    beyond = _spans_conn(gql(cinder, SPANS_PAGE, {"name": project, "first": 10, "after": cursor}))
    assert beyond["edges"] == [], beyond
    check_page_info(beyond, first_page=False)
    # A page exactly as large as what is left: no next page.
    conn = _spans_conn(gql(cinder, SPANS_PAGE, {"name": project, "first": 25, "after": None}))
    assert len(conn["edges"]) == 25 and conn["pageInfo"]["hasNextPage"] is False


def test_project_spans_sort_with_pagination(cinder, paged):
    project, spans = paged
    asc_ids = [hex_span_id(spans[i]) for i in range(25)]
    for sort, want in (({"col": "startTime", "dir": "asc"}, asc_ids),
                       ({"col": "startTime", "dir": "desc"}, asc_ids[::-1]),
                       ({"col": "endTime", "dir": "asc"}, asc_ids),
                       ({"col": "endTime", "dir": "desc"}, asc_ids[::-1])):
        nodes, sizes = walk(cinder, SPANS_PAGE, {"name": project, "sort": sort}, _spans_conn, first=7)
        assert sizes == [7, 7, 7, 4], sort
        assert [n["spanId"] for n in nodes] == want, sort
    # Sort given as a literal in the document.
    q = """query($name: String!) { getProjectByName(name: $name) {
      spans(first: 3, sort: {col: startTime, dir: asc}) { edges { node { name } } } } }"""
    got = gql(cinder, q, {"name": project})["getProjectByName"]["spans"]
    assert [n["name"] for n in edge_nodes(got)] == ["span-00", "span-01", "span-02"]


def test_project_spans_sort_by_latency_tokens_and_cost_with_pagination(cinder, client):
    """Computed keys with ties (broken by row id, which follows start time here) and missing token counts
    (sorted as 0); cursors carry the key, so every span is visited once in order."""
    project = unique_name("gql-sort")
    pipe = make_tracer_provider(None, project, None)
    t0 = (int(time.time()) - 5400) * NS
    latency_ms = [(i * 3) % 7 * 10 + 1 for i in range(20)]
    prompt = [None if i % 4 == 0 else (i * 3) % 5 * 10 for i in range(20)]
    completion = [None if i % 4 == 0 else i % 3 for i in range(20)]
    # Costs that are not exact in binary, with ties and spans without one.
    cost = [None if i % 5 == 0 else round((i * 7) % 4 * 0.1 + 0.001 * (i % 2), 3) for i in range(20)]
    live = {}
    for i in range(20):
        attributes = {"openinference.span.kind": "LLM"}
        if prompt[i] is not None:
            attributes |= {"llm.token_count.prompt": prompt[i], "llm.token_count.completion": completion[i]}
        if cost[i] is not None:
            attributes["llm.cost.total"] = cost[i]
        live[i] = _span(pipe.tracer, f"s{i:02d}", t0 + i * NS, t0 + i * NS + latency_ms[i] * MS, None, attributes)
    spans = readable(pipe, live)
    post_in_start_order(cinder, spans.values())
    wait_ingested(client, project, 20)
    keys = {
        "latencyMs": latency_ms,
        "tokenCountPrompt": [p or 0 for p in prompt],
        "tokenCountCompletion": [c or 0 for c in completion],
        "tokenCountTotal": [(p or 0) + (c or 0) for p, c in zip(prompt, completion)],
        "tokenCostTotal": [c or 0 for c in cost],
    }
    for column, key in keys.items():
        ascending = [hex_span_id(spans[i]) for i in sorted(range(20), key=lambda i: (key[i], i))]
        for direction, want in (("asc", ascending), ("desc", ascending[::-1])):
            nodes, sizes = walk(cinder, SPANS_PAGE, {"name": project, "sort": {"col": column, "dir": direction}},
                                _spans_conn, first=6)
            assert sizes == [6, 6, 6, 2], (column, direction)
            assert [n["spanId"] for n in nodes] == want, (column, direction)
    body = gql_errors(cinder, SPANS_PAGE, {"name": project, "first": 5, "sort": {"col": "cumulativeTokenCountTotal", "dir": "asc"}})
    assert "not supported" in body["errors"][0]["message"]


def test_project_spans_time_range_with_pagination(cinder, client, paged):
    project, spans = paged
    tr = {"start": ns_to_iso(spans[5].start_time), "end": ns_to_iso(spans[15].start_time)}
    nodes, sizes = walk(cinder, SPANS_PAGE, {"name": project, "tr": tr,
                                             "sort": {"col": "startTime", "dir": "asc"}}, _spans_conn, first=4)
    assert sizes == [4, 4, 2]
    assert [n["spanId"] for n in nodes] == [hex_span_id(spans[i]) for i in range(5, 15)]
    for n in nodes:
        i = int(n["name"].split("-")[1])
        assert dt_us(n["startTime"]) == spans[i].start_time // 1000
        assert dt_us(n["endTime"]) == spans[i].end_time // 1000
    q = "query($name: String!, $tr: TimeRange) { getProjectByName(name: $name) { recordCount(timeRange: $tr) } }"
    assert gql(cinder, q, {"name": project, "tr": tr})["getProjectByName"]["recordCount"] == 10
    # The span ids are the REST ids.
    rest = {s["context"]["span_id"]: s["id"] for s in client.spans.get_spans(project_identifier=project, limit=100)}
    assert {n["spanId"]: n["id"] for n in nodes} == {k: rest[k] for k in (n["spanId"] for n in nodes)}


def test_project_traces_newest_first(cinder, client, metrics):
    q = f"""query($name: String!, $first: Int!, $after: String, $tr: TimeRange) {{
      getProjectByName(name: $name) {{
        traces(first: $first, after: $after, timeRange: $tr) {{
          edges {{ cursor node {{ id traceId startTime }} }} {PAGE_INFO}
        }}
      }}
    }}"""
    extract = lambda d: d["getProjectByName"]["traces"]  # noqa: E731
    nodes, sizes = walk(cinder, q, {"name": metrics.project}, extract, first=2)
    assert sizes == [2, 2, 1]
    assert [n["traceId"] for n in nodes] == [metrics.tid(f"r{i}") for i in (4, 3, 2, 1, 0)]
    rest = {t["trace_id"]: t["id"] for t in client.traces.get_traces(project_identifier=metrics.project)}
    assert {n["traceId"]: n["id"] for n in nodes} == rest
    for n in nodes:
        assert gid_type(n["id"]) == "Trace"
    s = metrics.starts
    nodes, _ = walk(cinder, q, {"name": metrics.project, "tr": {"start": ns_to_iso(s[1]), "end": ns_to_iso(s[3])}},
                    extract, first=10)
    assert [n["traceId"] for n in nodes] == [metrics.tid("r2"), metrics.tid("r1")]
    assert [dt_us(n["startTime"]) for n in nodes] == [s[2] // 1000, s[1] // 1000]


# ==================================================================================================
# Traces and sessions
# ==================================================================================================

TRACE_FIELDS = f"""
  id traceId startTime endTime latencyMs numSpans projectId projectSessionId
  project {{ id name }}
  session {{ id sessionId }}
  rootSpan {{ id spanId name parentId }}
  spans(first: 10) {{ edges {{ node {{ spanId parentId }} }} {PAGE_INFO} }}
  traceAnnotations {{ id name }}
"""


def test_project_traces_sorted_by_latency_and_filtered_by_root_span(cinder, metrics):
    q = f"""query($name: String!, $first: Int!, $after: String, $sort: SpanSort, $filter: String) {{
      getProjectByName(name: $name) {{
        traces(first: $first, after: $after, sort: $sort, filterCondition: $filter) {{
          edges {{ cursor node {{ traceId latencyMs }} }} {PAGE_INFO} }} }} }}"""
    conn = lambda d: d["getProjectByName"]["traces"]
    by_latency = [metrics.tid(f"r{i}") for i in range(5)]  # LATENCY_MS grows with i
    for direction, want in (("asc", by_latency), ("desc", by_latency[::-1])):
        nodes, sizes = walk(cinder, q, {"name": metrics.project, "sort": {"col": "latencyMs", "dir": direction}}, conn, first=2)
        assert sizes == [2, 2, 1] and [n["traceId"] for n in nodes] == want, direction
    # The condition is on each trace's root span (a CHAIN lasting LATENCY_MS[i]).
    nodes, _ = walk(cinder, q, {"name": metrics.project, "filter": "latency_ms > 250"}, conn, first=2)
    assert [n["traceId"] for n in nodes] == [metrics.tid(f"r{i}") for i in (4, 3, 2)]
    nodes, _ = walk(cinder, q, {"name": metrics.project, "filter": "span_kind == 'LLM'"}, conn, first=2)
    assert nodes == []  # LLM spans are children, never roots
    body = gql_errors(cinder, q, {"name": metrics.project, "first": 2, "filter": "latency_ms >"})
    assert "unexpected end of condition" in body["errors"][0]["message"]
    body = gql_errors(cinder, q, {"name": metrics.project, "first": 2, "sort": {"col": "tokenCountTotal", "dir": "asc"}})
    assert "not supported" in body["errors"][0]["message"]


def test_trace_fields_and_ids(cinder, client, metrics):
    pid = rest_project_id(client, metrics.project)
    rest_traces = {t["trace_id"]: t for t in client.traces.get_traces(project_identifier=metrics.project)}
    sess_a = client.sessions.get(session_id=metrics.sess_a)
    q = f"""query($tid: String!, $pname: String!, $otel: ID!) {{
      getTraceByOtelId(traceId: $tid) {{ {TRACE_FIELDS} }}
      getProjectByName(name: $pname) {{ trace(traceId: $otel) {{ id traceId }} }}
    }}"""
    d = gql(cinder, q, {"tid": metrics.tid("r0"), "pname": metrics.project, "otel": metrics.tid("r0")})
    t = d["getTraceByOtelId"]
    root, child = metrics.spans["r0"], metrics.spans["c0"]
    assert t["id"] == rest_traces[metrics.tid("r0")]["id"]
    assert d["getProjectByName"]["trace"] == {"id": t["id"], "traceId": metrics.tid("r0")}
    assert t["traceId"] == metrics.tid("r0")
    assert dt_us(t["startTime"]) == root.start_time // 1000
    assert dt_us(t["endTime"]) == root.end_time // 1000
    assert t["latencyMs"] == pytest.approx(LATENCY_MS[0])
    assert t["numSpans"] == 2
    assert t["project"] == {"id": pid, "name": metrics.project}
    assert t["projectId"] == pid
    assert t["projectSessionId"] == sess_a["id"]
    assert t["session"] == {"id": sess_a["id"], "sessionId": metrics.sess_a}
    assert gid_type(t["rootSpan"]["id"]) == "Span"
    assert t["rootSpan"] == {"id": t["rootSpan"]["id"], "spanId": metrics.sid("r0"), "name": "agent", "parentId": None}
    # Newest first.
    assert [n["spanId"] for n in edge_nodes(t["spans"])] == [metrics.sid("c0"), metrics.sid("r0")]
    assert edge_nodes(t["spans"])[0]["parentId"] == metrics.sid("r0")
    assert t["spans"]["pageInfo"]["hasNextPage"] is False
    assert t["traceAnnotations"] == []
    assert hex_span_id(child) == metrics.sid("c0")

    # A trace without a session, and without children.
    t4 = gql(cinder, f"query($tid: String!) {{ getTraceByOtelId(traceId: $tid) {{ {TRACE_FIELDS} }} }}",
             {"tid": metrics.tid("r4")})["getTraceByOtelId"]
    assert t4["projectSessionId"] is None and t4["session"] is None
    assert t4["numSpans"] == 1
    assert t4["latencyMs"] == pytest.approx(500)
    # node(id:) resolves the trace's global id.
    n = gql(cinder, "query($id: ID!) { node(id: $id) { __typename ... on Trace { traceId numSpans } } }",
            {"id": t["id"]})["node"]
    assert n == {"__typename": "Trace", "traceId": metrics.tid("r0"), "numSpans": 2}


def test_trace_spans_pagination(cinder, metrics):
    q = f"""query($tid: String!, $first: Int!, $after: String) {{
      getTraceByOtelId(traceId: $tid) {{
        spans(first: $first, after: $after) {{ edges {{ cursor node {{ spanId }} }} {PAGE_INFO} }}
      }}
    }}"""
    nodes, sizes = walk(cinder, q, {"tid": metrics.tid("r1")}, lambda d: d["getTraceByOtelId"]["spans"], first=1)
    assert sizes == [1, 1]
    assert [n["spanId"] for n in nodes] == [metrics.sid("c1"), metrics.sid("r1")]


def test_sessions(cinder, client, metrics):
    rest_a = client.sessions.get(session_id=metrics.sess_a)
    rest_b = client.sessions.get(session_id=metrics.sess_b)
    q = f"""query($name: String!, $first: Int!, $after: String) {{
      getProjectByName(name: $name) {{
        sessionCount
        sessions(first: $first, after: $after) {{ edges {{ cursor node {{ id sessionId }} }} {PAGE_INFO} }}
      }}
    }}"""
    nodes, sizes = walk(cinder, q, {"name": metrics.project}, lambda d: d["getProjectByName"]["sessions"], first=1)
    assert sizes == [1, 1]
    assert {n["sessionId"]: n["id"] for n in nodes} == {metrics.sess_a: rest_a["id"], metrics.sess_b: rest_b["id"]}

    fields = """id sessionId startTime endTime numTraces project { name }
      tokenUsage { prompt completion total }
      traces(first: 10) { edges { node { traceId } } }
      firstInput { value mimeType } lastOutput { value mimeType } sessionAnnotations { id }"""
    q = f"""query($a: String!, $b: String!, $missing: String!) {{
      a: getProjectSessionById(sessionId: $a) {{ {fields} }}
      b: getProjectSessionById(sessionId: $b) {{ {fields} }}
      missing: getProjectSessionById(sessionId: $missing) {{ id }}
    }}"""
    d = gql(cinder, q, {"a": metrics.sess_a, "b": metrics.sess_b, "missing": unique_name("no-session")})
    a, b = d["a"], d["b"]
    assert d["missing"] is None
    assert a["id"] == rest_a["id"] and gid_type(a["id"]) == "ProjectSession"
    assert a["sessionId"] == metrics.sess_a
    assert a["project"] == {"name": metrics.project}
    assert a["numTraces"] == 2
    assert a["tokenUsage"] == {"prompt": 30, "completion": 3, "total": 33}
    assert dt_us(a["startTime"]) == metrics.spans["r0"].start_time // 1000
    assert dt_us(a["endTime"]) == metrics.spans["r1"].end_time // 1000
    assert [n["traceId"] for n in edge_nodes(a["traces"])] == [metrics.tid("r0"), metrics.tid("r1")]  # start asc
    assert a["firstInput"] == {"value": "question 0", "mimeType": "text"}
    assert a["lastOutput"] == {"value": "answer 1", "mimeType": "text"}
    assert a["sessionAnnotations"] == []
    assert b["id"] == rest_b["id"]
    assert b["numTraces"] == 1
    assert b["tokenUsage"] == {"prompt": 40, "completion": 4, "total": 44}
    assert [n["traceId"] for n in edge_nodes(b["traces"])] == [metrics.tid("r2")]
    assert b["firstInput"]["value"] == "question 2" and b["lastOutput"]["value"] == "answer 2"

    # Time range: [base, base + 15 s) holds all of session A and none of session B (whatever the semantics:
    # session start, trace start or interval overlap).
    tr = {"start": ns_to_iso(metrics.base_ns), "end": ns_to_iso(metrics.base_ns + 15 * NS)}
    q = """query($name: String!, $tr: TimeRange) { getProjectByName(name: $name) {
      sessionCount(timeRange: $tr) sessions(first: 10, timeRange: $tr) { edges { node { sessionId } } } } }"""
    p = gql(cinder, q, {"name": metrics.project, "tr": tr})["getProjectByName"]
    assert p["sessionCount"] == 1
    assert [n["sessionId"] for n in edge_nodes(p["sessions"])] == [metrics.sess_a]
    n = gql(cinder, "query($id: ID!) { node(id: $id) { __typename ... on ProjectSession { sessionId numTraces } } }",
            {"id": a["id"]})["node"]
    assert n == {"__typename": "ProjectSession", "sessionId": metrics.sess_a, "numTraces": 2}


def test_lookups_of_unknown_ids_are_null(cinder, metrics):
    q = """query($name: String!, $sid: String!, $tid: String!, $sess: String!, $pname: String!, $otel: ID!) {
      getProjectByName(name: $name) { id }
      getSpanByOtelId(spanId: $sid) { id }
      getTraceByOtelId(traceId: $tid) { id }
      getProjectSessionById(sessionId: $sess) { id }
      known: getProjectByName(name: $pname) { trace(traceId: $otel) { id } }
    }"""
    d = gql(cinder, q, {"name": unique_name("no-project"), "sid": uuid.uuid4().hex[:16],
                        "tid": uuid.uuid4().hex, "sess": unique_name("no-session"),
                        "pname": metrics.project, "otel": uuid.uuid4().hex})
    assert d == {"getProjectByName": None, "getSpanByOtelId": None, "getTraceByOtelId": None,
                 "getProjectSessionById": None, "known": {"trace": None}}
    # A trace of another project is not found through this one.
    other = gql(cinder, q, {"name": "default", "sid": "0" * 16, "tid": "0" * 32, "sess": "x",
                            "pname": "default", "otel": metrics.tid("r0")})
    assert other["known"] == {"trace": None}


# ==================================================================================================
# Spans
# ==================================================================================================

SPAN_FIELDS = """
  id spanId name statusCode statusMessage startTime endTime latencyMs parentId spanKind
  context { traceId spanId } attributes metadata numDocuments
  tokenCountTotal tokenCountPrompt tokenCountCompletion
  input { value mimeType } output { value mimeType }
  trace { id traceId } project { id name } numChildSpans
"""


def get_span(cinder, span_id: str) -> dict:
    s = gql(cinder, f"query($id: String!) {{ getSpanByOtelId(spanId: $id) {{ {SPAN_FIELDS} }} }}",
            {"id": span_id})["getSpanByOtelId"]
    assert s is not None, span_id
    return s


def test_span_fields_round_trip(cinder, client, rich):
    pid = rest_project_id(client, rich.project)
    rest = {s["context"]["span_id"]: s for s in client.spans.get_spans(project_identifier=rich.project, limit=100)}
    rest_traces = {t["trace_id"]: t["id"] for t in client.traces.get_traces(project_identifier=rich.project)}
    expected = {
        # label: (spanKind, statusCode, statusMessage, parent, tokens (p, c, total), children)
        "root": ("chain", "OK", "", None, (None, None, None), 2),
        "llm": ("llm", "UNSET", "", "root", (12, 7, 19), 1),
        "retrieve": ("retriever", "UNSET", "", "llm", (None, None, None), 0),
        "tool": ("tool", "ERROR", "tool failed: unavailable", "root", (None, None, None), 0),
        "plain": ("unknown", "UNSET", "", None, (None, None, None), 0),
    }
    for label, (kind, status, message, parent, tokens, children) in expected.items():
        sdk = rich.spans[label]
        s = get_span(cinder, rich.sid(label))
        where = label
        assert s["id"] == rest[rich.sid(label)]["id"], where
        assert gid_type(s["id"]) == "Span", where
        assert s["spanId"] == rich.sid(label) and s["name"] == sdk.name, where
        assert s["context"] == {"traceId": rich.tid(label), "spanId": rich.sid(label)}, where
        assert s["trace"] == {"id": rest_traces[rich.tid(label)], "traceId": rich.tid(label)}, where
        assert s["project"] == {"id": pid, "name": rich.project}, where
        assert (s["spanKind"], s["statusCode"], s["statusMessage"]) == (kind, status, message), where
        assert s["parentId"] == (rich.sid(parent) if parent else None), where
        assert dt_us(s["startTime"]) == sdk.start_time // 1000, where
        assert dt_us(s["endTime"]) == sdk.end_time // 1000, where
        assert s["latencyMs"] == pytest.approx((sdk.end_time - sdk.start_time) / MS), where
        assert (s["tokenCountPrompt"], s["tokenCountCompletion"]) == tokens[:2], where
        if tokens[2] is None:  # Phoenix: null (older) or 0 (coalescing hybrid) for a span without tokens
            assert s["tokenCountTotal"] in (None, 0), where
        else:
            assert s["tokenCountTotal"] == tokens[2], where
        assert s["numChildSpans"] == children, where
        # attributes: a JSON string of the nested attributes.
        assert isinstance(s["attributes"], str), where
        attrs = json.loads(s["attributes"])
        assert isinstance(attrs, dict), where
        got = {k: v for k, v in flatten(attrs).items()
               if k != "openinference.span.kind" and not k.startswith("metadata")}
        want = {k: v for k, v in expected_attributes(sdk).items() if not k.startswith("metadata")}
        assert got == want, where

    root = get_span(cinder, rich.sid("root"))
    attrs = json.loads(root["attributes"])
    assert attrs["input"]["value"] == "What is the weather in Paris?"
    assert attrs["tag"]["tags"] == ["alpha", "beta", "gamma"]
    assert json.loads(root["metadata"]) == ROOT_METADATA
    assert root["input"] == {"value": "What is the weather in Paris?", "mimeType": "text"}
    assert root["output"] == {"value": ROOT_OUTPUT, "mimeType": "json"}
    llm = get_span(cinder, rich.sid("llm"))
    assert json.loads(llm["attributes"])["llm"]["token_count"] == {"prompt": 12, "completion": 7}
    assert llm["metadata"] is None
    assert llm["input"] == {"value": "weather Paris", "mimeType": "text"}
    assert llm["output"] is None
    retrieve = get_span(cinder, rich.sid("retrieve"))
    assert retrieve["numDocuments"] == 2
    docs = json.loads(retrieve["attributes"])["retrieval"]["documents"]
    assert [d["document"]["id"] for d in docs] == ["doc-0", "doc-1"]
    plain = get_span(cinder, rich.sid("plain"))
    assert plain["input"] is None and plain["output"] is None and plain["metadata"] is None
    assert plain["context"]["traceId"] != rich.tid("root")


def test_span_events(cinder, rich):
    q = """query($id: String!) { getSpanByOtelId(spanId: $id) { events { name message timestamp attributes } } }"""
    root_events = gql(cinder, q, {"id": rich.sid("root")})["getSpanByOtelId"]["events"]
    sdk_root = rich.spans["root"]
    assert [e["name"] for e in root_events] == ["retrieval-started", "checkpoint"]
    for got, want in zip(root_events, sdk_root.events):
        assert got["message"] == ""
        assert dt_us(got["timestamp"]) == want.timestamp // 1000
        assert isinstance(got["attributes"], dict), got
        assert flatten(got["attributes"]) == dict(want.attributes or {}), got
    tool_events = gql(cinder, q, {"id": rich.sid("tool")})["getSpanByOtelId"]["events"]
    (exc,) = tool_events
    want = rich.spans["tool"].events[0]
    assert exc["name"] == "exception"
    assert exc["message"] == "weather service unavailable"
    assert dt_us(exc["timestamp"]) == want.timestamp // 1000
    attrs = flatten(exc["attributes"])
    assert attrs["exception.type"] == "RuntimeError"
    assert attrs["exception.message"] == "weather service unavailable"
    assert gql(cinder, q, {"id": rich.sid("llm")})["getSpanByOtelId"]["events"] == []


def test_span_descendants(cinder, rich):
    q = """query($id: String!, $after: String) { getSpanByOtelId(spanId: $id) {
      numChildSpans
      depth1: descendants(maxDepth: 1) { edges { node { spanId } } }
      unlimited: descendants(maxDepth: 0) { edges { node { spanId } } }
      byDefault: descendants { edges { node { spanId } } }
      paged: descendants(first: 2, after: $after) { edges { cursor node { spanId } } %s }
    } }""" % PAGE_INFO

    def ids(conn: dict) -> set[str]:
        return {n["spanId"] for n in edge_nodes(conn)}

    root = gql(cinder, q, {"id": rich.sid("root")})["getSpanByOtelId"]
    children = {rich.sid("llm"), rich.sid("tool")}
    everything = children | {rich.sid("retrieve")}
    assert root["numChildSpans"] == 2
    assert ids(root["depth1"]) == children
    assert ids(root["unlimited"]) == everything
    assert ids(root["byDefault"]) == everything
    assert len(root["paged"]["edges"]) == 2 and root["paged"]["pageInfo"]["hasNextPage"] is True
    rest = gql(cinder, q, {"id": rich.sid("root"), "after": root["paged"]["pageInfo"]["endCursor"]})
    rest = rest["getSpanByOtelId"]["paged"]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert ids(root["paged"]) | ids(rest) == everything and not ids(root["paged"]) & ids(rest)

    llm = gql(cinder, q, {"id": rich.sid("llm")})["getSpanByOtelId"]
    assert ids(llm["unlimited"]) == {rich.sid("retrieve")} and llm["numChildSpans"] == 1
    leaf = gql(cinder, q, {"id": rich.sid("retrieve")})["getSpanByOtelId"]
    assert leaf["unlimited"]["edges"] == [] and leaf["numChildSpans"] == 0


def test_span_global_ids_work_in_node(cinder, client, rich):
    for s in client.spans.get_spans(project_identifier=rich.project, limit=100):
        q = """query($id: ID!) { node(id: $id) { __typename id
               ... on Span { spanId name trace { traceId } project { name } } } }"""
        n = gql(cinder, q, {"id": s["id"]})["node"]
        assert n == {"__typename": "Span", "id": s["id"], "spanId": s["context"]["span_id"], "name": s["name"],
                     "trace": {"traceId": s["context"]["trace_id"]}, "project": {"name": rich.project}}
    # The Trace node of the rich trace counts all four spans and finds its root.
    tid = rich.tid("root")
    t = gql(cinder, "query($t: String!) { getTraceByOtelId(traceId: $t) { numSpans rootSpan { spanId } } }",
            {"t": tid})["getTraceByOtelId"]
    assert t == {"numSpans": 4, "rootSpan": {"spanId": rich.sid("root")}}


# ==================================================================================================
# Annotations
# ==================================================================================================


@dataclass
class Small:
    project: str
    spans: dict
    session: str

    def sid(self, name: str) -> str:
        return hex_span_id(self.spans[name])

    def tid(self, name: str) -> str:
        return hex_trace_id(self.spans[name])


def ingest_small(cinder, client, prefix: str) -> Small:
    """root (CHAIN, in a session) -> llm (LLM)."""
    project = unique_name(prefix)
    session = f"gql-sess-{uuid.uuid4().hex[:8]}"
    pipe = make_tracer_provider(None, project, None)
    t = pipe.tracer
    with t.start_as_current_span("root", attributes={"openinference.span.kind": "CHAIN", "session.id": session,
                                                     "input.value": "hi", "output.value": "hello"}):
        with t.start_as_current_span("llm", attributes={"openinference.span.kind": "LLM"}):
            pass
    spans = pipe.finish()
    post_in_start_order(cinder, spans)
    wait_ingested(client, project, 2, (session,))
    return Small(project, {s.name: s for s in spans}, session)


ANNOTATION_FIELDS = "id name annotatorKind label score explanation metadata source identifier createdAt updatedAt"


def test_span_annotations_and_notes(cinder, client):
    d = ingest_small(cinder, client, "gql-ann")
    root, llm = d.sid("root"), d.sid("llm")
    metadata = {"model": "judge-1", "run": 3, "tags": ["a", "b"], "nested": {"ok": True}}
    first = client.spans.add_span_annotation(
        span_id=root, annotation_name="correctness", annotator_kind="LLM", label="correct", score=0.875,
        explanation="matches the reference", metadata=metadata, identifier="judge-1", sync=True)
    second = client.spans.add_span_annotation(span_id=llm, annotation_name="latency-ok", annotator_kind="CODE",
                                              score=1.0, sync=True)
    note = client.spans.add_span_note(span_id=root, note="looks fine to me")

    q = f"""query($root: String!, $llm: String!, $name: String!) {{
      root: getSpanByOtelId(spanId: $root) {{ id
        spanAnnotations {{ {ANNOTATION_FIELDS} spanId span {{ spanId }} }}
        spanNotes {{ id name explanation annotatorKind }} }}
      llm: getSpanByOtelId(spanId: $llm) {{ id spanAnnotations {{ {ANNOTATION_FIELDS} spanId }} }}
      getProjectByName(name: $name) {{ spanAnnotationNames traceAnnotationNames }}
    }}"""
    got = gql(cinder, q, {"root": root, "llm": llm, "name": d.project})
    r = got["root"]
    anns = [a for a in r["spanAnnotations"] if a["name"] != "note"]
    assert len(anns) == 1, r["spanAnnotations"]
    a = anns[0]
    assert a["id"] == first["id"] and gid_type(a["id"]) == "SpanAnnotation"
    assert (a["name"], a["annotatorKind"], a["label"], a["score"], a["explanation"]) == (
        "correctness", "LLM", "correct", 0.875, "matches the reference")
    assert a["metadata"] == metadata
    assert (a["source"], a["identifier"]) == ("API", "judge-1")
    assert a["spanId"] == r["id"]  # the span's global id, as in Phoenix
    assert a["span"] == {"spanId": root}
    assert_recent(a["createdAt"])
    assert dt_us(a["updatedAt"]) >= dt_us(a["createdAt"])

    (b,) = got["llm"]["spanAnnotations"]
    assert b["id"] == second["id"]
    assert (b["name"], b["annotatorKind"], b["label"], b["score"], b["explanation"]) == (
        "latency-ok", "CODE", None, 1.0, None)
    assert b["metadata"] == {} and b["identifier"] == ""
    assert b["spanId"] == got["llm"]["id"]

    (n,) = r["spanNotes"]
    assert n["id"] == note["id"]
    assert (n["name"], n["explanation"], n["annotatorKind"]) == ("note", "looks fine to me", "HUMAN")

    names = got["getProjectByName"]
    assert set(names["spanAnnotationNames"]) - {"note"} == {"correctness", "latency-ok"}
    assert len(names["spanAnnotationNames"]) == len(set(names["spanAnnotationNames"]))
    assert names["traceAnnotationNames"] == []

    # The annotation's global id works in node(id:).
    node = gql(cinder, f"query($id: ID!) {{ node(id: $id) {{ __typename ... on SpanAnnotation {{ name label "
                       f"span {{ spanId }} }} }} }}", {"id": first["id"]})["node"]
    assert node == {"__typename": "SpanAnnotation", "name": "correctness", "label": "correct",
                    "span": {"spanId": root}}

    # Upsert on (span, name, identifier): same id, new values.
    again = client.spans.add_span_annotation(span_id=root, annotation_name="correctness", annotator_kind="HUMAN",
                                             label="wrong", score=0.0, identifier="judge-1", sync=True)
    assert again["id"] == first["id"]
    anns = gql(cinder, f"query($root: String!) {{ getSpanByOtelId(spanId: $root) {{ spanAnnotations {{ id label "
                       f"score annotatorKind metadata }} }} }}", {"root": root})["getSpanByOtelId"]["spanAnnotations"]
    (a,) = [x for x in anns if x["id"] == first["id"]]
    assert (a["label"], a["score"], a["annotatorKind"], a["metadata"]) == ("wrong", 0.0, "HUMAN", {})


def test_trace_and_session_annotations(cinder, client):
    d = ingest_small(cinder, client, "gql-ann2")
    tid = d.tid("root")
    t_ann = client.traces.add_trace_annotation(trace_id=tid, annotation_name="helpfulness", annotator_kind="HUMAN",
                                               label="helpful", score=0.75, explanation="good answer",
                                               metadata={"rater": "bob"}, sync=True)
    s_ann = client.sessions.add_session_annotation(session_id=d.session, annotation_name="satisfaction",
                                                   annotator_kind="LLM", label="happy", score=0.5,
                                                   identifier="sat-1", sync=True)
    rest_session = client.sessions.get(session_id=d.session)
    q = f"""query($tid: String!, $sess: String!, $name: String!) {{
      getTraceByOtelId(traceId: $tid) {{ id traceAnnotations {{ {ANNOTATION_FIELDS} trace {{ traceId }} }} }}
      getProjectSessionById(sessionId: $sess) {{ id sessionAnnotations {{ {ANNOTATION_FIELDS} projectSessionId }} }}
      getProjectByName(name: $name) {{ traceAnnotationNames spanAnnotationNames }}
    }}"""
    got = gql(cinder, q, {"tid": tid, "sess": d.session, "name": d.project})
    (ta,) = got["getTraceByOtelId"]["traceAnnotations"]
    assert ta["id"] == t_ann["id"] and gid_type(ta["id"]) == "TraceAnnotation"
    assert (ta["name"], ta["annotatorKind"], ta["label"], ta["score"], ta["explanation"]) == (
        "helpfulness", "HUMAN", "helpful", 0.75, "good answer")
    assert ta["metadata"] == {"rater": "bob"}
    assert (ta["source"], ta["identifier"]) == ("API", "")
    assert ta["trace"] == {"traceId": tid}
    assert_recent(ta["createdAt"])

    session = got["getProjectSessionById"]
    assert session["id"] == rest_session["id"]
    (sa,) = session["sessionAnnotations"]
    assert gid_type(sa["id"]) == "ProjectSessionAnnotation"
    assert parse_gid(sa["id"])[1] == rowid_of(s_ann["id"], "ProjectSessionAnnotation")
    assert (sa["name"], sa["annotatorKind"], sa["label"], sa["score"], sa["explanation"]) == (
        "satisfaction", "LLM", "happy", 0.5, None)
    assert sa["metadata"] == {} and (sa["source"], sa["identifier"]) == ("API", "sat-1")
    assert sa["projectSessionId"] == session["id"]

    names = got["getProjectByName"]
    assert names["traceAnnotationNames"] == ["helpfulness"]
    assert set(names["spanAnnotationNames"]) - {"note"} == set()


# ==================================================================================================
# Datasets
# ==================================================================================================

DATASET_EXAMPLE_FIELDS = """id externalId createdAt dataset { id }
  revision { input output metadata revisionKind createdAt } datasetSplits { id name }"""


def test_dataset_versions_examples_splits_and_labels(cinder, client):
    train = unique_name("gql-train")
    name = unique_name("gql-ds")
    ds1 = client.datasets.create_dataset(name=name, dataset_description="GraphQL dataset", examples=[
        {"input": {"q": "one"}, "output": {"a": 1}, "metadata": {"topic": "x"}, "splits": train},
        {"input": {"q": "two", "nested": {"list": [1, 2, None]}}, "output": {"a": 2}, "metadata": {}},
    ])
    ds2 = client.datasets.add_examples_to_dataset(dataset=ds1.id, inputs=[{"q": "three"}], outputs=[{"a": 3}],
                                                  metadata=[{"topic": "y"}])
    v1, v2 = ds1.version_id, ds2.version_id
    assert v1 != v2
    label = cinder.post("/v1/dataset_labels", json={"name": unique_name("gql-label"), "color": "#00cc88"})
    assert label.status_code == 201, label.text
    label = label.json()["data"]
    r = requests.put(f"{cinder.base_url}/v1/datasets/{ds1.id}/labels/{label['id']}", timeout=30)
    assert r.status_code == 200, r.text

    q = f"""query($id: ID!, $v1: ID!) {{ node(id: $id) {{ __typename ... on Dataset {{
      id name description metadata createdAt updatedAt
      exampleCount v1Count: exampleCount(datasetVersionId: $v1)
      examples(first: 50) {{ edges {{ node {{ {DATASET_EXAMPLE_FIELDS} }} }} {PAGE_INFO} }}
      v1Examples: examples(datasetVersionId: $v1, first: 50) {{ edges {{ node {{ id }} }} }}
      versions(first: 10) {{ edges {{ node {{ id description metadata createdAt }} }} }}
      splits {{ id name }}
      labels {{ id name color }}
      experimentCount
    }} }} }}"""
    d = gql(cinder, q, {"id": ds1.id, "v1": v1})["node"]
    assert d["__typename"] == "Dataset"
    assert (d["id"], d["name"], d["description"], d["metadata"]) == (ds1.id, name, "GraphQL dataset", {})
    assert_recent(d["createdAt"])
    assert dt_us(d["updatedAt"]) >= dt_us(d["createdAt"])
    assert (d["exampleCount"], d["v1Count"]) == (3, 2)
    assert d["experimentCount"] == 0

    rest = {(e.get("node_id") or e["id"]): e for e in ds2.examples}
    got = {n["id"]: n for n in edge_nodes(d["examples"])}
    assert set(got) == set(rest)
    assert d["examples"]["pageInfo"]["hasNextPage"] is False
    for ex_id, e in rest.items():
        g = got[ex_id]
        assert gid_type(ex_id) == "DatasetExample"
        assert g["dataset"] == {"id": ds1.id}
        assert g["externalId"] is None
        assert g["revision"]["input"] == e["input"]
        assert g["revision"]["output"] == e["output"]
        assert g["revision"]["metadata"] == e["metadata"]
        assert g["revision"]["revisionKind"] == "CREATE"
        assert_recent(g["createdAt"])
        assert_recent(g["revision"]["createdAt"])
    by_q = {g["revision"]["input"]["q"]: g for g in got.values()}
    assert by_q["two"]["revision"]["input"] == {"q": "two", "nested": {"list": [1, 2, None]}}
    assert [s["name"] for s in by_q["one"]["datasetSplits"]] == [train]
    assert by_q["two"]["datasetSplits"] == [] and by_q["three"]["datasetSplits"] == []
    assert [s["name"] for s in d["splits"]] == [train]
    assert {n["id"] for n in edge_nodes(d["v1Examples"])} == {by_q["one"]["id"], by_q["two"]["id"]}
    assert {n["id"] for n in edge_nodes(d["versions"])} == {v1, v2}
    rest_versions = {v["version_id"]: v for v in client.datasets.get_dataset_versions(dataset=ds1.id)}
    for v in edge_nodes(d["versions"]):
        assert v["description"] == rest_versions[v["id"]]["description"]
        assert v["metadata"] == rest_versions[v["id"]]["metadata"]
        rest_created = rest_versions[v["id"]]["created_at"]
        if isinstance(rest_created, datetime):  # the client parses it
            rest_created = rest_created.isoformat()
        assert dt_us(v["createdAt"]) == dt_us(rest_created)
    assert d["labels"] == [{"id": label["id"], "name": label["name"], "color": "#00cc88"}]

    # Examples page; nodes of the other types.
    q = f"""query($id: ID!, $first: Int!, $after: String) {{ node(id: $id) {{ ... on Dataset {{
      examples(first: $first, after: $after) {{ edges {{ cursor node {{ id }} }} {PAGE_INFO} }} }} }} }}"""
    nodes, sizes = walk(cinder, q, {"id": ds1.id}, lambda x: x["node"]["examples"], first=2)
    assert sizes == [2, 1] and {n["id"] for n in nodes} == set(rest)
    n = gql(cinder, "query($id: ID!) { node(id: $id) { __typename ... on DatasetVersion { id createdAt } } }",
            {"id": v1})["node"]
    assert n["__typename"] == "DatasetVersion" and n["id"] == v1
    n = gql(cinder, f"query($id: ID!) {{ node(id: $id) {{ __typename ... on DatasetExample {{ "
                    f"{DATASET_EXAMPLE_FIELDS} }} }} }}", {"id": by_q["three"]["id"]})["node"]
    assert n["__typename"] == "DatasetExample"
    assert n["revision"]["input"] == {"q": "three"} and n["dataset"] == {"id": ds1.id}


def test_dataset_example_revisions_by_version(cinder, client):
    name = unique_name("gql-ds-rev")
    first = client.datasets.create_dataset(name=name, examples=[
        {"input": {"q": "x"}, "output": {"a": 1}, "id": "ex-x"},
        {"input": {"q": "y"}, "output": {"a": 2}, "id": "ex-y"},
    ])
    second = client.datasets.create_dataset(name=name, examples=[
        {"input": {"q": "x"}, "output": {"a": 1}, "id": "ex-x"},
        {"input": {"q": "y"}, "output": {"a": 22}, "id": "ex-y"},
        {"input": {"q": "z"}, "output": {"a": 3}, "id": "ex-z"},
    ])
    v1, v2 = first.version_id, second.version_id
    assert v1 != v2 and second.id == first.id
    node_ids = {e["id"]: e["node_id"] for e in second.examples}
    q = """query($id: ID!, $v1: ID!, $v2: ID!) { node(id: $id) { ... on DatasetExample {
      externalId
      latest: revision { output revisionKind }
      atV1: revision(datasetVersionId: $v1) { output revisionKind }
      atV2: revision(datasetVersionId: $v2) { output revisionKind }
    } } }"""
    y = gql(cinder, q, {"id": node_ids["ex-y"], "v1": v1, "v2": v2})["node"]
    assert y["externalId"] == "ex-y"
    assert y["atV1"] == {"output": {"a": 2}, "revisionKind": "CREATE"}
    assert y["atV2"] == {"output": {"a": 22}, "revisionKind": "PATCH"}
    assert y["latest"] == y["atV2"]
    x = gql(cinder, q, {"id": node_ids["ex-x"], "v1": v1, "v2": v2})["node"]
    assert x["atV1"] == x["atV2"] == {"output": {"a": 1}, "revisionKind": "CREATE"}
    q = """query($id: ID!, $v1: ID!, $v2: ID!) { node(id: $id) { ... on Dataset {
      c1: exampleCount(datasetVersionId: $v1) c2: exampleCount(datasetVersionId: $v2) latest: exampleCount
      versions { edges { node { id } } } } } }"""
    counts = gql(cinder, q, {"id": first.id, "v1": v1, "v2": v2})["node"]
    assert (counts["c1"], counts["c2"], counts["latest"]) == (2, 3, 3)
    assert {n["id"] for n in edge_nodes(counts["versions"])} == {v1, v2}


def test_datasets_connection_and_count(cinder, client):
    made = [client.datasets.create_dataset(name=unique_name("gql-ds-list"), inputs=[{"i": i}]) for i in range(3)]
    q = f"""query($first: Int!, $after: String) {{
      datasets(first: $first, after: $after) {{ edges {{ cursor node {{ id name exampleCount }} }} {PAGE_INFO} }}
    }}"""
    nodes, _ = walk(cinder, q, {}, lambda d: d["datasets"], first=4)
    ids = [n["id"] for n in nodes]
    assert len(ids) == len(set(ids))
    rest = rest_all(cinder, "/v1/datasets")
    assert {n["id"]: n["name"] for n in nodes} == {x["id"]: x["name"] for x in rest}
    assert gql(cinder, "{ datasetCount }")["datasetCount"] == len(nodes)
    by_id = {n["id"]: n for n in nodes}
    for ds in made:
        assert by_id[ds.id]["name"] == ds.name and by_id[ds.id]["exampleCount"] == 1


# ==================================================================================================
# Experiments
# ==================================================================================================


def gql_flaky_sum(input):
    if input["a"] == 2:
        raise RuntimeError("cannot add two")
    return {"sum": input["a"] + input["b"]}


def exact_match(output, expected):
    return output is not None and output["sum"] == expected["answer"]


def test_experiment_and_runs(cinder, client):
    ds = client.datasets.create_dataset(name=unique_name("gql-exp-ds"), examples=[
        {"input": {"a": i, "b": 10 * i}, "output": {"answer": 11 * i}, "metadata": {"idx": i}} for i in (1, 2, 3)])
    name = unique_name("gql-exp")
    meta = {"model": "adder", "nested": {"k": [1, 2]}}
    ran = client.experiments.run_experiment(dataset=ds, task=gql_flaky_sum, evaluators=[exact_match],
                                            experiment_name=name, experiment_description="adds numbers",
                                            experiment_metadata=meta, print_summary=False, retries=0)
    exp_id = ran["experiment_id"]
    rest_exp = client.experiments.get(experiment_id=exp_id)
    r = cinder.get(f"/v1/experiments/{exp_id}/runs")
    assert r.status_code == 200, r.text
    rest_runs = {x["id"]: x for x in r.json()["data"]}
    assert len(rest_runs) == 3

    q = f"""query($id: ID!, $ds: ID!) {{
      exp: node(id: $id) {{ __typename ... on Experiment {{
        id name projectName description isEphemeral repetitions metadata createdAt updatedAt
        dataset {{ id name }} runCount errorRate averageRunLatencyMs
        runs(first: 10) {{ edges {{ node {{
          id experimentId repetitionNumber traceId output startTime endTime error latencyMs
          example {{ id }}
          annotations(first: 10) {{ edges {{ node {{
            id name annotatorKind label score explanation metadata error }} }} }}
        }} }} {PAGE_INFO} }}
      }} }}
      ds: node(id: $ds) {{ ... on Dataset {{ experimentCount experiments(first: 10) {{ edges {{ node {{ id }} }} }} }} }}
    }}"""
    d = gql(cinder, q, {"id": exp_id, "ds": ds.id})
    e = d["exp"]
    assert e["__typename"] == "Experiment" and e["id"] == exp_id
    assert (e["name"], e["description"], e["repetitions"], e["metadata"]) == (name, "adds numbers", 1, meta)
    assert e["projectName"] == rest_exp["project_name"]
    assert e["isEphemeral"] is False
    assert e["dataset"] == {"id": ds.id, "name": ds.name}
    assert_recent(e["createdAt"])
    assert e["runCount"] == 3
    assert e["errorRate"] == pytest.approx(1 / 3)
    assert d["ds"]["experimentCount"] == 1
    assert [n["id"] for n in edge_nodes(d["ds"]["experiments"])] == [exp_id]

    runs = edge_nodes(e["runs"])
    assert {x["id"] for x in runs} == set(rest_runs)
    latencies = []
    for run in runs:
        want = rest_runs[run["id"]]
        assert gid_type(run["id"]) == "ExperimentRun"
        assert run["experimentId"] == exp_id
        assert run["repetitionNumber"] == want["repetition_number"] == 1
        assert run["traceId"] == want["trace_id"]
        assert run["output"] == want["output"]
        assert run["error"] == want["error"]
        assert run["example"] == {"id": want["dataset_example_id"]}
        assert dt_us(run["startTime"]) == dt_us(want["start_time"])
        assert dt_us(run["endTime"]) == dt_us(want["end_time"])
        expected_ms = (dt_us(want["end_time"]) - dt_us(want["start_time"])) / 1000
        assert run["latencyMs"] == pytest.approx(expected_ms, abs=0.01)
        latencies.append(run["latencyMs"])
        if want["error"] is None:
            ann = [a for a in edge_nodes(run["annotations"]) if a["name"] == "exact_match"]
            assert len(ann) == 1, run["annotations"]
            a = ann[0]
            assert (a["annotatorKind"], a["score"], a["label"], a["error"]) == ("CODE", 1.0, "True", None)
            assert isinstance(a["metadata"], dict)
        else:
            assert "cannot add two" in run["error"] and run["output"] is None
    assert sum(1 for x in runs if x["error"]) == 1
    assert e["averageRunLatencyMs"] == pytest.approx(sum(latencies) / 3, abs=0.01)

    # Runs page; the run's node; the experiment's hidden project is not a listed project.
    q = f"""query($id: ID!, $first: Int!, $after: String) {{ node(id: $id) {{ ... on Experiment {{
      runs(first: $first, after: $after) {{ edges {{ cursor node {{ id }} }} {PAGE_INFO} }} }} }} }}"""
    nodes, sizes = walk(cinder, q, {"id": exp_id}, lambda x: x["node"]["runs"], first=2)
    assert sizes == [2, 1] and {n["id"] for n in nodes} == set(rest_runs)
    run_id = next(iter(rest_runs))
    n = gql(cinder, "query($id: ID!) { node(id: $id) { __typename ... on ExperimentRun { experimentId } } }",
            {"id": run_id})["node"]
    assert n == {"__typename": "ExperimentRun", "experimentId": exp_id}
    q = f"""query($first: Int!, $after: String) {{
      projects(first: $first, after: $after) {{ edges {{ cursor node {{ name }} }} {PAGE_INFO} }} }}"""
    listed, _ = walk(cinder, q, {}, lambda x: x["projects"], first=50)
    assert rest_exp["project_name"] not in {p["name"] for p in listed}


# ==================================================================================================
# Prompts
# ==================================================================================================


def _chat_version(description: str, model: str, template_format: str = "MUSTACHE"):
    from phoenix.client.types.prompts import PromptVersion

    var = "{{city}}" if template_format == "MUSTACHE" else "{city}"
    return PromptVersion.from_openai(
        {"model": model, "temperature": 0.2,
         "messages": [{"role": "system", "content": "You answer weather questions."},
                      {"role": "user", "content": f"Weather in {var}?"}]},
        template_format=template_format, description=description)


def rest_prompt(cinder, name: str) -> dict:
    matches = [p for p in rest_all(cinder, "/v1/prompts", limit=50) if p["name"] == name]
    assert len(matches) == 1, matches
    return matches[0]


def test_prompt_versions_and_tags(cinder, client):
    name = unique_name("gql-prompt")
    v1 = client.prompts.create(name=name, version=_chat_version("first", "gpt-4o-mini"),
                               prompt_description="weather prompt", prompt_metadata={"team": "e2e", "n": 1})
    v2 = client.prompts.create(name=name, version=_chat_version("second", "gpt-4o", "F_STRING"))
    client.prompts.tags.create(prompt_version_id=v1.id, name="production", description="live")
    prompt = rest_prompt(cinder, name)
    rest_v = {v["id"]: v for v in cinder.get(f"/v1/prompts/{name}/versions").json()["data"]}
    assert set(rest_v) == {v1.id, v2.id}

    version_fields = """id description templateType templateFormat modelName modelProvider metadata createdAt
      sequenceNumber isLatest tags { id name description promptVersionId } previousVersion { id }"""
    q = f"""query($id: ID!, $v1: ID!, $tag: Identifier!) {{ node(id: $id) {{ __typename ... on Prompt {{
      id sourcePromptId name description metadata createdAt
      latest: version {{ id modelName isLatest }}
      byId: version(versionId: $v1) {{ id modelName }}
      byTag: version(tagName: $tag) {{ id }}
      versionTags {{ id name description promptVersionId }}
      promptVersions(first: 10) {{ edges {{ node {{ {version_fields} }} }} {PAGE_INFO} }}
    }} }} }}"""
    p = gql(cinder, q, {"id": prompt["id"], "v1": v1.id, "tag": "production"})["node"]
    assert p["__typename"] == "Prompt" and p["id"] == prompt["id"]
    assert (p["name"], p["description"], p["metadata"], p["sourcePromptId"]) == (
        name, "weather prompt", {"team": "e2e", "n": 1}, None)
    assert_recent(p["createdAt"])
    assert p["latest"] == {"id": v2.id, "modelName": "gpt-4o", "isLatest": True}
    assert p["byId"] == {"id": v1.id, "modelName": "gpt-4o-mini"}
    assert p["byTag"] == {"id": v1.id}
    (tag,) = p["versionTags"]
    assert (tag["name"], tag["description"], tag["promptVersionId"]) == ("production", "live", v1.id)
    assert gid_type(tag["id"]) == "PromptVersionTag"

    versions = edge_nodes(p["promptVersions"])
    assert [v["id"] for v in versions] == [v2.id, v1.id]  # newest first, as REST
    by_id = {v["id"]: v for v in versions}
    for vid, seq, latest, prev, model, desc in ((v1.id, 1, False, None, "gpt-4o-mini", "first"),
                                                (v2.id, 2, True, {"id": v1.id}, "gpt-4o", "second")):
        v = by_id[vid]
        r = rest_v[vid]
        assert (v["sequenceNumber"], v["isLatest"], v["previousVersion"]) == (seq, latest, prev), vid
        assert (v["modelName"], v["description"]) == (model, desc)
        assert v["modelName"] == r["model_name"] and v["modelProvider"] == r["model_provider"] == "OPENAI"
        assert v["templateType"] == r["template_type"] == "CHAT"
        assert v["templateFormat"] == r["template_format"]
        assert isinstance(v["metadata"], dict)
        assert_recent(v["createdAt"])
    assert by_id[v1.id]["templateFormat"] == "MUSTACHE" and by_id[v2.id]["templateFormat"] == "F_STRING"
    assert [t["name"] for t in by_id[v1.id]["tags"]] == ["production"] and by_id[v2.id]["tags"] == []

    n = gql(cinder, "query($id: ID!) { node(id: $id) { __typename ... on PromptVersion { modelName sequenceNumber } } }",
            {"id": v1.id})["node"]
    assert n == {"__typename": "PromptVersion", "modelName": "gpt-4o-mini", "sequenceNumber": 1}
    # An unknown tag is an error (version is PromptVersion!).
    gql_errors(cinder, "query($id: ID!) { node(id: $id) { ... on Prompt { version(tagName: \"no-such-tag\") { id } } } }",
               {"id": prompt["id"]})


def test_prompts_connection_and_count(cinder, client):
    names = [unique_name("gql-prompts") for _ in range(3)]
    for n in names:
        client.prompts.create(name=n, version=_chat_version("only", "gpt-4o-mini"))
    q = f"""query($first: Int!, $after: String) {{
      prompts(first: $first, after: $after) {{ edges {{ cursor node {{ id name }} }} {PAGE_INFO} }} }}"""
    nodes, _ = walk(cinder, q, {}, lambda d: d["prompts"], first=2)
    ids = [n["id"] for n in nodes]
    assert len(ids) == len(set(ids))
    rest = rest_all(cinder, "/v1/prompts", limit=50)
    assert {n["id"]: n["name"] for n in nodes} == {p["id"]: p["name"] for p in rest}
    assert set(names) <= {n["name"] for n in nodes}
    assert gql(cinder, "{ promptCount }")["promptCount"] == len(nodes)
