"""Phoenix's session filter language and session sorting: a table of expressions with the exact sessions
each selects, through GraphQL (`Project.sessions(sessionFilterCondition:)`, `sessionCount`,
`validateSessionFilterCondition`, `sessionFilterVocabulary`) and REST (`GET /v1/projects/{id}/sessions?filter=`);
malformed or unsupported expressions get a message (GraphQL error, REST 400), never a 500."""

from __future__ import annotations

import json
import time

import pytest
import requests
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Status, StatusCode

from conftest import CinderServer, make_tracer_provider, unique_name

MS = 1_000_000


@pytest.fixture(scope="module")
def sessions_project(cinder: CinderServer):
    """Three sessions:
    alpha: 2 traces (LLM 100+20 tokens, cost 0.5; then a TOOL span in error), user u-1, tier gold;
    beta:  1 trace (LLM 10+5 tokens, costs 0.004 + 0.006 without a total), user u-2, tier silver, annotated satisfaction 0.9 'happy';
    gamma: 3 traces 2 s apart, no LLM, no user.
    Returns (project id, {short name: session id})."""
    project = unique_name("sessfilter")
    prefix = unique_name("sess")
    ids = {name: f"{prefix}-{name}" for name in ("alpha", "beta", "gamma")}
    pipeline = make_tracer_provider(cinder, project)
    tracer = pipeline.tracer
    t0 = time.time_ns() - 60_000 * MS

    def trace(session, start_ms, input_value, output_value, extra=None, children=()):
        attributes = {"openinference.span.kind": "CHAIN", "session.id": ids[session],
                      "input.value": input_value, "output.value": output_value, **(extra or {})}
        root = tracer.start_span("turn", start_time=t0 + start_ms * MS, attributes=attributes)
        context = otel_trace.set_span_in_context(root)
        for name, child_attributes, error in children:
            child = tracer.start_span(name, context=context, start_time=t0 + (start_ms + 10) * MS, attributes=child_attributes)
            if error:
                child.set_status(Status(StatusCode.ERROR, "failed"))
            child.end(end_time=t0 + (start_ms + 50) * MS)
        root.end(end_time=t0 + (start_ms + 100) * MS)

    llm = lambda prompt, completion, costs: ("llm", {
        "openinference.span.kind": "LLM", "llm.token_count.prompt": prompt, "llm.token_count.completion": completion,
        **{f"llm.cost.{part}": cost for part, cost in costs.items()}}, False)
    trace("alpha", 0, "How do I get a Refund?", "Here is how", {"user.id": "u-1", "metadata": json.dumps({"tier": "gold"})},
          [llm(100, 20, {"total": 0.5})])
    trace("alpha", 1000, "thanks", "You're welcome", children=[("search", {"openinference.span.kind": "TOOL"}, True)])
    trace("beta", 3000, "weather today?", "Sunny and warm", {"user.id": "u-2", "metadata": json.dumps({"tier": "silver"})},
          [llm(10, 5, {"prompt": 0.004, "completion": 0.006})])  # no total: the parts make it
    for i, text in enumerate(["hi", "refund status", "bye"]):
        trace("gamma", 5000 + i * 2000, text, f"{text}-out")
    pipeline.finish()
    r = requests.post(f"{cinder.base_url}/v1/session_annotations", params={"sync": "true"}, timeout=10, json={"data": [{
        "session_id": ids["beta"], "name": "satisfaction", "annotator_kind": "HUMAN",
        "result": {"label": "happy", "score": 0.9}}]})
    assert r.status_code == 200, r.text
    project_id = requests.get(f"{cinder.base_url}/v1/projects/{project}", timeout=10).json()["data"]["id"]
    return project_id, ids


def graphql(cinder: CinderServer, query: str, **variables):
    r = requests.post(f"{cinder.base_url}/graphql", json={"query": query, "variables": variables}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


SESSIONS = """query($id: ID!, $filter: String, $sort: ProjectSessionSort, $first: Int!, $after: String) {
  node(id: $id) { ... on Project {
    sessions(first: $first, after: $after, sessionFilterCondition: $filter, sort: $sort) {
      edges { node { sessionId numTraces } } pageInfo { hasNextPage endCursor } }
    sessionCount(sessionFilterCondition: $filter) } } }"""

EXPRESSIONS = [
    ("num_traces >= 2", {"alpha", "gamma"}),
    ("num_traces == 1", {"beta"}),
    ("num_traces_with_error > 0", {"alpha"}),
    ("token_count_total > 100", {"alpha"}),
    ("token_count_prompt == 10", {"beta"}),
    ("token_count_completion >= 5 and token_count_completion < 20", {"beta"}),
    ("total_cost > 0.1", {"alpha"}),
    ("total_cost == 0", {"gamma"}),
    ("llm_span_count == 0", {"gamma"}),
    ("tool_span_count >= 1", {"alpha"}),
    ("'refund' in any_input", {"alpha", "gamma"}),
    ("'refund' not in any_input", {"beta"}),
    ("'REFUND' in first_input", {"alpha"}),
    ("'sunny' in last_output", {"beta"}),
    ("last_output == 'bye-out'", {"gamma"}),
    ("first_input is None", set()),
    ("'ALPHA' in session_id", {"alpha"}),
    ("user.id == 'u-1'", {"alpha"}),
    ("user.id is None", {"gamma"}),
    ("metadata['tier'] in ['gold', 'silver']", {"alpha", "beta"}),
    ("attributes['metadata']['tier'] == 'silver'", {"beta"}),
    ("session_annotations['satisfaction'].score > 0.5", {"beta"}),
    ("session_annotations['satisfaction'].label == 'happy'", {"beta"}),
    ("session_annotations['satisfaction'].score < 0.5", set()),
    ("duration_ms > 3000", {"gamma"}),
    ("duration_ms < 200", {"beta"}),
    ("start_time > '2000-01-01T00:00:00Z'", {"alpha", "beta", "gamma"}),
    ("end_time < '2000-01-01T00:00:00+02:00'", set()),
    ("not (num_traces > 1) or user.id == 'u-1'", {"alpha", "beta"}),
    ("num_traces > 1 and not 'refund' in first_input", {"gamma"}),
]


def selected(cinder, project_id, ids, condition):
    body = graphql(cinder, SESSIONS, id=project_id, filter=condition, first=100)
    assert "errors" not in body, body
    project = body["data"]["node"]
    names = {short for short, session_id in ids.items()
             for edge in project["sessions"]["edges"] if edge["node"]["sessionId"] == session_id}
    assert len(project["sessions"]["edges"]) == len(names), project["sessions"]["edges"]
    assert project["sessionCount"] == len(names)
    return names


@pytest.mark.parametrize("condition,expected", EXPRESSIONS, ids=[e[0] for e in EXPRESSIONS])
def test_each_expression_selects_exactly_its_sessions(cinder, sessions_project, condition, expected):
    project_id, ids = sessions_project
    assert selected(cinder, project_id, ids, condition) == expected
    r = requests.get(f"{cinder.base_url}/v1/projects/{project_id}/sessions", params={"filter": condition}, timeout=30)
    assert r.status_code == 200, r.text
    assert {s["session_id"] for s in r.json()["data"]} == {ids[name] for name in expected}


VALIDATE = """query($id: ID!, $c: String!) { node(id: $id) { ... on Project {
  validateSessionFilterCondition(condition: $c) { isValid errorMessage } } } }"""

INVALID = [
    ("num_traces >", "end of condition"),
    ("annotations['x'].score > 1", "session_annotations"),
    ("any(span.status_code == 'ERROR' for span in spans)", "comprehensions"),
    ("latency_ms > 5", "unknown name `latency_ms`"),
    ("any_input == 'x'", "containment"),
    ("start_time > '2026-01-01T00:00:00'", "offset"),
    ("start_time > 5", "ISO 8601"),
    ("session_annotations['x'] == 1", "session_annotations['name'].score"),
]


@pytest.mark.parametrize("condition,message", INVALID, ids=[e[0] for e in INVALID])
def test_bad_expressions_are_explained(cinder, sessions_project, condition, message):
    project_id, _ = sessions_project
    result = graphql(cinder, VALIDATE, id=project_id, c=condition)["data"]["node"]["validateSessionFilterCondition"]
    assert result["isValid"] is False
    assert message in result["errorMessage"], result
    body = graphql(cinder, SESSIONS, id=project_id, filter=condition, first=10)
    assert body.get("errors") and message in body["errors"][0]["message"], body
    r = requests.get(f"{cinder.base_url}/v1/projects/{project_id}/sessions", params={"filter": condition}, timeout=30)
    assert r.status_code == 400, r.text
    assert message in r.text


def test_valid_expression_validates(cinder, sessions_project):
    project_id, _ = sessions_project
    result = graphql(cinder, VALIDATE, id=project_id, c="num_traces > 1 and 'x' in any_output")
    assert result["data"]["node"]["validateSessionFilterCondition"] == {"isValid": True, "errorMessage": None}


@pytest.mark.parametrize("col,direction,expected", [
    ("numTraces", "desc", ["gamma", "alpha", "beta"]),
    ("numTraces", "asc", ["beta", "alpha", "gamma"]),
    ("tokenCountTotal", "desc", ["alpha", "beta", "gamma"]),
    ("costTotal", "asc", ["gamma", "beta", "alpha"]),
    ("startTime", "asc", ["alpha", "beta", "gamma"]),
    ("endTime", "desc", ["gamma", "beta", "alpha"]),
])
def test_sessions_sort_and_page_by_each_column(cinder, sessions_project, col, direction, expected):
    """Pages of one session follow the sort across cursors, each session once."""
    project_id, ids = sessions_project
    by_id = {session_id: short for short, session_id in ids.items()}
    seen, after = [], None
    for _ in range(5):
        body = graphql(cinder, SESSIONS, id=project_id, first=1, after=after, sort={"col": col, "dir": direction})
        assert "errors" not in body, body
        page = body["data"]["node"]["sessions"]
        seen += [by_id[e["node"]["sessionId"]] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected


def test_vocabulary_names_the_session_terms_and_annotations(cinder, sessions_project):
    project_id, _ = sessions_project
    body = graphql(cinder, """query($id: ID!) { node(id: $id) { ... on Project {
      sessionFilterVocabulary { name type category } } } }""", id=project_id)
    terms = {t["name"]: t for t in body["data"]["node"]["sessionFilterVocabulary"]}
    for name in ["session_id", "num_traces", "token_count_total", "total_cost", "any_input", "first_input", "duration_ms", "user.id"]:
        assert name in terms, name
    assert terms["session_annotations['satisfaction'].score"]["type"] == "number"
    assert terms["num_traces"]["type"] == "number"


def test_session_cost_summaries(cinder, sessions_project):
    project_id, ids = sessions_project
    body = graphql(cinder, """query($id: ID!) { node(id: $id) { ... on Project {
      sessions(first: 10) { edges { node { sessionId costSummary { prompt { cost } completion { cost } total { cost tokens } } } } } } } }""",
                   id=project_id)
    costs = {e["node"]["sessionId"]: e["node"]["costSummary"] for e in body["data"]["node"]["sessions"]["edges"]}
    assert costs[ids["alpha"]] == {"prompt": {"cost": None}, "completion": {"cost": None}, "total": {"cost": 0.5, "tokens": 120.0}}
    assert costs[ids["beta"]]["prompt"]["cost"] == pytest.approx(0.004)
    assert costs[ids["beta"]]["total"]["cost"] == pytest.approx(0.01)
    assert costs[ids["gamma"]]["total"] == {"cost": None, "tokens": 0.0}
