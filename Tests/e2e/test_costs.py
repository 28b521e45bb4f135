"""Cost tracking against `cinder serve`: LLM spans sent by the OpenTelemetry SDK with a model name and
token counts but no recorded cost are priced from the built-in table when they arrive (OTLP over HTTP and
gRPC, and the REST span route), recorded costs win, unknown models stay unpriced, and every roll-up
(span, trace, session, project) is the sum of its spans' costs.

Prices (USD per million tokens, Libraries/CinderCosts/BuiltInPrices.swift): gpt-4o-mini 0.15 in, 0.075
cached, 0.60 out; claude-3-5-haiku 0.80 in, 0.08 cache read, 1.00 cache write, 4.00 out.
"""

from __future__ import annotations

import json

import pytest
import requests
from opentelemetry.trace import SpanKind

from conftest import make_tracer_provider, unique_name
from test_graphql import gql

M = 1_000_000


def llm(tracer, name: str, model: str | None, provider: str, prompt: int, completion: int, session: str, **extra) -> None:
    attributes = {"openinference.span.kind": "LLM", "llm.provider": provider, "session.id": session,
                  "llm.token_count.prompt": prompt, "llm.token_count.completion": completion,
                  "llm.token_count.total": prompt + completion, **extra}
    if model is not None:
        attributes["llm.model_name"] = model
    with tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes):
        pass


@pytest.fixture(scope="module")
def priced(cinder):
    project = unique_name("costs")
    s1, s2 = unique_name("s1"), unique_name("s2")
    pipeline = make_tracer_provider(cinder, project, protocol="http")
    tracer = pipeline.tracer
    with tracer.start_as_current_span("agent", attributes={"openinference.span.kind": "CHAIN", "session.id": s1}):
        llm(tracer, "mini", "gpt-4o-mini-2024-07-18", "openai", 1000, 200, s1, **{"llm.token_count.prompt_details.cache_read": 400})
        llm(tracer, "haiku", "claude-3-5-haiku-20241022", "anthropic", 2000, 100, s1,
            **{"llm.token_count.prompt_details.cache_read": 1000, "llm.token_count.prompt_details.cache_write": 500})
    with tracer.start_as_current_span("recorded", attributes={"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "session.id": s1,
                                                               "llm.token_count.prompt": 10, "llm.token_count.completion": 10,
                                                               "llm.cost.prompt": 0.25, "llm.cost.completion": 0.25}):
        pass
    llm(tracer, "local", "my-local-model", "ollama", 5000, 5000, s2)
    pipeline.finish()
    grpc = make_tracer_provider(cinder, project, protocol="grpc")
    llm(grpc.tracer, "over-grpc", "gpt-4o-mini", "openai", 2000, 0, s2)
    grpc.finish()
    return project, s1, s2


SPAN_COST = "costSummary { prompt { cost tokens } completion { cost tokens } total { cost tokens } }"


def project_data(cinder, project: str) -> dict:
    return gql(cinder, """query($name: String!) { getProjectByName(name: $name) {
        %s
        spans(first: 50) { edges { node { name %s trace { traceId %s } } } }
        sessions(first: 10) { edges { node { sessionId %s } } }
    } }""" % (SPAN_COST, SPAN_COST, SPAN_COST, SPAN_COST), {"name": project})["getProjectByName"]


def test_llm_spans_are_priced_on_arrival_and_recorded_costs_win(cinder, priced):
    project, _, _ = priced
    spans = {e["node"]["name"]: e["node"] for e in project_data(cinder, project)["spans"]["edges"]}
    mini = spans["mini"]["costSummary"]
    assert mini["prompt"]["cost"] == pytest.approx((600 * 0.15 + 400 * 0.075) / M)
    assert mini["completion"]["cost"] == pytest.approx(200 * 0.60 / M)
    assert mini["total"]["cost"] == pytest.approx((600 * 0.15 + 400 * 0.075 + 200 * 0.60) / M)
    haiku = spans["haiku"]["costSummary"]
    assert haiku["prompt"]["cost"] == pytest.approx((500 * 0.80 + 1000 * 0.08 + 500 * 1.00) / M)
    assert haiku["completion"]["cost"] == pytest.approx(100 * 4.00 / M)
    assert spans["recorded"]["costSummary"]["total"]["cost"] == pytest.approx(0.5)  # the instrumentation's, not the table's
    assert spans["local"]["costSummary"] is None  # no price for this model
    assert spans["over-grpc"]["costSummary"]["total"]["cost"] == pytest.approx(2000 * 0.15 / M)
    assert spans["agent"]["costSummary"] is None  # only LLM spans carry costs


def test_roll_ups_are_the_sums_of_span_costs(cinder, priced):
    project, s1, s2 = priced
    data = project_data(cinder, project)
    spans = [e["node"] for e in data["spans"]["edges"]]
    cost = lambda c: (c or {}).get("total", {}).get("cost") or 0.0  # noqa: E731  (no cost: a null summary)
    by_trace: dict[str, float] = {}
    for span in spans:
        by_trace[span["trace"]["traceId"]] = by_trace.get(span["trace"]["traceId"], 0.0) + cost(span["costSummary"])
    for span in spans:
        assert cost(span["trace"]["costSummary"]) == pytest.approx(by_trace[span["trace"]["traceId"]])
    total = sum(cost(s["costSummary"]) for s in spans)
    assert cost(data["costSummary"]) == pytest.approx(total)
    sessions = {e["node"]["sessionId"]: cost(e["node"]["costSummary"]) for e in data["sessions"]["edges"]}
    by_name = {s["name"]: cost(s["costSummary"]) for s in spans}
    assert sessions[s1] == pytest.approx(by_name["mini"] + by_name["haiku"] + by_name["recorded"])
    assert sessions[s2] == pytest.approx(by_name["over-grpc"])


def test_spans_created_through_rest_are_priced_too(cinder):
    project = unique_name("costs-rest")
    r = requests.post(f"{cinder.base_url}/v1/projects/{project}/spans", json={"data": [{
        "name": "rest-llm", "context": {"trace_id": "ab" * 16, "span_id": "cd" * 8}, "span_kind": "LLM",
        "start_time": "2026-12-01T00:00:00Z", "end_time": "2026-12-01T00:00:01Z", "status_code": "OK",
        "attributes": {"llm": {"model_name": "gpt-4o-mini", "token_count": {"prompt": 1000, "completion": 1000}}}}]}, timeout=30)
    assert r.status_code in (200, 202), r.text
    for _ in range(100):
        data = project_data(cinder, project)
        if data["spans"]["edges"]:
            break
    span = data["spans"]["edges"][0]["node"]
    assert span["costSummary"]["total"]["cost"] == pytest.approx(1000 * (0.15 + 0.60) / M), json.dumps(span)


MODEL_FIELDS = "id name provider providerKey namePattern kind tokenPrices { tokenType kind costPerMillionTokens costPerToken }"


def test_the_price_table_lists_built_in_models_and_takes_the_organizations_own(cinder):
    models = gql(cinder, "{ generativeModels(first: 200) { edges { node { %s } } } }" % MODEL_FIELDS)["generativeModels"]["edges"]
    by_name = {e["node"]["name"]: e["node"] for e in models}
    mini = by_name["gpt-4o-mini"]
    assert mini["kind"] == "BUILT_IN" and mini["providerKey"] == "OPENAI"
    prices = {(p["kind"], p["tokenType"]): p["costPerMillionTokens"] for p in mini["tokenPrices"]}
    assert prices[("PROMPT", "input")] == 0.15 and prices[("PROMPT", "cache_read")] == 0.075 and prices[("COMPLETION", "output")] == 0.6
    assert gql(cinder, "query($id: ID!) { node(id: $id) { ... on GenerativeModel { name } } }", {"id": mini["id"]})["node"]["name"] == "gpt-4o-mini"

    # The organization's own price for a model the table lacks, and one that overrides a built-in model.
    name = unique_name("house")
    created = gql(cinder, """mutation($input: CreateModelMutationInput!) { createModel(input: $input) { model { %s } } }""" % MODEL_FIELDS, {"input": {
        "name": name, "provider": "ollama", "namePattern": "house-model-.*",
        "costs": [{"tokenType": "input", "kind": "PROMPT", "costPerMillionTokens": 1.0},
                  {"tokenType": "output", "kind": "COMPLETION", "costPerMillionTokens": 2.0}]}})["createModel"]["model"]
    assert created["kind"] == "CUSTOM" and created["providerKey"] == "OLLAMA"
    override = gql(cinder, """mutation($input: CreateModelMutationInput!) { createModel(input: $input) { model { id } } }""", {"input": {
        "name": name + "-mini", "namePattern": "gpt-4o-mini", "costs": [{"tokenType": "input", "kind": "PROMPT", "costPerMillionTokens": 10.0},
                                                                        {"tokenType": "output", "kind": "COMPLETION", "costPerMillionTokens": 10.0}]}})["createModel"]["model"]
    def priced_now() -> dict[str, dict]:
        """The costs of a house-model span and a gpt-4o-mini span sent now, by span name."""
        project = unique_name("costs-own")
        pipeline = make_tracer_provider(cinder, project, protocol="http")
        llm(pipeline.tracer, "house", "house-model-7b", "ollama", 1000, 500, "s")
        llm(pipeline.tracer, "mini", "gpt-4o-mini", "openai", 1000, 1000, "s")
        pipeline.finish()
        return {e["node"]["name"]: e["node"]["costSummary"] for e in project_data(cinder, project)["spans"]["edges"]}

    spans = priced_now()
    assert spans["house"]["total"]["cost"] == pytest.approx((1000 * 1.0 + 500 * 2.0) / M)
    assert spans["mini"]["total"]["cost"] == pytest.approx((1000 * 10 + 1000 * 10) / M)  # the organization's price wins

    # Changed and removed: the next spans use the new prices at once (same process).
    gql(cinder, """mutation($input: UpdateModelMutationInput!) { updateModel(input: $input) { model { name } } }""", {"input": {
        "id": created["id"], "name": name, "namePattern": "house-model-.*",
        "costs": [{"tokenType": "input", "kind": "PROMPT", "costPerMillionTokens": 3.0}]}})
    gql(cinder, """mutation($input: DeleteModelMutationInput!) { deleteModel(input: $input) { model { name } } }""", {"input": {"id": override["id"]}})
    spans = priced_now()
    assert spans["house"]["total"]["cost"] == pytest.approx(1000 * 3.0 / M)  # output now unpriced: the input price's side only
    assert spans["mini"]["total"]["cost"] == pytest.approx((1000 * 0.15 + 1000 * 0.6) / M)
    gql(cinder, """mutation($input: DeleteModelMutationInput!) { deleteModel(input: $input) { model { name } } }""", {"input": {"id": created["id"]}})

    # Bad input, and built-in rows cannot be changed.
    bad = "mutation($input: CreateModelMutationInput!) { createModel(input: $input) { model { id } } }"
    for input_, expected in (({"name": "x", "namePattern": "(", "costs": [{"tokenType": "input", "kind": "PROMPT", "costPerMillionTokens": 1}]}, "regular expression"),
                             ({"name": "x", "namePattern": "x", "costs": []}, "at least one"),
                             ({"name": "x", "namePattern": "x", "costs": [{"tokenType": "input", "kind": "PROMPT", "costPerMillionTokens": -1}]}, "0 or more")):
        r = requests.post(cinder.base_url + "/graphql", json={"query": bad, "variables": {"input": input_}}, timeout=30).json()
        assert expected in r["errors"][0]["message"], r
    r = requests.post(cinder.base_url + "/graphql", json={"query": "mutation($input: DeleteModelMutationInput!) { deleteModel(input: $input) { model { id } } }",
                                                          "variables": {"input": {"id": mini["id"]}}}, timeout=30).json()
    assert "Built-in models cannot be changed" in r["errors"][0]["message"]
