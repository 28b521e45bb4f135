"""The Phoenix REST read API through arize-phoenix-client (and raw HTTP where the client has no call)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
import pandas as pd
import pytest
import requests
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Status, StatusCode

from conftest import (
    encode_request,
    hex_parent_id,
    hex_span_id,
    hex_trace_id,
    iso_to_us,
    make_tracer_provider,
    unique_name,
)

MS = 1_000_000  # ns


def post_spans(cinder, spans) -> None:
    r = requests.post(cinder.traces_url, data=encode_request(spans),
                      headers={"Content-Type": "application/x-protobuf"}, timeout=30)
    assert r.status_code == 200, r.text


def _span(tracer, name, start_ns, end_ns, parent=None, status=None, **attributes):
    ctx = otel_trace.set_span_in_context(parent) if parent is not None else None
    span = tracer.start_span(name, context=ctx, start_time=start_ns, attributes=attributes)
    if status is not None:
        span.set_status(status)
    span.end(end_time=end_ns)
    return span


@dataclass
class Dataset:
    project: str
    base: datetime
    base_ns: int
    spans: dict  # label -> ReadableSpan
    sess_a: str
    sess_b: str

    def sid(self, label: str) -> str:
        return hex_span_id(self.spans[label])

    def tid(self, label: str) -> str:
        return hex_trace_id(self.spans[label])


@pytest.fixture(scope="module")
def ds(cinder) -> Dataset:
    """Three traces with fixed times.

    A (t=base, 300 ms, session A): agent CHAIN (OK) -> llm-call LLM gpt-4o 10/5, search TOOL ERROR
    B (t=base+10 s, 100 ms, session A): agent CHAIN (OK) -> llm-call LLM claude-3 20/7
    C (t=base+20 s, 200 ms, session B): agent CHAIN -> llm-call LLM gpt-4o 3/4, llm-call LLM gpt-4o 1/1
    """
    project = unique_name("read")
    sess_a, sess_b = f"sess-a-{uuid.uuid4().hex[:8]}", f"sess-b-{uuid.uuid4().hex[:8]}"
    base = (datetime.now(timezone.utc) - timedelta(hours=2)).replace(microsecond=0)
    base_ns = int(base.timestamp()) * 1_000_000_000
    pipe = make_tracer_provider(None, project, None)
    t = pipe.tracer
    s = {}
    a0 = base_ns + 123_456_000  # a non-zero microsecond fraction
    s["A"] = t.start_span("agent", start_time=a0, attributes={
        "openinference.span.kind": "CHAIN", "session.id": sess_a, "input.value": "question A",
        "output.value": "answer A", "score": 0.75, "metadata": '{"env": "prod", "run": {"n": 7}}'})
    s["A.llm"] = _span(t, "llm-call", a0 + 10 * MS, a0 + 110 * MS, s["A"], **{
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
        "llm.token_count.prompt": 10, "llm.token_count.completion": 5})
    s["A.tool"] = _span(t, "search", a0 + 120 * MS, a0 + 250 * MS, s["A"],
                        Status(StatusCode.ERROR, "search failed"), **{"openinference.span.kind": "TOOL"})
    s["A"].set_status(Status(StatusCode.OK))
    s["A"].end(end_time=a0 + 300 * MS)

    b0 = base_ns + 10_000 * MS
    s["B"] = t.start_span("agent", start_time=b0, attributes={
        "openinference.span.kind": "CHAIN", "session.id": sess_a, "input.value": "question B",
        "output.value": "answer B", "user.id": "12345"})
    s["B.llm"] = _span(t, "llm-call", b0 + 5 * MS, b0 + 90 * MS, s["B"], **{
        "openinference.span.kind": "LLM", "llm.model_name": "claude-3",
        "llm.token_count.prompt": 20, "llm.token_count.completion": 7})
    s["B"].set_status(Status(StatusCode.OK))
    s["B"].end(end_time=b0 + 100 * MS)

    c0 = base_ns + 20_000 * MS
    s["C"] = t.start_span("agent", start_time=c0, attributes={
        "openinference.span.kind": "CHAIN", "session.id": sess_b, "input.value": "question C",
        "output.value": "answer C", "retry.enabled": True})
    s["C.llm1"] = _span(t, "llm-call", c0 + 10 * MS, c0 + 50 * MS, s["C"], **{
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
        "llm.token_count.prompt": 3, "llm.token_count.completion": 4})
    s["C.llm2"] = _span(t, "llm-call", c0 + 60 * MS, c0 + 150 * MS, s["C"], **{
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
        "llm.token_count.prompt": 1, "llm.token_count.completion": 1})
    s["C"].end(end_time=c0 + 200 * MS)

    finished = {id(x): x for x in pipe.finish()}
    # start_span returns the live span; the finished ReadableSpans have the same contexts.
    readable = {}
    for label, live in s.items():
        match = [x for x in finished.values() if x.context.span_id == live.get_span_context().span_id]
        assert len(match) == 1
        readable[label] = match[0]
    post_spans(cinder, list(finished.values()))
    return Dataset(project, base, base_ns, readable, sess_a, sess_b)


def ids(spans) -> set[str]:
    return {s["context"]["span_id"] for s in spans}


# --------------------------------------------------------------------------------------------------
# Projects
# --------------------------------------------------------------------------------------------------


def _status(excinfo) -> int:
    return excinfo.value.response.status_code


def test_projects_crud(client, cinder):
    name = unique_name("crud")
    created = client.projects.create(name=name, description="first description")
    assert created["name"] == name
    assert created["description"] == "first description"
    pid = created["id"]
    assert isinstance(pid, str) and pid

    assert client.projects.get(project_name=name) == created
    assert client.projects.get(project_id=pid) == created

    listed = client.projects.list()
    assert [p for p in listed if p["name"] == name] == [created]
    assert any(p["name"] == "default" for p in listed)
    assert len({p["id"] for p in listed}) == len(listed)
    contains = client.projects.list(name_contains=name[-12:].upper())
    assert [p["id"] for p in contains] == [pid]

    updated = client.projects.update(project_id=pid, description="second description")
    assert updated == {**created, "description": "second description"}
    assert client.projects.get(project_name=name)["description"] == "second description"

    with pytest.raises(httpx.HTTPStatusError) as e:
        client.projects.create(name=name)
    assert _status(e) == 409

    client.projects.delete(project_name=name)
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.projects.get(project_id=pid)
    assert _status(e) == 404
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.projects.delete(project_id=pid)
    assert _status(e) == 404
    assert all(p["name"] != name for p in client.projects.list())


def test_default_project_cannot_be_deleted(client):
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.projects.delete(project_name="default")
    assert _status(e) == 403
    default = client.projects.get(project_name="default")
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.projects.delete(project_id=default["id"])
    assert _status(e) == 403
    assert client.projects.get(project_name="default")["id"] == default["id"]


def test_unknown_project_404(client, cinder):
    missing = unique_name("missing")
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.projects.get(project_name=missing)
    assert _status(e) == 404
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.spans.get_spans(project_identifier=missing)
    assert _status(e) == 404
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.traces.get_traces(project_identifier=missing)
    assert _status(e) == 404


def test_projects_pagination(cinder):
    names = [unique_name("page") for _ in range(3)]
    for n in names:
        assert cinder.post("/v1/projects", json={"name": n}).status_code == 200
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = cinder.get("/v1/projects", params=params).json()
        assert len(body["data"]) <= 2
        seen += [p["name"] for p in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(body["data"]) == 2
    assert len(seen) == len(set(seen))
    assert set(names) <= set(seen)
    all_names = [p["name"] for p in cinder.get("/v1/projects", params={"limit": 1000}).json()["data"]]
    assert sorted(seen) == sorted(all_names)
    # Newest first (id DESC), as Phoenix.
    assert seen.index(names[2]) < seen.index(names[1]) < seen.index(names[0])


def test_delete_project_cascades(client, cinder):
    name = unique_name("cascade")
    pipe = make_tracer_provider(cinder, name, "http")
    with pipe.tracer.start_as_current_span("x", attributes={"openinference.span.kind": "CHAIN"}):
        pass
    span = pipe.finish()[0]
    assert len(client.spans.get_spans(project_identifier=name)) == 1
    client.projects.delete(project_name=name)
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.spans.get_spans(project_identifier=name)
    assert _status(e) == 404
    # The span is gone everywhere (deleting it by id is a 404).
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.spans.delete(span_identifier=hex_span_id(span))
    assert _status(e) == 404


# --------------------------------------------------------------------------------------------------
# Spans: filters
# --------------------------------------------------------------------------------------------------


def test_get_spans_all(client, ds):
    got = client.spans.get_spans(project_identifier=ds.project, limit=100)
    assert len(got) == 8
    assert ids(got) == {ds.sid(k) for k in ds.spans}
    for s in got:
        label = next(k for k in ds.spans if ds.sid(k) == s["context"]["span_id"])
        sdk = ds.spans[label]
        assert s["context"]["trace_id"] == hex_trace_id(sdk)
        assert s["parent_id"] == hex_parent_id(sdk)
        assert iso_to_us(s["start_time"]) == sdk.start_time // 1000
        assert iso_to_us(s["end_time"]) == sdk.end_time // 1000
    a = next(s for s in got if s["context"]["span_id"] == ds.sid("A"))
    # base has a .123456 fraction; B's root starts on a whole second (fraction omitted).
    assert a["start_time"] == (ds.base + timedelta(microseconds=123456)).isoformat()
    b = next(s for s in got if s["context"]["span_id"] == ds.sid("B"))
    assert b["start_time"] == (ds.base + timedelta(seconds=10)).isoformat()
    assert "." not in b["start_time"]
    # Default order: newest first (id DESC) — C's spans were inserted last.
    assert got[0]["context"]["trace_id"] == ds.tid("C")


def test_get_spans_by_project_global_id(client, ds):
    pid = client.projects.get(project_name=ds.project)["id"]
    got = client.spans.get_spans(project_identifier=pid, limit=100)
    assert ids(got) == {ds.sid(k) for k in ds.spans}


def test_filter_trace_ids(client, ds):
    got = client.spans.get_spans(project_identifier=ds.project, trace_ids=[ds.tid("A")])
    assert ids(got) == {ds.sid("A"), ds.sid("A.llm"), ds.sid("A.tool")}
    got = client.spans.get_spans(project_identifier=ds.project, trace_ids=[ds.tid("B"), ds.tid("C")])
    assert ids(got) == {ds.sid(k) for k in ("B", "B.llm", "C", "C.llm1", "C.llm2")}
    got = client.spans.get_spans(project_identifier=ds.project, trace_ids=["f" * 32])
    assert got == []


def test_filter_span_ids(client, ds):
    want = [ds.sid("A.tool"), ds.sid("C.llm2")]
    got = client.spans.get_spans(project_identifier=ds.project, span_ids=want)
    assert sorted(ids(got)) == sorted(want)
    assert len(got) == 2


def test_filter_parent_id(client, ds):
    roots = client.spans.get_spans(project_identifier=ds.project, parent_id="null")
    assert ids(roots) == {ds.sid("A"), ds.sid("B"), ds.sid("C")}
    assert all(s["parent_id"] is None for s in roots)
    children = client.spans.get_spans(project_identifier=ds.project, parent_id=ds.sid("C"))
    assert ids(children) == {ds.sid("C.llm1"), ds.sid("C.llm2")}


def test_filter_name(client, ds):
    got = client.spans.get_spans(project_identifier=ds.project, name="llm-call")
    assert ids(got) == {ds.sid(k) for k in ("A.llm", "B.llm", "C.llm1", "C.llm2")}
    got = client.spans.get_spans(project_identifier=ds.project, name=["search", "agent"])
    assert ids(got) == {ds.sid(k) for k in ("A", "B", "C", "A.tool")}
    assert client.spans.get_spans(project_identifier=ds.project, name="nope") == []


def test_filter_span_kind(client, ds):
    got = client.spans.get_spans(project_identifier=ds.project, span_kind="LLM")
    assert len(got) == 4 and {s["span_kind"] for s in got} == {"LLM"}
    got = client.spans.get_spans(project_identifier=ds.project, span_kind=["TOOL", "CHAIN"])
    assert ids(got) == {ds.sid(k) for k in ("A", "B", "C", "A.tool")}
    assert client.spans.get_spans(project_identifier=ds.project, span_kind="RETRIEVER") == []


def test_filter_status_code(client, cinder, ds):
    got = client.spans.get_spans(project_identifier=ds.project, status_code="ERROR")
    assert ids(got) == {ds.sid("A.tool")}
    assert got[0]["status_message"] == "search failed"
    got = client.spans.get_spans(project_identifier=ds.project, status_code="OK")
    assert ids(got) == {ds.sid("A"), ds.sid("B")}
    got = client.spans.get_spans(project_identifier=ds.project, status_code=["UNSET", "ERROR"])
    assert len(got) == 6
    # Phoenix upper-cases the values.
    r = cinder.get(f"/v1/projects/{ds.project}/spans", params={"status_code": "error"})
    assert r.status_code == 200
    assert ids(r.json()["data"]) == {ds.sid("A.tool")}


def test_filter_attributes(client, ds):
    def q(attrs):
        return ids(client.spans.get_spans(project_identifier=ds.project, attributes=attrs))

    assert q({"llm.model_name": "gpt-4o"}) == {ds.sid(k) for k in ("A.llm", "C.llm1", "C.llm2")}
    assert q({"llm.model_name": "claude-3"}) == {ds.sid("B.llm")}
    assert q({"llm.token_count.prompt": 20}) == {ds.sid("B.llm")}
    assert q({"llm.model_name": "gpt-4o", "llm.token_count.prompt": 3}) == {ds.sid("C.llm1")}
    assert q({"session.id": ds.sess_a}) == {ds.sid("A"), ds.sid("B")}
    assert q({"retry.enabled": True}) == {ds.sid("C")}
    assert q({"score": 0.75}) == {ds.sid("A")}
    assert q({"user.id": "12345"}) == {ds.sid("B")}  # sent as user.id:"12345" (a string)
    assert q({"user.id": 12345}) == set()  # an int does not match the stored string
    assert q({"llm.model_name": "gpt-5"}) == set()
    # Keys are paths into the (nested) attributes, so JSON metadata is filterable.
    assert q({"metadata.env": "prod"}) == {ds.sid("A")}
    assert q({"metadata.run.n": 7}) == {ds.sid("A")}


def test_filter_time_range(client, ds):
    start = ds.base + timedelta(seconds=10)
    end = ds.base + timedelta(seconds=20)
    got = client.spans.get_spans(project_identifier=ds.project, start_time=start, end_time=end)
    # start inclusive (B's root starts exactly at start), end exclusive (C's root starts exactly at end).
    assert ids(got) == {ds.sid("B"), ds.sid("B.llm")}
    got = client.spans.get_spans(project_identifier=ds.project, start_time=ds.base + timedelta(seconds=20))
    assert ids(got) == {ds.sid("C"), ds.sid("C.llm1"), ds.sid("C.llm2")}
    got = client.spans.get_spans(project_identifier=ds.project, end_time=ds.base + timedelta(seconds=1))
    assert ids(got) == {ds.sid("A"), ds.sid("A.llm"), ds.sid("A.tool")}


@pytest.mark.parametrize("fmt", ["iso-offset", "iso-z", "naive", "epoch-seconds"])
def test_time_parameter_formats(cinder, ds, fmt):
    start, end = ds.base + timedelta(seconds=10), ds.base + timedelta(seconds=20)
    render = {
        "iso-offset": lambda d: d.isoformat(),
        "iso-z": lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "naive": lambda d: d.replace(tzinfo=None).isoformat(),  # naive means UTC
        "epoch-seconds": lambda d: str(int(d.timestamp())),
    }[fmt]
    r = cinder.get(f"/v1/projects/{ds.project}/spans", params={"start_time": render(start), "end_time": render(end)})
    assert r.status_code == 200, r.text
    assert ids(r.json()["data"]) == {ds.sid("B"), ds.sid("B.llm")}


def test_filters_combined(client, ds):
    got = client.spans.get_spans(project_identifier=ds.project, trace_ids=[ds.tid("C")], span_kind="LLM",
                                 attributes={"llm.token_count.prompt": 1})
    assert ids(got) == {ds.sid("C.llm2")}


def test_get_spans_limit(client, ds):
    got = client.spans.get_spans(project_identifier=ds.project, limit=3)
    assert len(got) == 3
    assert len(ids(got)) == 3


# --------------------------------------------------------------------------------------------------
# Spans: pagination
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paged(cinder):
    project = unique_name("paged")
    pipe = make_tracer_provider(None, project, None)
    t0 = (int(time.time()) - 3600) * 1_000_000_000
    for i in range(25):
        _span(pipe.tracer, f"span-{i:02d}", t0 + i * 1000 * MS, t0 + i * 1000 * MS + 5 * MS,
              **{"openinference.span.kind": "CHAIN", "idx": i})
    spans = pipe.finish()
    assert len(spans) == 25
    post_spans(cinder, spans)
    return project, spans


def _walk(cinder, project, **params):
    pages, cursor = [], None
    while True:
        p = dict(params, limit=10)
        if cursor:
            p["cursor"] = cursor
        r = cinder.get(f"/v1/projects/{project}/spans", params=p)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 10, "pagination does not terminate"


def test_cursor_pagination_by_id(cinder, paged):
    project, spans = paged
    pages = _walk(cinder, project)
    assert [len(p) for p in pages] == [10, 10, 5]
    flat = [s["context"]["span_id"] for p in pages for s in p]
    assert len(set(flat)) == 25
    assert set(flat) == {hex_span_id(s) for s in spans}


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_cursor_pagination_by_start_time(cinder, paged, order):
    project, spans = paged
    pages = _walk(cinder, project, sort="start_time", order=order)
    assert [len(p) for p in pages] == [10, 10, 5]
    names = [s["name"] for p in pages for s in p]
    want = [f"span-{i:02d}" for i in range(25)]
    assert names == (want if order == "asc" else want[::-1])


def test_client_paginates(client, paged):
    project, spans = paged
    assert len(client.spans.get_spans(project_identifier=project, limit=25)) == 25
    assert len(client.spans.get_spans(project_identifier=project, limit=1000)) == 25
    assert len(client.spans.get_spans(project_identifier=project, limit=7)) == 7


# --------------------------------------------------------------------------------------------------
# Spans dataframe (POST /v1/spans)
# --------------------------------------------------------------------------------------------------


def test_spans_dataframe(client, ds):
    df = client.spans.get_spans_dataframe(project_identifier=ds.project)
    assert len(df) == 8
    assert df.index.name == "context.span_id"
    assert set(df.index) == {ds.sid(k) for k in ds.spans}
    for col in ("name", "span_kind", "parent_id", "start_time", "end_time", "status_code", "status_message",
                "events", "context.span_id", "context.trace_id", "attributes.llm.model_name",
                "attributes.llm.token_count.prompt", "attributes.input.value", "attributes.session.id"):
        assert col in df.columns, (col, list(df.columns))
    assert list(df["context.span_id"]) == list(df.index)
    # Phoenix's default projection order, then the attributes.* columns.
    assert list(df.columns[:10]) == ["name", "span_kind", "parent_id", "start_time", "end_time", "status_code",
                                     "status_message", "events", "context.span_id", "context.trace_id"]
    assert all(c.startswith("attributes.") for c in df.columns[10:])
    llm = df.loc[ds.sid("B.llm")]
    assert llm["name"] == "llm-call"
    assert llm["span_kind"] == "LLM"
    assert llm["parent_id"] == ds.sid("B")
    assert llm["context.trace_id"] == ds.tid("B")
    assert llm["attributes.llm.model_name"] == "claude-3"
    assert llm["attributes.llm.token_count.prompt"] == 20
    assert llm["attributes.llm.token_count.completion"] == 7
    assert llm["status_code"] == "UNSET"
    tool = df.loc[ds.sid("A.tool")]
    assert tool["status_code"] == "ERROR" and tool["status_message"] == "search failed"
    assert tool["span_kind"] == "TOOL"
    root = df.loc[ds.sid("A")]
    assert pd.isna(root["parent_id"])
    assert root["attributes.input.value"] == "question A"
    assert root["attributes.session.id"] == ds.sess_a
    assert root["start_time"] == pd.Timestamp(ds.spans["A"].start_time // 1000, unit="us", tz="UTC")
    assert root["end_time"] == pd.Timestamp(ds.spans["A"].end_time // 1000, unit="us", tz="UTC")
    assert str(df["start_time"].dtype).startswith("datetime64")


def test_spans_dataframe_filters(client, ds):
    from phoenix.client.types.spans import SpanQuery

    roots = client.spans.get_spans_dataframe(project_identifier=ds.project, root_spans_only=True)
    assert set(roots.index) == {ds.sid("A"), ds.sid("B"), ds.sid("C")}
    window = client.spans.get_spans_dataframe(project_identifier=ds.project,
                                              start_time=ds.base + timedelta(seconds=10),
                                              end_time=ds.base + timedelta(seconds=20))
    assert set(window.index) == {ds.sid("B"), ds.sid("B.llm")}
    limited = client.spans.get_spans_dataframe(project_identifier=ds.project, limit=2)
    assert len(limited) == 2
    llms = client.spans.get_spans_dataframe(project_identifier=ds.project,
                                            query=SpanQuery().where("span_kind == 'LLM'"))
    assert set(llms.index) == {ds.sid(k) for k in ("A.llm", "B.llm", "C.llm1", "C.llm2")}
    errors = client.spans.get_spans_dataframe(
        project_identifier=ds.project,
        query=SpanQuery().where("status_code == 'ERROR' or llm.token_count.prompt > 15"))
    assert set(errors.index) == {ds.sid("A.tool"), ds.sid("B.llm")}
    pid = client.projects.get(project_name=ds.project)["id"]
    by_id = client.spans.get_spans_dataframe(project_identifier=pid)
    assert set(by_id.index) == {ds.sid(k) for k in ds.spans}


def test_spans_dataframe_select(client, ds):
    from phoenix.client.types.spans import SpanQuery

    q = SpanQuery().select("name", "span_kind", "llm.model_name", "input.value").where("span_kind == 'LLM'")
    df = client.spans.get_spans_dataframe(project_identifier=ds.project, query=q)
    assert df.index.name == "context.span_id"
    # Phoenix keeps the select order for the columns.
    assert list(df.columns) == ["name", "span_kind", "llm.model_name", "input.value"]
    assert set(df.index) == {ds.sid(k) for k in ("A.llm", "B.llm", "C.llm1", "C.llm2")}
    assert df.loc[ds.sid("B.llm"), "llm.model_name"] == "claude-3"
    assert df.loc[ds.sid("A.llm"), "llm.model_name"] == "gpt-4o"
    assert set(df["name"]) == {"llm-call"}


def test_spans_dataframe_bad_query_is_422(cinder, ds):
    r = cinder.post("/v1/spans", params={"project_name": ds.project}, headers={"accept": "application/json"},
                    json={"queries": [{"filter": {"condition": "foo =="}}], "limit": 10})
    assert r.status_code == 422, r.text


# --------------------------------------------------------------------------------------------------
# Traces
# --------------------------------------------------------------------------------------------------


def test_traces_list_and_token_counts(client, ds):
    traces = client.traces.get_traces(project_identifier=ds.project)
    assert [t["trace_id"] for t in traces] == [ds.tid("C"), ds.tid("B"), ds.tid("A")]  # start_time desc
    by = {t["trace_id"]: t for t in traces}
    pid = client.projects.get(project_name=ds.project)["id"]
    for label, (p, c) in {"A": (10, 5), "B": (20, 7), "C": (4, 5)}.items():
        t = by[ds.tid(label)]
        assert t["project_id"] == pid
        assert (t["token_count_prompt"], t["token_count_completion"], t["token_count_total"]) == (p, c, p + c)
        assert iso_to_us(t["start_time"]) == ds.spans[label].start_time // 1000
        assert iso_to_us(t["end_time"]) == ds.spans[label].end_time // 1000
        assert t.get("spans") is None
        assert isinstance(t["id"], str) and t["id"]


def test_traces_include_spans(client, ds):
    traces = client.traces.get_traces(project_identifier=ds.project, include_spans=True, sort="start_time", order="asc")
    assert [t["trace_id"] for t in traces] == [ds.tid("A"), ds.tid("B"), ds.tid("C")]
    a = traces[0]
    # spans ordered by start_time ascending
    assert [s["span_id"] for s in a["spans"]] == [ds.sid("A"), ds.sid("A.llm"), ds.sid("A.tool")]
    root, llm, tool = a["spans"]
    assert root["parent_id"] is None and llm["parent_id"] == ds.sid("A") and tool["parent_id"] == ds.sid("A")
    assert (root["name"], llm["name"], tool["name"]) == ("agent", "llm-call", "search")
    assert (root["span_kind"], llm["span_kind"], tool["span_kind"]) == ("CHAIN", "LLM", "TOOL")
    assert (root["status_code"], llm["status_code"], tool["status_code"]) == ("OK", "UNSET", "ERROR")
    assert iso_to_us(tool["start_time"]) == ds.spans["A.tool"].start_time // 1000
    assert iso_to_us(tool["end_time"]) == ds.spans["A.tool"].end_time // 1000
    assert [len(t["spans"]) for t in traces] == [3, 2, 3]


@pytest.mark.parametrize("order,expected", [("asc", ["B", "C", "A"]), ("desc", ["A", "C", "B"])])
def test_traces_sort_latency(client, ds, order, expected):
    traces = client.traces.get_traces(project_identifier=ds.project, sort="latency_ms", order=order)
    assert [t["trace_id"] for t in traces] == [ds.tid(x) for x in expected]


def test_traces_pagination(client, cinder, ds):
    # The client pages with limit<=100; exercise the cursor with limit=1 through raw REST.
    for sort in ("start_time", "latency_ms"):
        seen, cursor = [], None
        while True:
            params = {"limit": 1, "sort": sort, "order": "asc"}
            if cursor:
                params["cursor"] = cursor
            body = cinder.get(f"/v1/projects/{ds.project}/traces", params=params).json()
            seen += [t["trace_id"] for t in body["data"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
            assert len(seen) < 10
        want = ["A", "B", "C"] if sort == "start_time" else ["B", "C", "A"]
        assert seen == [ds.tid(x) for x in want], sort


def test_traces_session_filter(client, ds):
    got = client.traces.get_traces(project_identifier=ds.project, session_id=ds.sess_a)
    assert {t["trace_id"] for t in got} == {ds.tid("A"), ds.tid("B")}
    got = client.traces.get_traces(project_identifier=ds.project, session_id=[ds.sess_a, ds.sess_b])
    assert len(got) == 3
    sess_b = client.sessions.get(session_id=ds.sess_b)
    got = client.traces.get_traces(project_identifier=ds.project, session_id=sess_b["id"])
    assert [t["trace_id"] for t in got] == [ds.tid("C")]
    assert client.traces.get_traces(project_identifier=ds.project, session_id="no-such-session") == []


def test_traces_error_and_latency_filters(client, ds):
    assert [t["trace_id"] for t in client.traces.get_traces(project_identifier=ds.project, error=True)] == [ds.tid("A")]
    assert {t["trace_id"] for t in client.traces.get_traces(project_identifier=ds.project, error=False)} == {
        ds.tid("B"), ds.tid("C")}
    got = client.traces.get_traces(project_identifier=ds.project, min_latency_ms=150)
    assert {t["trace_id"] for t in got} == {ds.tid("A"), ds.tid("C")}
    got = client.traces.get_traces(project_identifier=ds.project, max_latency_ms=150.0)
    assert [t["trace_id"] for t in got] == [ds.tid("B")]
    got = client.traces.get_traces(project_identifier=ds.project, min_latency_ms=200, max_latency_ms=200)
    assert [t["trace_id"] for t in got] == [ds.tid("C")]  # both bounds inclusive


def test_traces_time_range(client, ds):
    got = client.traces.get_traces(project_identifier=ds.project, start_time=ds.base + timedelta(seconds=10),
                                   end_time=ds.base + timedelta(seconds=20))
    assert [t["trace_id"] for t in got] == [ds.tid("B")]


# --------------------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------------------


def test_sessions_list_and_get(client, ds):
    sessions = client.sessions.list(project_name=ds.project)
    assert [s["session_id"] for s in sessions] == [ds.sess_a, ds.sess_b]  # id ASC by default
    pid = client.projects.get(project_name=ds.project)["id"]
    assert client.sessions.list(project_id=pid) == sessions
    a = client.sessions.get(session_id=ds.sess_a)
    assert a == sessions[0]
    assert a["project_id"] == pid
    assert [t["trace_id"] for t in a["traces"]] == [ds.tid("A"), ds.tid("B")]
    assert (a["token_count_prompt"], a["token_count_completion"], a["token_count_total"]) == (30, 12, 42)
    assert iso_to_us(a["start_time"]) == ds.spans["A"].start_time // 1000
    assert iso_to_us(a["end_time"]) == ds.spans["B"].end_time // 1000
    assert client.sessions.get(session_id=a["id"]) == a  # by GlobalID too
    b = client.sessions.get(session_id=ds.sess_b)
    assert (b["token_count_prompt"], b["token_count_completion"], b["token_count_total"]) == (4, 5, 9)
    assert [t["trace_id"] for t in b["traces"]] == [ds.tid("C")]
    assert len(client.sessions.list(project_name=ds.project, limit=1)) == 1
    df = client.sessions.get_sessions_dataframe(project_name=ds.project)
    assert list(df["session_id"]) == [ds.sess_a, ds.sess_b]
    assert list(df["num_traces"]) == [2, 1]


def test_sessions_pagination(cinder, ds):
    for order, want in (("asc", [ds.sess_a, ds.sess_b]), ("desc", [ds.sess_b, ds.sess_a])):
        r = cinder.get(f"/v1/projects/{ds.project}/sessions", params={"limit": 1, "order": order})
        assert r.status_code == 200, r.text
        first = r.json()
        assert [s["session_id"] for s in first["data"]] == want[:1]
        assert first["next_cursor"]
        second = cinder.get(f"/v1/projects/{ds.project}/sessions",
                            params={"limit": 1, "order": order, "cursor": first["next_cursor"]}).json()
        assert [s["session_id"] for s in second["data"]] == want[1:]
        assert second["next_cursor"] is None


def test_session_not_found(client):
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.sessions.get(session_id="no-such-session-" + uuid.uuid4().hex)
    assert _status(e) == 404


def test_session_turns(client, ds):
    turns = client.sessions.get_session_turns(session_id=ds.sess_a)
    assert [t["trace_id"] for t in turns] == [ds.tid("A"), ds.tid("B")]
    assert [t["input"]["value"] for t in turns] == ["question A", "question B"]
    assert [t["output"]["value"] for t in turns] == ["answer A", "answer B"]
    assert [t["root_span"]["context"]["span_id"] for t in turns] == [ds.sid("A"), ds.sid("B")]


def _session_project(cinder, n_sessions: int):
    project = unique_name("sess-del")
    sessions = [f"s-{uuid.uuid4().hex[:10]}" for _ in range(n_sessions)]
    pipe = make_tracer_provider(None, project, None)
    for sid in sessions:
        with pipe.tracer.start_as_current_span("turn", attributes={"openinference.span.kind": "CHAIN", "session.id": sid}):
            with pipe.tracer.start_as_current_span("llm", attributes={"openinference.span.kind": "LLM"}):
                pass
    spans = pipe.finish()
    post_spans(cinder, spans)
    return project, sessions, spans


def test_session_delete(client, cinder):
    project, sessions, spans = _session_project(cinder, 2)
    assert len(client.spans.get_spans(project_identifier=project)) == 4
    client.sessions.delete(session_id=sessions[0])
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.sessions.get(session_id=sessions[0])
    assert _status(e) == 404
    assert [s["session_id"] for s in client.sessions.list(project_name=project)] == [sessions[1]]
    # Traces and spans of the deleted session cascade.
    remaining = client.spans.get_spans(project_identifier=project)
    assert len(remaining) == 2
    assert {s["attributes"].get("session.id") for s in remaining if s["parent_id"] is None} == {sessions[1]}
    assert len(client.traces.get_traces(project_identifier=project)) == 1
    # by GlobalID
    gid = client.sessions.get(session_id=sessions[1])["id"]
    client.sessions.delete(session_id=gid)
    assert client.sessions.list(project_name=project) == []
    assert client.spans.get_spans(project_identifier=project) == []
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.sessions.delete(session_id=sessions[0])
    assert _status(e) == 404


def test_session_bulk_delete(client, cinder):
    project, sessions, spans = _session_project(cinder, 3)
    client.sessions.bulk_delete(session_ids=[sessions[0], sessions[2], "does-not-exist-" + uuid.uuid4().hex])
    assert [s["session_id"] for s in client.sessions.list(project_name=project)] == [sessions[1]]
    assert len(client.spans.get_spans(project_identifier=project)) == 2
    r = cinder.post("/v1/sessions/delete", json={"session_identifiers": []})
    assert r.status_code == 422


# --------------------------------------------------------------------------------------------------
# Deletes, transfer, log_spans
# --------------------------------------------------------------------------------------------------


def _small_project(cinder, n_traces: int = 1):
    project = unique_name("del")
    pipe = make_tracer_provider(None, project, None)
    for i in range(n_traces):
        with pipe.tracer.start_as_current_span(f"root{i}", attributes={"openinference.span.kind": "CHAIN"}):
            with pipe.tracer.start_as_current_span(f"llm{i}", attributes={
                    "openinference.span.kind": "LLM", "llm.token_count.prompt": 10, "llm.token_count.completion": 1}):
                pass
            with pipe.tracer.start_as_current_span(f"tool{i}", attributes={"openinference.span.kind": "TOOL"}):
                pass
    spans = pipe.finish()
    post_spans(cinder, spans)
    return project, {s.name: s for s in spans}


def test_delete_span(client, cinder):
    project, s = _small_project(cinder)
    client.spans.delete(span_identifier=hex_span_id(s["tool0"]))
    got = client.spans.get_spans(project_identifier=project)
    assert ids(got) == {hex_span_id(s["root0"]), hex_span_id(s["llm0"])}
    # by GlobalID
    llm_gid = next(x["id"] for x in got if x["name"] == "llm0")
    client.spans.delete(span_identifier=llm_gid)
    assert ids(client.spans.get_spans(project_identifier=project)) == {hex_span_id(s["root0"])}
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.spans.delete(span_identifier=hex_span_id(s["tool0"]))
    assert _status(e) == 404
    # Trace token counts follow the deleted LLM span.
    (t,) = client.traces.get_traces(project_identifier=project)
    assert (t["token_count_prompt"], t["token_count_completion"], t["token_count_total"]) == (0, 0, 0)


def test_delete_trace(client, cinder):
    project, s = _small_project(cinder, n_traces=2)
    tid0 = hex_trace_id(s["root0"])
    r = cinder.delete(f"/v1/traces/{tid0}")
    assert r.status_code == 204, r.text
    got = client.spans.get_spans(project_identifier=project)
    assert ids(got) == {hex_span_id(s[n]) for n in ("root1", "llm1", "tool1")}
    traces = client.traces.get_traces(project_identifier=project)
    assert [t["trace_id"] for t in traces] == [hex_trace_id(s["root1"])]
    assert cinder.delete(f"/v1/traces/{tid0}").status_code == 404
    # by GlobalID
    r = cinder.delete(f"/v1/traces/{traces[0]['id']}")
    assert r.status_code == 204, r.text
    assert client.spans.get_spans(project_identifier=project) == []
    assert client.traces.get_traces(project_identifier=project) == []


def test_delete_traces_by_time_range(client, cinder):
    project = unique_name("del-range")
    pipe = make_tracer_provider(None, project, None)
    t0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    t0_ns = int(t0.timestamp()) * 1_000_000_000
    sx, sy = unique_name("sx"), unique_name("sy")
    for i, sess in enumerate((sx, sy, sx)):
        _span(pipe.tracer, f"r{i}", t0_ns + i * 60_000 * MS, t0_ns + i * 60_000 * MS + MS,
              **{"openinference.span.kind": "CHAIN", "session.id": sess})
    spans = {s.name: s for s in pipe.finish()}
    post_spans(cinder, list(spans.values()))
    r = cinder.delete(f"/v1/projects/{project}/traces", params={
        "start_time": (t0 + timedelta(minutes=1)).isoformat(), "end_time": (t0 + timedelta(minutes=2)).isoformat()})
    assert r.status_code == 204, r.text
    got = client.spans.get_spans(project_identifier=project)
    assert {g["name"] for g in got} == {"r0", "r2"}
    # Sessions left without traces are deleted with them (Phoenix).
    assert [s["session_id"] for s in client.sessions.list(project_name=project)] == [sx]
    assert [t["trace_id"] for t in client.sessions.get(session_id=sx)["traces"]] == [
        hex_trace_id(spans["r0"]), hex_trace_id(spans["r2"])]
    r = cinder.delete(f"/v1/projects/{project}/traces", params={"start_time": t0.isoformat()})
    assert r.status_code == 422


def test_transfer_traces(client, cinder):
    src, s = _small_project(cinder, n_traces=2)
    dst = unique_name("dst")
    client.projects.create(name=dst)
    r = cinder.post("/v1/traces/transfer", json={"trace_identifiers": [hex_trace_id(s["root0"])],
                                                 "destination_project_identifier": dst})
    assert r.status_code == 200, r.text
    body = r.json()["data"]
    assert body["transferred_trace_count"] == 1
    assert body["destination_project_id"] == client.projects.get(project_name=dst)["id"]
    assert ids(client.spans.get_spans(project_identifier=dst)) == {hex_span_id(s[n]) for n in ("root0", "llm0", "tool0")}
    assert ids(client.spans.get_spans(project_identifier=src)) == {hex_span_id(s[n]) for n in ("root1", "llm1", "tool1")}
    r = cinder.post("/v1/traces/transfer", json={"trace_identifiers": ["e" * 32], "destination_project_identifier": dst})
    assert r.status_code == 404


def test_log_spans(client):
    project = unique_name("log")
    trace_id, root_id, child_id = uuid.uuid4().hex, uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
    spans = [
        {"name": "logged-root", "context": {"trace_id": trace_id, "span_id": root_id}, "span_kind": "CHAIN",
         "start_time": "2024-03-01T10:00:00+00:00", "end_time": "2024-03-01T10:00:01.250000+00:00",
         "status_code": "OK", "attributes": {"input.value": "hello", "metadata": {"k": "v"}}},
        {"name": "logged-llm", "context": {"trace_id": trace_id, "span_id": child_id}, "parent_id": root_id,
         "span_kind": "LLM", "start_time": "2024-03-01T10:00:00.500000+00:00",
         "end_time": "2024-03-01T10:00:01+00:00", "status_code": "ERROR", "status_message": "rate limited",
         "attributes": {"llm.model_name": "m", "llm.token_count.prompt": 4},
         "events": [{"name": "exception", "timestamp": "2024-03-01T10:00:00.900000+00:00",
                     "attributes": {"exception.message": "429"}}]},
    ]
    result = client.spans.log_spans(project_identifier=project, spans=spans)
    assert result == {"total_received": 2, "total_queued": 2}
    deadline = time.monotonic() + 10
    while True:  # Phoenix inserts log_spans asynchronously
        try:
            got = client.spans.get_spans(project_identifier=project)
        except httpx.HTTPStatusError:
            got = []
        if len(got) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    by = {g["name"]: g for g in got}
    assert set(by) == {"logged-root", "logged-llm"}
    root, llm = by["logged-root"], by["logged-llm"]
    assert root["context"] == {"trace_id": trace_id, "span_id": root_id}
    assert root["parent_id"] is None and llm["parent_id"] == root_id
    assert root["start_time"] == "2024-03-01T10:00:00+00:00"
    assert root["end_time"] == "2024-03-01T10:00:01.250000+00:00"
    assert root["attributes"] == {"input.value": "hello", "metadata.k": "v"}
    assert (root["span_kind"], root["status_code"]) == ("CHAIN", "OK")
    assert (llm["span_kind"], llm["status_code"], llm["status_message"]) == ("LLM", "ERROR", "rate limited")
    assert llm["attributes"] == {"llm.model_name": "m", "llm.token_count.prompt": 4}
    assert llm["events"] == [{"name": "exception", "timestamp": "2024-03-01T10:00:00.900000+00:00",
                              "attributes": {"exception.message": "429"}}]
    # Logging the same spans again: duplicates are reported (Phoenix: 400 with a JSON detail).
    from phoenix.client.exceptions import SpanCreationError

    with pytest.raises(SpanCreationError) as e:
        client.spans.log_spans(project_identifier=project, spans=spans)
    assert e.value.total_duplicates == 2
    assert e.value.total_queued == 0
    assert sorted(d["span_id"] for d in e.value.duplicate_spans) == sorted([root_id, child_id])
    assert len(client.spans.get_spans(project_identifier=project)) == 2
