"""Annotations, notes and annotation configs through arize-phoenix-client (raw HTTP where the client has
no call, and for error cases).

Reference: Phoenix 20.26.1 (openapi.json in /work/shared/phoenix-reference). Behaviour the tests rely on:
- POST /v1/{span,trace,session,document}_annotations?sync=true answers {"data": [{"id": ...}]} in request
  order; the whole batch is rejected with 404 (nothing written) when one span/trace/session is unknown.
  Without sync the answer is {"data": []} and the rows appear asynchronously.
- Annotations are upserted on (entity, name, identifier), a missing identifier being "" (so re-posting
  returns the same id, replaces label/score/explanation/metadata/annotator_kind and keeps created_at).
- GET /v1/projects/{p}/{span,trace,session}_annotations lists newest first (id DESC), pages with
  limit/cursor, 404 when none of the requested ids exist in the project, 422 when no ids are given.
- Notes are rows named "note", annotator_kind HUMAN, the text in result.explanation, a fresh
  "px-<kind>-note:<uuid>" identifier per call unless the caller gives one (then they upsert).
- Annotation config names are unique (409); bodies that fail the schema are FastAPI 422
  {"detail": [{"loc", "msg", "type"}, ...]}; unknown configs are 404.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

import httpx
import pandas as pd
import pytest
import requests

from conftest import (
    client_span_count,
    encode_request,
    hex_span_id,
    hex_trace_id,
    make_tracer_provider,
    session_exists,
    unique_name,
)

WAIT_S = 15.0


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def post_spans(cinder, spans) -> None:
    r = requests.post(cinder.traces_url, data=encode_request(spans),
                      headers={"Content-Type": "application/x-protobuf"}, timeout=30)
    assert r.status_code == 200, r.text


def wait_for(what: str, probe: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """Polls probe() until it returns something truthy (ingestion and sync=false are asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def _status(excinfo) -> int:
    return excinfo.value.response.status_code


def gid(value: str) -> tuple[str, int]:
    """Decodes a GlobalID (base64 of "Type:rowid")."""
    assert isinstance(value, str) and value, value
    raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode()
    type_name, sep, rowid = raw.partition(":")
    assert sep and rowid.isdigit(), f"not a GlobalID: {value!r} ({raw!r})"
    return type_name, int(rowid)


def make_gid(type_name: str, rowid: int) -> str:
    return base64.b64encode(f"{type_name}:{rowid}".encode()).decode()


def rowid_of(value: str, type_name: str) -> int:
    """Row id of an inserted annotation. Phoenix's POST /v1/session_annotations returns the bare row id
    (str(rowid)) where the other endpoints return a GlobalID; accept either, but the type must match."""
    assert isinstance(value, str) and value, value
    if value.isdigit():
        return int(value)
    t, n = gid(value)
    assert t == type_name, (value, t, type_name)
    return n


def iso(value: str) -> datetime:
    assert isinstance(value, str) and value.endswith("+00:00"), f"timestamp not in +00:00 form: {value!r}"
    return datetime.fromisoformat(value)


def assert_recent(value: str) -> datetime:
    dt = iso(value)
    assert abs(datetime.now(timezone.utc) - dt) < timedelta(minutes=10), value
    return dt


def assert_validation_error(r: requests.Response, field: Optional[str] = None) -> list[dict]:
    """A FastAPI validation error: 422 with JSON {"detail": [{"loc": [...], "msg": ..., "type": ...}]}."""
    assert r.status_code == 422, (r.status_code, r.text)
    body = r.json()
    detail = body["detail"]
    assert isinstance(detail, list) and detail, body
    for d in detail:
        assert {"loc", "msg", "type"} <= set(d), d
        assert isinstance(d["loc"], list) and isinstance(d["msg"], str), d
    if field is not None:
        assert any(field in d["loc"] for d in detail), (field, detail)
    return detail


def missing_hex(n: int) -> str:
    return (uuid.uuid4().hex * 2)[:n]


@dataclass
class Data:
    project: str
    spans: dict  # name -> ReadableSpan
    sessions: list

    def sid(self, name: str) -> str:
        return hex_span_id(self.spans[name])

    def tid(self, name: str) -> str:
        return hex_trace_id(self.spans[name])


def ingest(cinder, client, project: str, sessions=(None,), documents: int = 0) -> Data:
    """One trace per entry of `sessions` (root{i} CHAIN -> llm{i} LLM [-> retriever{i} RETRIEVER with
    `documents` documents]); waits until every span (and session) is readable."""
    pipe = make_tracer_provider(None, project, None)
    t = pipe.tracer
    for i, session_id in enumerate(sessions):
        attrs = {"openinference.span.kind": "CHAIN", "input.value": f"question {i}", "output.value": f"answer {i}"}
        if session_id is not None:
            attrs["session.id"] = session_id
        with t.start_as_current_span(f"root{i}", attributes=attrs):
            with t.start_as_current_span(f"llm{i}", attributes={"openinference.span.kind": "LLM"}):
                pass
            if documents:
                doc_attrs: dict[str, Any] = {"openinference.span.kind": "RETRIEVER", "input.value": "paris weather"}
                for d in range(documents):
                    doc_attrs[f"retrieval.documents.{d}.document.id"] = f"doc-{d}"
                    doc_attrs[f"retrieval.documents.{d}.document.content"] = f"document number {d}"
                    doc_attrs[f"retrieval.documents.{d}.document.score"] = 1.0 - d / 10
                with t.start_as_current_span(f"retriever{i}", attributes=doc_attrs):
                    pass
    spans = pipe.finish()
    post_spans(cinder, spans)
    wait_for(f"{len(spans)} spans in {project}", lambda: client_span_count(client, project) == len(spans))
    for session_id in sessions:
        if session_id is not None:
            wait_for(f"session {session_id}", lambda: session_exists(client, session_id))
    return Data(project, {s.name: s for s in spans}, [s for s in sessions if s is not None])


def list_annotations(cinder, project: str, kind: str, ids: list[str], **params: Any) -> list[dict]:
    """GET /v1/projects/{project}/{kind}_annotations?{kind}_ids=..., all pages (no name exclusions)."""
    out: list[dict] = []
    cursor = None
    while True:
        p = {f"{kind}_ids": ids, "limit": 1000, **params}
        if cursor:
            p["cursor"] = cursor
        r = cinder.get(f"/v1/projects/{project}/{kind}_annotations", params=p)
        assert r.status_code == 200, (r.status_code, r.text)
        body = r.json()
        assert set(body) == {"data", "next_cursor"}, body
        out += body["data"]
        cursor = body["next_cursor"]
        if not cursor:
            return out
        assert len(out) < 10_000


def sync_post(cinder, path: str, body: Any) -> requests.Response:
    return cinder.post(path, params={"sync": "true"}, json=body)


# --------------------------------------------------------------------------------------------------
# Span annotations
# --------------------------------------------------------------------------------------------------


def test_add_span_annotation_roundtrip(client, cinder, project_name):
    d = ingest(cinder, client, project_name)
    root, llm = d.sid("root0"), d.sid("llm0")
    metadata = {"model": "judge-1", "run": 3, "tags": ["a", "b"], "nested": {"ok": True}}
    inserted = client.spans.add_span_annotation(
        span_id=root, annotation_name="correctness", annotator_kind="LLM", label="correct", score=0.875,
        explanation="matches the reference", metadata=metadata, identifier="judge-1", sync=True)
    assert set(inserted) == {"id"}
    assert gid(inserted["id"])[0] == "SpanAnnotation"
    second = client.spans.add_span_annotation(span_id=llm, annotation_name="latency-ok", annotator_kind="CODE",
                                              score=1.0, sync=True)
    assert gid(second["id"])[0] == "SpanAnnotation"
    assert second["id"] != inserted["id"]

    got = client.spans.get_span_annotations(span_ids=[root], project_identifier=project_name)
    assert len(got) == 1
    a = got[0]
    assert a["id"] == inserted["id"]
    assert a["span_id"] == root
    assert a["name"] == "correctness"
    assert a["annotator_kind"] == "LLM"
    assert a["result"] == {"label": "correct", "score": 0.875, "explanation": "matches the reference"}
    assert a["metadata"] == metadata
    assert a["identifier"] == "judge-1"
    assert a["source"] == "API"
    assert a["user_id"] is None
    assert assert_recent(a["updated_at"]) >= assert_recent(a["created_at"])

    (b,) = client.spans.get_span_annotations(span_ids=[llm], project_identifier=project_name)
    assert b["id"] == second["id"] and b["span_id"] == llm
    assert (b["name"], b["annotator_kind"]) == ("latency-ok", "CODE")
    assert b["result"] == {"label": None, "score": 1.0, "explanation": None}
    assert b["metadata"] == {}  # Phoenix stores `metadata or {}`
    assert b["identifier"] == ""  # the spec's default

    both = client.spans.get_span_annotations(span_ids=[root, llm], project_identifier=project_name)
    assert sorted(x["id"] for x in both) == sorted([inserted["id"], second["id"]])
    # The project may be given by its GlobalID too.
    pid = client.projects.get(project_name=project_name)["id"]
    assert client.spans.get_span_annotations(span_ids=[root], project_identifier=pid) == got
    # A span that exists but has no annotations: 200 with nothing.
    assert list_annotations(cinder, project_name, "span", [d.sid("root0")], include_annotation_names=["nope"]) == []


def test_log_span_annotations_batch_and_name_filters(client, cinder, project_name):
    d = ingest(cinder, client, project_name)
    root, llm = d.sid("root0"), d.sid("llm0")
    batch = [
        {"span_id": root, "name": "quality", "annotator_kind": "HUMAN", "result": {"label": "good", "score": 1.0}},
        {"span_id": root, "name": "toxicity", "annotator_kind": "LLM", "result": {"label": "safe", "score": 0.01}},
        {"span_id": llm, "name": "quality", "annotator_kind": "CODE",
         "result": {"label": "bad", "score": 0.0, "explanation": "empty output"}, "metadata": {"rule": "len>0"}},
    ]
    inserted = client.spans.log_span_annotations(span_annotations=batch, sync=True)
    assert len(inserted) == 3
    assert len({x["id"] for x in inserted}) == 3
    rowids = [gid(x["id"]) for x in inserted]
    assert all(t == "SpanAnnotation" for t, _ in rowids)

    got = client.spans.get_span_annotations(span_ids=[root, llm], project_identifier=project_name)
    by_id = {g["id"]: g for g in got}
    assert set(by_id) == {x["id"] for x in inserted}
    for sent, ins in zip(batch, inserted):
        g = by_id[ins["id"]]
        assert (g["span_id"], g["name"], g["annotator_kind"]) == (sent["span_id"], sent["name"], sent["annotator_kind"])
        assert g["result"] == {"label": None, "score": None, "explanation": None, **sent["result"]}
        assert g["metadata"] == sent.get("metadata", {})

    def names(**kw) -> list[tuple[str, str]]:
        rows = client.spans.get_span_annotations(span_ids=[root, llm], project_identifier=project_name, **kw)
        return sorted((r["span_id"], r["name"]) for r in rows)

    assert names(include_annotation_names=["quality"]) == sorted([(root, "quality"), (llm, "quality")])
    assert names(exclude_annotation_names=["quality"]) == [(root, "toxicity")]
    assert names(include_annotation_names=["quality", "toxicity"], exclude_annotation_names=["toxicity"]) == sorted(
        [(root, "quality"), (llm, "quality")])
    assert names(include_annotation_names=["does-not-exist"]) == []

    # spans= (what get_spans returned) instead of span ids
    spans = client.spans.get_spans(project_identifier=project_name)
    assert len(client.spans.get_span_annotations(spans=spans, project_identifier=project_name)) == 3

    # Raw: newest first (id DESC), one page, next_cursor null.
    data = list_annotations(cinder, project_name, "span", [root, llm])
    assert [gid(x["id"])[1] for x in data] == sorted((n for _, n in rowids), reverse=True)


def test_span_annotation_upsert(client, cinder, project_name):
    d = ingest(cinder, client, project_name)
    root, llm = d.sid("root0"), d.sid("llm0")

    def rows(name: Optional[str] = None, span: str = root) -> list[dict]:
        got = list_annotations(cinder, project_name, "span", [span])
        return [g for g in got if name is None or g["name"] == name]

    first = client.spans.add_span_annotation(span_id=root, annotation_name="helpfulness", label="yes", score=0.9,
                                             explanation="first", metadata={"v": 1}, sync=True)
    (before,) = rows()
    # Same name, no identifier: the row is updated in place (same id), every result field replaced.
    again = client.spans.add_span_annotation(span_id=root, annotation_name="helpfulness", annotator_kind="LLM",
                                             label="no", score=0.1, sync=True)
    assert again["id"] == first["id"]
    (after,) = rows()
    assert after["id"] == first["id"]
    assert after["result"] == {"label": "no", "score": 0.1, "explanation": None}
    assert after["metadata"] == {}
    assert after["annotator_kind"] == "LLM"
    assert after["identifier"] == ""
    assert after["created_at"] == before["created_at"]
    assert iso(after["updated_at"]) >= iso(before["updated_at"])

    # An explicit "" identifier is the same key as a missing one.
    r = sync_post(cinder, "/v1/span_annotations", {"data": [
        {"span_id": root, "name": "helpfulness", "annotator_kind": "HUMAN", "identifier": "",
         "result": {"label": "maybe"}}]})
    assert r.status_code == 200, r.text
    assert r.json() == {"data": [{"id": first["id"]}]}
    (only,) = rows()
    assert only["result"] == {"label": "maybe", "score": None, "explanation": None}

    # Different identifiers: separate rows with the same name.
    a = client.spans.add_span_annotation(span_id=root, annotation_name="helpfulness", label="A", identifier="rater-a",
                                         sync=True)
    b = client.spans.add_span_annotation(span_id=root, annotation_name="helpfulness", label="B", identifier="rater-b",
                                         sync=True)
    assert len({first["id"], a["id"], b["id"]}) == 3
    assert len(rows("helpfulness")) == 3
    # Same identifier again: rater-a's row is updated, still three.
    a2 = client.spans.add_span_annotation(span_id=root, annotation_name="helpfulness", annotator_kind="CODE",
                                          label="A2", score=2.0, identifier="rater-a", sync=True)
    assert a2["id"] == a["id"]
    by_identifier = {g["identifier"]: g for g in rows("helpfulness")}
    assert set(by_identifier) == {"", "rater-a", "rater-b"}
    assert by_identifier["rater-a"]["result"] == {"label": "A2", "score": 2.0, "explanation": None}
    assert by_identifier["rater-a"]["annotator_kind"] == "CODE"
    assert by_identifier["rater-b"]["result"]["label"] == "B"
    assert by_identifier[""]["result"]["label"] == "maybe"
    # The name is part of the key, and so is the span.
    other = client.spans.add_span_annotation(span_id=root, annotation_name="clarity", label="clear",
                                             identifier="rater-a", sync=True)
    elsewhere = client.spans.add_span_annotation(span_id=llm, annotation_name="helpfulness", label="A",
                                                 identifier="rater-a", sync=True)
    assert len({a["id"], other["id"], elsewhere["id"]}) == 3
    assert len(rows()) == 4
    assert len(rows(span=llm)) == 1

    # GET filtered by identifier only (spec: span_ids or identifier; AND when both).
    r = cinder.get(f"/v1/projects/{project_name}/span_annotations", params={"identifier": ["rater-a"], "limit": 100})
    assert r.status_code == 200, r.text
    assert sorted(x["id"] for x in r.json()["data"]) == sorted([a["id"], other["id"], elsewhere["id"]])
    r = cinder.get(f"/v1/projects/{project_name}/span_annotations",
                   params={"identifier": ["rater-a"], "span_ids": [root], "limit": 100})
    assert r.status_code == 200, r.text
    assert sorted(x["id"] for x in r.json()["data"]) == sorted([a["id"], other["id"]])


def test_span_annotations_without_sync_are_applied_asynchronously(client, cinder, project_name):
    d = ingest(cinder, client, project_name)
    root = d.sid("root0")
    assert client.spans.add_span_annotation(span_id=root, annotation_name="async-a", label="x") is None
    r = cinder.post("/v1/span_annotations", json={"data": [
        {"span_id": root, "name": "async-b", "annotator_kind": "CODE", "result": {"score": 7}}]})
    assert r.status_code == 200, r.text
    assert r.json() == {"data": []}  # ids are only returned with sync=true

    def both_visible():
        rows = list_annotations(cinder, project_name, "span", [root])
        return rows if len(rows) == 2 else None

    got = wait_for("two async span annotations", both_visible)
    by_name = {g["name"]: g for g in got}
    assert set(by_name) == {"async-a", "async-b"}
    assert by_name["async-a"]["result"] == {"label": "x", "score": None, "explanation": None}
    assert by_name["async-a"]["annotator_kind"] == "HUMAN"
    assert by_name["async-b"]["result"] == {"label": None, "score": 7.0, "explanation": None}
    assert all(gid(g["id"])[0] == "SpanAnnotation" for g in got)


def test_span_annotations_dataframes(client, cinder, project_name):
    d = ingest(cinder, client, project_name)
    root, llm = d.sid("root0"), d.sid("llm0")
    df = pd.DataFrame({
        "span_id": [root, llm, root],
        "name": ["relevance", "relevance", "conciseness"],
        "annotator_kind": ["LLM", "LLM", "HUMAN"],
        "label": ["relevant", "irrelevant", "short"],
        "score": [1.0, 0.0, 0.5],
        "explanation": ["on topic", "off topic", "brief"],
    })
    inserted = client.spans.log_span_annotations_dataframe(dataframe=df, sync=True)
    assert len(inserted) == 3 and len({x["id"] for x in inserted}) == 3
    # Span ids from the index, name and kind given globally.
    df2 = pd.DataFrame({"label": ["positive", "negative"]}, index=[root, llm])
    inserted2 = client.spans.log_span_annotations_dataframe(dataframe=df2, annotation_name="sentiment",
                                                            annotator_kind="CODE", sync=True)
    assert len(inserted2) == 2

    out = client.spans.get_span_annotations_dataframe(span_ids=[root, llm], project_identifier=project_name)
    assert len(out) == 5
    assert out.index.name == "span_id"
    for col in ("id", "annotation_name", "annotator_kind", "result.label", "result.score", "result.explanation",
                "metadata", "identifier", "source", "created_at", "updated_at"):
        assert col in out.columns, (col, list(out.columns))

    def norm(v):
        return None if v is None or (isinstance(v, float) and pd.isna(v)) else v

    got = sorted((idx, r["annotation_name"], r["annotator_kind"], norm(r["result.label"]), norm(r["result.score"]),
                  norm(r["result.explanation"])) for idx, r in out.iterrows())
    assert got == sorted([
        (root, "relevance", "LLM", "relevant", 1.0, "on topic"),
        (llm, "relevance", "LLM", "irrelevant", 0.0, "off topic"),
        (root, "conciseness", "HUMAN", "short", 0.5, "brief"),
        (root, "sentiment", "CODE", "positive", None, None),
        (llm, "sentiment", "CODE", "negative", None, None),
    ])
    assert set(out["id"]) == {x["id"] for x in inserted + inserted2}

    spans_df = client.spans.get_spans_dataframe(project_identifier=project_name)
    from_spans = client.spans.get_span_annotations_dataframe(spans_dataframe=spans_df, project_identifier=project_name)
    assert len(from_spans) == 5
    only = client.spans.get_span_annotations_dataframe(span_ids=[root, llm], project_identifier=project_name,
                                                       include_annotation_names=["sentiment"])
    assert sorted(only["result.label"]) == ["negative", "positive"]
    assert set(only.index) == {root, llm}


def test_span_annotation_unknown_span_is_404_and_writes_nothing(client, cinder, project_name):
    d = ingest(cinder, client, project_name)
    root = d.sid("root0")
    missing = missing_hex(16)
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.spans.add_span_annotation(span_id=missing, annotation_name="q", label="x", sync=True)
    assert _status(e) == 404
    # One unknown span rejects the whole batch (Phoenix checks every span before inserting).
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.spans.log_span_annotations(span_annotations=[
            {"span_id": root, "name": "q", "annotator_kind": "HUMAN", "result": {"label": "ok"}},
            {"span_id": missing, "name": "q", "annotator_kind": "HUMAN", "result": {"label": "ok"}},
        ], sync=True)
    assert _status(e) == 404
    r = sync_post(cinder, "/v1/span_annotations", {"data": [
        {"span_id": missing, "name": "q", "annotator_kind": "HUMAN", "result": {"label": "ok"}}]})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/plain"), r.headers  # non-422 errors are plain text
    assert list_annotations(cinder, project_name, "span", [root]) == []
    assert client.spans.get_span_annotations(span_ids=[root], project_identifier=project_name) == []

    # Reads: none of the span ids in the project -> 404; unknown project -> 404; no ids at all -> 422.
    r = cinder.get(f"/v1/projects/{project_name}/span_annotations", params={"span_ids": [missing]})
    assert r.status_code == 404, r.text
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.spans.get_span_annotations(span_ids=[missing], project_identifier=project_name)
    assert _status(e) == 404
    r = cinder.get(f"/v1/projects/{unique_name('missing')}/span_annotations", params={"span_ids": [root]})
    assert r.status_code == 404, r.text
    r = cinder.get(f"/v1/projects/{project_name}/span_annotations")
    assert r.status_code == 422, r.text
    # A span of another project is "not in this project".
    other = ingest(cinder, client, unique_name("proj"))
    client.spans.add_span_annotation(span_id=other.sid("root0"), annotation_name="q", label="x", sync=True)
    r = cinder.get(f"/v1/projects/{project_name}/span_annotations", params={"span_ids": [other.sid("root0")]})
    assert r.status_code == 404, r.text
    assert len(list_annotations(cinder, other.project, "span", [other.sid("root0")])) == 1


def test_span_annotation_invalid_bodies_are_422_and_write_nothing(client, cinder, project_name):
    d = ingest(cinder, client, project_name)
    root = d.sid("root0")
    ok = {"span_id": root, "name": "q", "annotator_kind": "HUMAN", "result": {"label": "fine"}}

    def without(key: str) -> dict:
        return {k: v for k, v in ok.items() if k != key}

    cases = [
        ({"data": [without("name")]}, "name"),
        ({"data": [{**ok, "annotator_kind": "ROBOT"}]}, "annotator_kind"),
        ({"data": [without("annotator_kind")]}, "annotator_kind"),
        ({"data": [without("span_id")]}, "span_id"),
        ({"data": [{**ok, "result": {"score": "high"}}]}, "score"),
        ({"data": [{**ok, "metadata": [1, 2]}]}, "metadata"),
        ({"data": [{**ok, "name": 17}]}, "name"),
        ({}, "data"),
        ({"data": ok}, None),
        # One bad entry rejects the batch: the valid one is not written either.
        ({"data": [ok, {**ok, "name": "q2", "annotator_kind": "nobody"}]}, "annotator_kind"),
    ]
    for body, field in cases:
        for params in ({"sync": "true"}, {}):
            r = cinder.post("/v1/span_annotations", params=params, json=body)
            assert_validation_error(r, field)
    r = cinder.post("/v1/span_annotations", params={"sync": "true"}, data=b"{not json",
                    headers={"Content-Type": "application/json"})
    assert_validation_error(r)
    time.sleep(0.5)  # give an (incorrectly) queued sync=false write the chance to show up
    assert list_annotations(cinder, project_name, "span", [root]) == []


def test_span_notes(client, cinder, project_name):
    d = ingest(cinder, client, project_name)
    root = d.sid("root0")
    n1 = client.spans.add_span_note(span_id=root, note="first look")
    n2 = client.spans.add_span_note(span_id=root, note="  second look  ")  # the client strips
    assert gid(n1["id"])[0] == "SpanAnnotation" and gid(n2["id"])[0] == "SpanAnnotation"
    assert n1["id"] != n2["id"]
    client.spans.add_span_annotation(span_id=root, annotation_name="quality", label="ok", sync=True)

    # The client excludes notes by default.
    assert [a["name"] for a in client.spans.get_span_annotations(span_ids=[root], project_identifier=project_name)] \
        == ["quality"]
    notes = client.spans.get_span_annotations(span_ids=[root], project_identifier=project_name,
                                              include_annotation_names=["note"], exclude_annotation_names=[])
    assert sorted(n["id"] for n in notes) == sorted([n1["id"], n2["id"]])
    by_id = {n["id"]: n for n in notes}
    for inserted, text in ((n1, "first look"), (n2, "second look")):
        n = by_id[inserted["id"]]
        assert (n["name"], n["annotator_kind"], n["source"], n["span_id"]) == ("note", "HUMAN", "API", root)
        assert n["result"] == {"label": None, "score": None, "explanation": text}
        assert n["metadata"] == {}
        assert n["identifier"].startswith("px-span-note:"), n["identifier"]
        assert_recent(n["created_at"])
    assert by_id[n1["id"]]["identifier"] != by_id[n2["id"]]["identifier"]

    # A caller-supplied identifier upserts.
    r1 = cinder.post("/v1/span_notes", json={"data": {"span_id": root, "note": "v1", "identifier": "pinned"}})
    r2 = cinder.post("/v1/span_notes", json={"data": {"span_id": root, "note": "v2", "identifier": "pinned"}})
    assert r1.status_code == 200 and r2.status_code == 200, (r1.text, r2.text)
    assert r1.json()["data"]["id"] == r2.json()["data"]["id"]
    notes = list_annotations(cinder, project_name, "span", [root], include_annotation_names=["note"])
    assert len(notes) == 3
    (pinned,) = [n for n in notes if n["identifier"] == "pinned"]
    assert pinned["result"]["explanation"] == "v2"

    # Errors: unknown span 404, empty note / missing span_id 422; nothing written.
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.spans.add_span_note(span_id=missing_hex(16), note="lost")
    assert _status(e) == 404
    assert_validation_error(cinder.post("/v1/span_notes", json={"data": {"span_id": root, "note": ""}}), "note")
    assert_validation_error(cinder.post("/v1/span_notes", json={"data": {"note": "no span"}}), "span_id")
    assert_validation_error(cinder.post("/v1/span_notes", json={"span_id": root, "note": "not wrapped"}), "data")
    assert len(list_annotations(cinder, project_name, "span", [root])) == 4  # 3 notes + quality


def test_span_annotations_pagination(client, cinder, project_name):
    d = ingest(cinder, client, project_name)
    root = d.sid("root0")
    names = [f"metric-{i}" for i in range(5)]
    inserted = client.spans.log_span_annotations(span_annotations=[
        {"span_id": root, "name": n, "annotator_kind": "CODE", "result": {"score": float(i)}}
        for i, n in enumerate(names)], sync=True)
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"span_ids": [root], "limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = cinder.get(f"/v1/projects/{project_name}/span_annotations", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 10, "pagination does not terminate"
    assert [len(p) for p in pages] == [2, 2, 1]
    flat = [a["id"] for p in pages for a in p]
    assert len(set(flat)) == 5 and set(flat) == {x["id"] for x in inserted}
    # Newest first across pages.
    assert [a["name"] for p in pages for a in p] == names[::-1]
    # The client follows next_cursor.
    assert len(client.spans.get_span_annotations(span_ids=[root], project_identifier=project_name, limit=2)) == 5


# --------------------------------------------------------------------------------------------------
# Document annotations
# --------------------------------------------------------------------------------------------------


def test_document_annotations(client, cinder, project_name):
    d = ingest(cinder, client, project_name, documents=3)
    ret = d.sid("retriever0")
    first = client.spans.add_document_annotation(
        span_id=ret, document_position=0, annotation_name="relevance", annotator_kind="LLM", label="relevant",
        score=0.9, explanation="mentions paris", metadata={"judge": "j1"}, sync=True)
    assert set(first) == {"id"}
    assert gid(first["id"])[0] == "DocumentAnnotation"
    more = client.spans.log_document_annotations(document_annotations=[
        {"span_id": ret, "document_position": 1, "name": "relevance", "annotator_kind": "LLM",
         "result": {"label": "irrelevant", "score": 0.1}},
        {"span_id": ret, "document_position": 2, "name": "relevance", "annotator_kind": "LLM",
         "result": {"label": "relevant", "score": 0.7}},
    ], sync=True)
    assert len(more) == 2
    ids = [first["id"]] + [m["id"] for m in more]
    assert len(set(ids)) == 3 and all(gid(i)[0] == "DocumentAnnotation" for i in ids)
    # Upsert on (span, document_position, name, identifier): same id back.
    again = client.spans.add_document_annotation(span_id=ret, document_position=0, annotation_name="relevance",
                                                 label="irrelevant", sync=True)
    assert again["id"] == first["id"]
    df = pd.DataFrame({"span_id": [ret, ret], "document_position": [0, 1], "label": ["a", "b"]})
    from_df = client.spans.log_document_annotations_dataframe(dataframe=df, annotation_name="relevance",
                                                              annotator_kind="HUMAN", sync=True)
    assert [x["id"] for x in from_df] == ids[:2]
    other_name = client.spans.add_document_annotation(span_id=ret, document_position=0, annotation_name="novelty",
                                                      score=0.3, sync=True)
    assert other_name["id"] not in ids

    # Errors.
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.spans.add_document_annotation(span_id=missing_hex(16), document_position=0,
                                             annotation_name="relevance", label="x", sync=True)
    assert _status(e) == 404
    ok = {"span_id": ret, "document_position": 0, "name": "relevance", "annotator_kind": "HUMAN",
          "result": {"label": "x"}}
    # Phoenix: the position must be within the span's retrieval.documents (3 here) -> 422 (plain text).
    r = sync_post(cinder, "/v1/document_annotations", {"data": [{**ok, "document_position": 3}]})
    assert r.status_code == 422, r.text
    # Phoenix: a non-empty identifier is not supported for document annotations -> 422 (spec).
    r = sync_post(cinder, "/v1/document_annotations", {"data": [{**ok, "identifier": "rater-1"}]})
    assert r.status_code == 422, r.text
    assert_validation_error(sync_post(cinder, "/v1/document_annotations",
                                      {"data": [{k: v for k, v in ok.items() if k != "document_position"}]}),
                            "document_position")
    assert_validation_error(sync_post(cinder, "/v1/document_annotations", {"data": [{**ok, "annotator_kind": "X"}]}),
                            "annotator_kind")
    # Document annotations do not show up as span annotations.
    assert list_annotations(cinder, project_name, "span", [ret]) == []


# --------------------------------------------------------------------------------------------------
# Trace annotations and notes
# --------------------------------------------------------------------------------------------------


def test_trace_annotations(client, cinder, project_name):
    d = ingest(cinder, client, project_name, sessions=(None, None))
    t0, t1 = d.tid("root0"), d.tid("root1")
    assert t0 != t1
    first = client.traces.add_trace_annotation(
        trace_id=t0, annotation_name="resolved", annotator_kind="HUMAN", label="yes", score=1.0,
        explanation="user confirmed", metadata={"ticket": 42}, sync=True)
    assert gid(first["id"])[0] == "TraceAnnotation"
    logged = client.traces.log_trace_annotations(trace_annotations=[
        {"trace_id": t1, "name": "resolved", "annotator_kind": "LLM", "result": {"label": "no", "score": 0.0}},
        {"trace_id": t0, "name": "turns", "annotator_kind": "CODE", "result": {"score": 3}},
    ], sync=True)
    assert len(logged) == 2 and all(gid(x["id"])[0] == "TraceAnnotation" for x in logged)
    from_df = client.traces.log_trace_annotations_dataframe(
        dataframe=pd.DataFrame({"trace_id": [t0, t1], "label": ["en", "fr"]}),
        annotation_name="language", annotator_kind="CODE", sync=True)
    assert len(from_df) == 2
    all_ids = {x["id"] for x in [first, *logged, *from_df]}
    assert len(all_ids) == 5

    got = list_annotations(cinder, project_name, "trace", [t0, t1])
    assert {g["id"] for g in got} == all_ids
    by_key = {(g["trace_id"], g["name"]): g for g in got}
    a = by_key[(t0, "resolved")]
    assert a["id"] == first["id"]
    assert a["annotator_kind"] == "HUMAN"
    assert a["result"] == {"label": "yes", "score": 1.0, "explanation": "user confirmed"}
    assert a["metadata"] == {"ticket": 42}
    assert (a["identifier"], a["source"], a["user_id"]) == ("", "API", None)
    assert_recent(a["created_at"])
    assert by_key[(t1, "resolved")]["result"] == {"label": "no", "score": 0.0, "explanation": None}
    assert by_key[(t0, "turns")]["result"] == {"label": None, "score": 3.0, "explanation": None}
    assert {(k, g["result"]["label"]) for k, g in by_key.items() if k[1] == "language"} == {
        ((t0, "language"), "en"), ((t1, "language"), "fr")}
    assert [gid(g["id"])[1] for g in got] == sorted((gid(i)[1] for i in all_ids), reverse=True)
    assert len(list_annotations(cinder, project_name, "trace", [t0, t1], include_annotation_names=["resolved"])) == 2
    assert len(list_annotations(cinder, project_name, "trace", [t0, t1], exclude_annotation_names=["language"])) == 3
    assert len(list_annotations(cinder, project_name, "trace", [t1])) == 2

    # Upsert: same name on the same trace -> same row, values replaced; another identifier -> new row.
    again = client.traces.add_trace_annotation(trace_id=t0, annotation_name="resolved", label="no", score=0.0,
                                               sync=True)
    assert again["id"] == first["id"]
    extra = client.traces.add_trace_annotation(trace_id=t0, annotation_name="resolved", label="yes",
                                               identifier="reviewer-2", sync=True)
    assert extra["id"] not in all_ids
    resolved = list_annotations(cinder, project_name, "trace", [t0], include_annotation_names=["resolved"])
    by_identifier = {g["identifier"]: g for g in resolved}
    assert set(by_identifier) == {"", "reviewer-2"}
    assert by_identifier[""]["result"] == {"label": "no", "score": 0.0, "explanation": None}
    assert by_identifier[""]["metadata"] == {}

    # Unknown trace: 404 for the whole batch, nothing written.
    missing = missing_hex(32)
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.traces.log_trace_annotations(trace_annotations=[
            {"trace_id": t0, "name": "extra", "annotator_kind": "HUMAN", "result": {"label": "x"}},
            {"trace_id": missing, "name": "extra", "annotator_kind": "HUMAN", "result": {"label": "x"}},
        ], sync=True)
    assert _status(e) == 404
    assert list_annotations(cinder, project_name, "trace", [t0], include_annotation_names=["extra"]) == []
    assert_validation_error(sync_post(cinder, "/v1/trace_annotations", {"data": [
        {"trace_id": t0, "name": "extra", "annotator_kind": "GPT", "result": {"label": "x"}}]}), "annotator_kind")
    assert_validation_error(sync_post(cinder, "/v1/trace_annotations", {"data": [
        {"name": "extra", "annotator_kind": "HUMAN", "result": {"label": "x"}}]}), "trace_id")
    assert list_annotations(cinder, project_name, "trace", [t0], include_annotation_names=["extra"]) == []
    r = cinder.get(f"/v1/projects/{project_name}/trace_annotations", params={"trace_ids": [missing]})
    assert r.status_code == 404, r.text
    r = cinder.get(f"/v1/projects/{project_name}/trace_annotations")
    assert r.status_code == 422, r.text


def test_trace_notes(client, cinder, project_name):
    d = ingest(cinder, client, project_name)
    tid = d.tid("root0")
    ids = []
    for text in ("looks wrong", "checked again"):
        r = cinder.post("/v1/trace_notes", json={"data": {"trace_id": tid, "note": text}})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"data"} and set(body["data"]) == {"id"}
        assert gid(body["data"]["id"])[0] == "TraceAnnotation"
        ids.append(body["data"]["id"])
    assert ids[0] != ids[1]
    pinned = [cinder.post("/v1/trace_notes", json={"data": {"trace_id": tid, "note": t, "identifier": "triage"}})
              for t in ("p1", "p2")]
    assert all(p.status_code == 200 for p in pinned), [p.text for p in pinned]
    assert pinned[0].json() == pinned[1].json()

    notes = list_annotations(cinder, project_name, "trace", [tid], include_annotation_names=["note"])
    assert len(notes) == 3
    by_id = {n["id"]: n for n in notes}
    for i, text in zip(ids, ("looks wrong", "checked again")):
        n = by_id[i]
        assert (n["name"], n["annotator_kind"], n["trace_id"], n["source"]) == ("note", "HUMAN", tid, "API")
        assert n["result"] == {"label": None, "score": None, "explanation": text}
        assert n["metadata"] == {}
        assert n["identifier"].startswith("px-trace-note:"), n["identifier"]
    assert by_id[pinned[0].json()["data"]["id"]]["result"]["explanation"] == "p2"
    assert list_annotations(cinder, project_name, "trace", [tid], exclude_annotation_names=["note"]) == []

    r = cinder.post("/v1/trace_notes", json={"data": {"trace_id": missing_hex(32), "note": "lost"}})
    assert r.status_code == 404, r.text
    assert_validation_error(cinder.post("/v1/trace_notes", json={"data": {"trace_id": tid, "note": ""}}), "note")
    assert_validation_error(cinder.post("/v1/trace_notes", json={"data": {"note": "x"}}), "trace_id")
    assert len(list_annotations(cinder, project_name, "trace", [tid])) == 3


# --------------------------------------------------------------------------------------------------
# Session annotations and notes
# --------------------------------------------------------------------------------------------------


def test_session_annotations(client, cinder, project_name):
    s_a, s_b = f"sess-a-{uuid.uuid4().hex[:8]}", f"sess-b-{uuid.uuid4().hex[:8]}"
    ingest(cinder, client, project_name, sessions=(s_a, s_b))
    first = client.sessions.add_session_annotation(
        session_id=s_a, annotation_name="satisfaction", annotator_kind="HUMAN", label="happy", score=0.9,
        explanation="said thanks", metadata={"channel": "chat"}, sync=True)
    assert set(first) == {"id"}
    logged = client.sessions.log_session_annotations(session_annotations=[
        {"session_id": s_b, "name": "satisfaction", "annotator_kind": "LLM", "result": {"label": "angry", "score": 0.1}},
        {"session_id": s_a, "name": "goal-met", "annotator_kind": "CODE", "result": {"label": "yes"}},
    ], sync=True)
    from_df = client.sessions.log_session_annotations_dataframe(
        dataframe=pd.DataFrame({"session_id": [s_a, s_b], "score": [2.0, 5.0]}),
        annotation_name="turn-count", annotator_kind="CODE", sync=True)
    assert len(logged) == 2 and len(from_df) == 2
    rowids = {rowid_of(x["id"], "ProjectSessionAnnotation") for x in [first, *logged, *from_df]}
    assert len(rowids) == 5

    got = list_annotations(cinder, project_name, "session", [s_a, s_b])
    assert len(got) == 5
    assert {gid(g["id"])[1] for g in got} == rowids
    assert all(gid(g["id"])[0] == "ProjectSessionAnnotation" for g in got)
    by_key = {(g["session_id"], g["name"]): g for g in got}
    a = by_key[(s_a, "satisfaction")]
    assert gid(a["id"])[1] == rowid_of(first["id"], "ProjectSessionAnnotation")
    assert a["annotator_kind"] == "HUMAN"
    assert a["result"] == {"label": "happy", "score": 0.9, "explanation": "said thanks"}
    assert a["metadata"] == {"channel": "chat"}
    assert (a["identifier"], a["source"], a["user_id"]) == ("", "API", None)
    assert_recent(a["created_at"])
    assert by_key[(s_b, "satisfaction")]["result"] == {"label": "angry", "score": 0.1, "explanation": None}
    assert by_key[(s_a, "goal-met")]["annotator_kind"] == "CODE"
    assert by_key[(s_b, "turn-count")]["result"]["score"] == 5.0
    assert len(list_annotations(cinder, project_name, "session", [s_a])) == 3
    assert len(list_annotations(cinder, project_name, "session", [s_a, s_b],
                                include_annotation_names=["satisfaction"])) == 2
    assert len(list_annotations(cinder, project_name, "session", [s_a, s_b],
                                exclude_annotation_names=["turn-count", "goal-met"])) == 2

    # Upsert.
    again = client.sessions.add_session_annotation(session_id=s_a, annotation_name="satisfaction", label="neutral",
                                                   annotator_kind="LLM", sync=True)
    assert rowid_of(again["id"], "ProjectSessionAnnotation") == rowid_of(first["id"], "ProjectSessionAnnotation")
    (updated,) = list_annotations(cinder, project_name, "session", [s_a], include_annotation_names=["satisfaction"])
    assert updated["result"] == {"label": "neutral", "score": None, "explanation": None}
    assert (updated["annotator_kind"], updated["metadata"]) == ("LLM", {})
    assert updated["created_at"] == a["created_at"]
    second_rater = client.sessions.add_session_annotation(session_id=s_a, annotation_name="satisfaction",
                                                          label="happy", identifier="rater-2", sync=True)
    assert rowid_of(second_rater["id"], "ProjectSessionAnnotation") not in rowids
    assert len(list_annotations(cinder, project_name, "session", [s_a],
                                include_annotation_names=["satisfaction"])) == 2

    # Unknown session: 404, batch not written.
    missing = f"no-such-session-{uuid.uuid4().hex}"
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.sessions.add_session_annotation(session_id=missing, annotation_name="x", label="x", sync=True)
    assert _status(e) == 404
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.sessions.log_session_annotations(session_annotations=[
            {"session_id": s_b, "name": "extra", "annotator_kind": "HUMAN", "result": {"label": "x"}},
            {"session_id": missing, "name": "extra", "annotator_kind": "HUMAN", "result": {"label": "x"}},
        ], sync=True)
    assert _status(e) == 404
    assert_validation_error(sync_post(cinder, "/v1/session_annotations", {"data": [
        {"session_id": s_b, "name": "extra", "annotator_kind": "BOT", "result": {"label": "x"}}]}), "annotator_kind")
    assert list_annotations(cinder, project_name, "session", [s_b], include_annotation_names=["extra"]) == []
    r = cinder.get(f"/v1/projects/{project_name}/session_annotations", params={"session_ids": [missing]})
    assert r.status_code == 404, r.text


def test_session_notes(client, cinder, project_name):
    sess = f"sess-{uuid.uuid4().hex[:10]}"
    ingest(cinder, client, project_name, sessions=(sess,))
    ids = []
    for text in ("user gave up", "retry later"):
        r = cinder.post("/v1/session_notes", json={"data": {"session_id": sess, "note": text}})
        assert r.status_code == 200, r.text
        ids.append(rowid_of(r.json()["data"]["id"], "ProjectSessionAnnotation"))
    assert ids[0] != ids[1]
    notes = list_annotations(cinder, project_name, "session", [sess], include_annotation_names=["note"])
    assert sorted(gid(n["id"])[1] for n in notes) == sorted(ids)
    for n in notes:
        assert (n["name"], n["annotator_kind"], n["session_id"], n["source"]) == ("note", "HUMAN", sess, "API")
        assert n["result"]["label"] is None and n["result"]["score"] is None
        assert n["identifier"].startswith("px-session-note:"), n["identifier"]
    assert sorted(n["result"]["explanation"] for n in notes) == ["retry later", "user gave up"]

    r = cinder.post("/v1/session_notes", json={"data": {"session_id": f"nope-{uuid.uuid4().hex}", "note": "x"}})
    assert r.status_code == 404, r.text
    assert_validation_error(cinder.post("/v1/session_notes", json={"data": {"session_id": sess, "note": ""}}), "note")
    assert_validation_error(cinder.post("/v1/session_notes", json={"data": {"note": "x"}}), "session_id")
    assert len(list_annotations(cinder, project_name, "session", [sess])) == 2


# --------------------------------------------------------------------------------------------------
# Deleting annotations
# --------------------------------------------------------------------------------------------------


def test_delete_annotations(client, cinder, project_name):
    sess = f"sess-{uuid.uuid4().hex[:10]}"
    d = ingest(cinder, client, project_name, sessions=(sess,))
    root, tid = d.sid("root0"), d.tid("root0")
    other = ingest(cinder, client, unique_name("proj"))
    client.spans.log_span_annotations(span_annotations=[
        {"span_id": root, "name": "keep", "annotator_kind": "HUMAN", "result": {"label": "k"}},
        {"span_id": root, "name": "drop", "annotator_kind": "HUMAN", "result": {"label": "d1"}},
        {"span_id": root, "name": "drop", "annotator_kind": "LLM", "identifier": "x", "result": {"label": "d2"}},
        {"span_id": other.sid("root0"), "name": "drop", "annotator_kind": "HUMAN", "result": {"label": "o"}},
    ], sync=True)
    path = f"/v1/projects/{project_name}/span_annotations"
    now = datetime.now(timezone.utc)

    def span_rows() -> list[tuple[str, str]]:
        return sorted((a["name"], a["identifier"]) for a in list_annotations(cinder, project_name, "span", [root]))

    # Unbounded deletes need delete_all=true or both start_time and end_time (spec) -> 422, nothing deleted.
    for params in ({"name": "drop"}, {"start_time": (now - timedelta(hours=1)).isoformat()},
                   {"end_time": (now + timedelta(hours=1)).isoformat(), "name": "drop"},
                   {"start_time": (now + timedelta(hours=1)).isoformat(),
                    "end_time": (now - timedelta(hours=1)).isoformat()}):
        r = cinder.delete(path, params=params)
        assert r.status_code == 422, (params, r.status_code, r.text)
    assert_validation_error(cinder.delete(path, params={"delete_all": "true", "annotator_kind": "ROBOT"}),
                            "annotator_kind")
    assert span_rows() == [("drop", ""), ("drop", "x"), ("keep", "")]

    r = cinder.delete(path, params={"delete_all": "true", "name": "drop", "annotator_kind": "LLM"})
    assert r.status_code == 204, r.text
    assert span_rows() == [("drop", ""), ("keep", "")]
    r = cinder.delete(path, params={"delete_all": "true", "name": "drop"})
    assert r.status_code == 204, r.text
    assert span_rows() == [("keep", "")]
    # Idempotent; a window in the past matches nothing.
    assert cinder.delete(path, params={"delete_all": "true", "name": "drop"}).status_code == 204
    r = cinder.delete(path, params={"start_time": (now - timedelta(hours=3)).isoformat(),
                                    "end_time": (now - timedelta(hours=2)).isoformat()})
    assert r.status_code == 204, r.text
    assert span_rows() == [("keep", "")]
    # A window around now deletes the rest of this project only.
    r = cinder.delete(path, params={"start_time": (now - timedelta(hours=1)).isoformat(),
                                    "end_time": (now + timedelta(hours=1)).isoformat()})
    assert r.status_code == 204, r.text
    assert span_rows() == []
    assert [a["name"] for a in list_annotations(cinder, other.project, "span", [other.sid("root0")])] == ["drop"]
    assert cinder.delete(f"/v1/projects/{unique_name('missing')}/span_annotations",
                         params={"delete_all": "true"}).status_code == 404

    # Trace annotations.
    client.traces.log_trace_annotations(trace_annotations=[
        {"trace_id": tid, "name": "t-keep", "annotator_kind": "CODE", "result": {"score": 1}},
        {"trace_id": tid, "name": "t-drop", "annotator_kind": "CODE", "result": {"score": 0}},
    ], sync=True)
    tpath = f"/v1/projects/{project_name}/trace_annotations"
    assert cinder.delete(tpath, params={"name": "t-drop"}).status_code == 422
    r = cinder.delete(tpath, params={"name": "t-drop", "start_time": (now - timedelta(hours=1)).isoformat(),
                                     "end_time": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()})
    assert r.status_code == 204, r.text
    assert [a["name"] for a in list_annotations(cinder, project_name, "trace", [tid])] == ["t-keep"]

    # Session annotations.
    client.sessions.add_session_annotation(session_id=sess, annotation_name="s-drop", label="x", sync=True)
    spath = f"/v1/projects/{project_name}/session_annotations"
    assert cinder.delete(spath).status_code == 422
    assert len(list_annotations(cinder, project_name, "session", [sess])) == 1
    r = cinder.delete(spath, params={"delete_all": "true", "identifier": "no-such-identifier"})
    assert r.status_code == 204, r.text
    assert len(list_annotations(cinder, project_name, "session", [sess])) == 1
    r = cinder.delete(spath, params={"delete_all": "true"})
    assert r.status_code == 204, r.text
    assert list_annotations(cinder, project_name, "session", [sess]) == []
    # The annotated entities themselves are untouched.
    assert client_span_count(client, project_name) == len(d.spans)


# --------------------------------------------------------------------------------------------------
# Annotation configs
# --------------------------------------------------------------------------------------------------

CONFIG_TYPES = {"CATEGORICAL": "CategoricalAnnotationConfig", "CONTINUOUS": "ContinuousAnnotationConfig",
                "FREEFORM": "FreeformAnnotationConfig"}


def create_config(cinder, body: dict) -> dict:
    r = cinder.post("/v1/annotation_configs", json=body)
    assert r.status_code == 200, (r.status_code, r.text)
    data = r.json()["data"]
    assert gid(data["id"])[0] == CONFIG_TYPES[body["type"]], data["id"]
    return data


def categorical(name: str, **kw: Any) -> dict:
    return {"name": name, "type": "CATEGORICAL", "description": "is it right?", "optimization_direction": "MAXIMIZE",
            "values": [{"label": "correct", "score": 1.0}, {"label": "incorrect", "score": 0.0}], **kw}


def _put(cinder, path: str, **kw: Any) -> requests.Response:
    kw.setdefault("timeout", 30)
    return requests.put(cinder.base_url + path, **kw)


def all_configs(cinder) -> list[dict]:
    out, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = cinder.get("/v1/annotation_configs", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["data"]) <= 2
        out += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return out
        assert len(out) < 10_000


def test_annotation_config_crud(cinder):
    cat_name, cont_name, free_name = unique_name("cat"), unique_name("cont"), unique_name("free")
    cat = create_config(cinder, {
        "name": cat_name, "type": "CATEGORICAL", "description": "is it right?", "optimization_direction": "MAXIMIZE",
        "values": [{"label": "correct", "score": 1.0}, {"label": "incorrect", "score": 0.0}, {"label": "unsure"}]})
    assert cat == {"id": cat["id"], "name": cat_name, "type": "CATEGORICAL", "description": "is it right?",
                   "optimization_direction": "MAXIMIZE",
                   "values": [{"label": "correct", "score": 1.0}, {"label": "incorrect", "score": 0.0},
                              {"label": "unsure", "score": None}]}
    cont = create_config(cinder, {"name": cont_name, "type": "CONTINUOUS", "optimization_direction": "MINIMIZE",
                                  "lower_bound": 0.0, "upper_bound": 10.5})
    assert cont == {"id": cont["id"], "name": cont_name, "type": "CONTINUOUS", "description": None,
                    "optimization_direction": "MINIMIZE", "lower_bound": 0.0, "upper_bound": 10.5}
    free = create_config(cinder, {"name": free_name, "type": "FREEFORM", "description": "free text"})
    assert free == {"id": free["id"], "name": free_name, "type": "FREEFORM", "description": "free text",
                    "optimization_direction": None, "threshold": None, "lower_bound": None, "upper_bound": None}
    assert len({gid(c["id"])[1] for c in (cat, cont, free)}) == 3

    for c in (cat, cont, free):
        for ident in (c["id"], c["name"]):
            r = cinder.get(f"/v1/annotation_configs/{ident}")
            assert r.status_code == 200, r.text
            assert r.json() == {"data": c}

    listed = all_configs(cinder)
    assert len({c["id"] for c in listed}) == len(listed)
    mine = [c for c in listed if c["name"] in (cat_name, cont_name, free_name)]
    assert mine == [free, cont, cat]  # newest first (id DESC), as Phoenix

    # Update (by id): full replacement, same id.
    r = _put(cinder, f"/v1/annotation_configs/{cat['id']}", json={
        "name": cat_name + "-v2", "type": "CATEGORICAL", "description": "renamed",
        "optimization_direction": "NONE", "values": [{"label": "pass", "score": 1}, {"label": "fail"}]})
    assert r.status_code == 200, r.text
    updated = r.json()["data"]
    assert updated == {"id": cat["id"], "name": cat_name + "-v2", "type": "CATEGORICAL", "description": "renamed",
                       "optimization_direction": "NONE",
                       "values": [{"label": "pass", "score": 1.0}, {"label": "fail", "score": None}]}
    assert cinder.get(f"/v1/annotation_configs/{cat_name + '-v2'}").json() == {"data": updated}
    assert cinder.get(f"/v1/annotation_configs/{cat_name}").status_code == 404

    # Delete (by id) returns the deleted config; afterwards it is gone.
    r = cinder.delete(f"/v1/annotation_configs/{cont['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"data": cont}
    assert cinder.get(f"/v1/annotation_configs/{cont['id']}").status_code == 404
    assert cinder.get(f"/v1/annotation_configs/{cont_name}").status_code == 404
    assert cinder.delete(f"/v1/annotation_configs/{cont['id']}").status_code == 404
    assert all(c["id"] != cont["id"] for c in all_configs(cinder))
    # The name is free again.
    assert create_config(cinder, {"name": cont_name, "type": "FREEFORM"})["id"] != cont["id"]


def test_annotation_config_duplicate_name_is_409(cinder):
    name = unique_name("dup")
    original = create_config(cinder, categorical(name))
    for body in (categorical(name), {"name": name, "type": "FREEFORM"},
                 {"name": name, "type": "CONTINUOUS", "optimization_direction": "MAXIMIZE"}):
        r = cinder.post("/v1/annotation_configs", json=body)
        assert r.status_code == 409, (r.status_code, r.text)
    assert [c for c in all_configs(cinder) if c["name"] == name] == [original]
    assert cinder.get(f"/v1/annotation_configs/{name}").json() == {"data": original}
    # Renaming another config to a taken name is a 409 too, and changes nothing.
    other = create_config(cinder, {"name": unique_name("dup-other"), "type": "FREEFORM", "description": "o"})
    r = _put(cinder, f"/v1/annotation_configs/{other['id']}", json={"name": name, "type": "FREEFORM"})
    assert r.status_code == 409, (r.status_code, r.text)
    assert cinder.get(f"/v1/annotation_configs/{other['id']}").json() == {"data": other}
    assert cinder.get(f"/v1/annotation_configs/{name}").json() == {"data": original}


def test_annotation_config_invalid_bodies_are_422(cinder):
    name = unique_name("bad")
    bodies = [
        {"name": name, "optimization_direction": "MAXIMIZE", "values": [{"label": "a"}]},  # no type
        {"name": name, "type": "BOOLEAN", "optimization_direction": "MAXIMIZE"},  # unknown type
        {"name": name, "type": "CATEGORICAL", "values": [{"label": "a"}]},  # no optimization_direction
        {"name": name, "type": "CATEGORICAL", "optimization_direction": "UP", "values": [{"label": "a"}]},
        {"name": name, "type": "CATEGORICAL", "optimization_direction": "MAXIMIZE"},  # no values
        {"name": name, "type": "CATEGORICAL", "optimization_direction": "MAXIMIZE", "values": [{"score": 1}]},
        {"name": name, "type": "CATEGORICAL", "optimization_direction": "MAXIMIZE", "values": "a,b"},
        {"type": "FREEFORM", "description": "no name"},
        {"name": name, "type": "CONTINUOUS", "optimization_direction": "NONE", "lower_bound": "low"},
        {"name": name, "type": "CONTINUOUS"},  # no optimization_direction
        [categorical(name)],  # not an object
    ]
    for body in bodies:
        assert_validation_error(cinder.post("/v1/annotation_configs", json=body))
    assert cinder.get(f"/v1/annotation_configs/{name}").status_code == 404
    assert all(c["name"] != name for c in all_configs(cinder))
    # An update with an invalid body changes nothing.
    existing = create_config(cinder, categorical(unique_name("bad-upd")))
    assert_validation_error(_put(cinder, f"/v1/annotation_configs/{existing['id']}",
                                 json={"name": existing["name"], "type": "CATEGORICAL"}))
    assert cinder.get(f"/v1/annotation_configs/{existing['id']}").json() == {"data": existing}


def test_annotation_config_unknown_is_404(cinder):
    name = unique_name("nope")
    assert cinder.get(f"/v1/annotation_configs/{name}").status_code == 404
    for type_name in CONFIG_TYPES.values():
        unknown = make_gid(type_name, 987_654_321)
        assert cinder.get(f"/v1/annotation_configs/{unknown}").status_code == 404
        assert cinder.delete(f"/v1/annotation_configs/{unknown}").status_code == 404
        r = _put(cinder, f"/v1/annotation_configs/{unknown}", json=categorical(name))
        assert r.status_code == 404, r.text
    # The failed update did not create anything either.
    assert cinder.get(f"/v1/annotation_configs/{name}").status_code == 404


def test_project_annotation_configs(client, cinder, project_name):
    project = client.projects.create(name=project_name)
    path = f"/v1/projects/{project_name}/annotation_configs"
    c1 = create_config(cinder, categorical(unique_name("pcat")))
    c2 = create_config(cinder, {"name": unique_name("pfree"), "type": "FREEFORM", "description": "notes"})

    r = cinder.get(path)
    assert r.status_code == 200, r.text
    assert r.json() == {"data": [], "next_cursor": None}

    # Assign by names, then by ids; re-assigning is a no-op that returns the config.
    for _ in range(2):
        r = _put(cinder, f"{path}/{c1['name']}")
        assert r.status_code == 200, r.text
        assert r.json() == {"data": c1}
    r = _put(cinder, f"/v1/projects/{project['id']}/annotation_configs/{c2['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"data": c2}
    assert cinder.get(path).json() == {"data": [c2, c1], "next_cursor": None}  # id DESC
    assert cinder.get(f"/v1/projects/{project['id']}/annotation_configs").json()["data"] == [c2, c1]
    page = cinder.get(path, params={"limit": 1}).json()
    assert page["data"] == [c2] and page["next_cursor"]
    page2 = cinder.get(path, params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert page2 == {"data": [c1], "next_cursor": None}

    # Unassign (idempotent); the config itself stays.
    assert cinder.delete(f"{path}/{c1['id']}").status_code == 204
    assert cinder.delete(f"{path}/{c1['name']}").status_code == 204
    assert cinder.get(path).json()["data"] == [c2]
    assert cinder.get(f"/v1/annotation_configs/{c1['id']}").json() == {"data": c1}

    # Replace the whole set.
    r = _put(cinder, path, json={"annotation_config_ids": [c1["id"], c2["id"]]})
    assert r.status_code == 200, r.text
    assert r.json() == {"data": [c2, c1], "next_cursor": None}
    r = _put(cinder, path, json={"annotation_config_ids": [c1["id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == [c1]
    assert cinder.get(path).json()["data"] == [c1]
    r = _put(cinder, path, json={"annotation_config_ids": [c2["id"], make_gid("FreeformAnnotationConfig", 987_654_321)]})
    assert r.status_code == 422, r.text  # Phoenix: unknown config ids in the set -> 422, nothing changed
    assert cinder.get(path).json()["data"] == [c1]
    assert_validation_error(_put(cinder, path, json={"ids": []}), "annotation_config_ids")
    r = _put(cinder, path, json={"annotation_config_ids": []})
    assert r.status_code == 200, r.text
    assert r.json() == {"data": [], "next_cursor": None}

    # Unknown project / config.
    missing_project = unique_name("missing")
    assert cinder.get(f"/v1/projects/{missing_project}/annotation_configs").status_code == 404
    assert _put(cinder, f"/v1/projects/{missing_project}/annotation_configs/{c1['id']}").status_code == 404
    assert cinder.delete(f"/v1/projects/{missing_project}/annotation_configs/{c1['id']}").status_code == 404
    assert _put(cinder, f"{path}/{unique_name('no-config')}").status_code == 404
    assert cinder.delete(f"{path}/{make_gid('CategoricalAnnotationConfig', 987_654_321)}").status_code == 404
    assert cinder.get(path).json()["data"] == []

    # Deleting a config removes its assignments.
    assert _put(cinder, f"{path}/{c2['id']}").status_code == 200
    assert cinder.delete(f"/v1/annotation_configs/{c2['id']}").status_code == 200
    assert cinder.get(path).json() == {"data": [], "next_cursor": None}
