"""Online evaluation against `cinder serve`: a rule on a project (Cinder's GraphQL
`createOnlineEvaluationRule`) scores the sample of its spans that match its filter, as they arrive, into
span annotations; ingestion queues them in the statement that stores the spans, the runner drains the
queue. With the runner off, ingestion goes on and the queue grows (the backlog gauge shows it); started
again, the runner drains it. A backfill queues the spans of a past time range.

Spans come from the real OpenTelemetry SDK over OTLP/HTTP.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from conftest import PROJECT_ATTR, http_exporter, running_server, unique_name
from test_evaluators import builtin_ids, gql
from test_models import graphql, psql

RULE_FIELDS = "id name evaluatorKind filterCondition samplingRate enabled backlog"
CREATE_RULE = "mutation($input: OnlineEvaluationRuleInput!) { createOnlineEvaluationRule(input: $input) { rule { %s } } }" % RULE_FIELDS


def send(server, project: str, count: int, start: int = 0) -> None:
    """`count` spans: even ones LLM spans (every fourth mentions a refund), odd ones CHAIN spans."""
    provider = TracerProvider(resource=Resource.create({"service.name": "online-e2e", PROJECT_ATTR: project}))
    provider.add_span_processor(BatchSpanProcessor(http_exporter(server), max_export_batch_size=256, schedule_delay_millis=50))
    tracer = provider.get_tracer("online-e2e")
    for i in range(start, start + count):
        kind = "LLM" if i % 2 == 0 else "CHAIN"
        output = f"answer {i}: " + ("we will refund you" if i % 4 == 0 else "have a nice day")
        with tracer.start_as_current_span(f"{kind.lower()}-{i}", attributes={
                "openinference.span.kind": kind, "input.value": f"question {i}", "output.value": output}):
            pass
    provider.force_flush()
    provider.shutdown()


def project_id(server, name: str) -> str:
    body = requests.post(server.base_url + "/graphql", json={"query": "query($n: String!) { getProjectByName(name: $n) { id } }",
                                                             "variables": {"n": name}}, timeout=30).json()
    return body["data"]["getProjectByName"]["id"]


def create_rule(server, project: str, name: str, **extra) -> dict:
    ids = builtin_ids(server)
    body = requests.post(server.base_url + "/graphql", json={"query": CREATE_RULE, "variables": {"input": {
        "projectId": project_id(server, project), "name": name, "evaluator": {"builtInEvaluatorId": ids["contains"]},
        "inputMapping": {"pathMapping": {"text": "$.output"}, "literalMapping": {"words": "refund"}},
        "filterCondition": "span_kind == 'LLM'", "samplingRate": 1.0} | extra}}, timeout=30).json()
    assert not body.get("errors"), body
    return body["data"]["createOnlineEvaluationRule"]["rule"]


def annotations(server, project: str, name: str) -> list[str]:
    return psql(server, f"""SELECT s.name || '|' || coalesce(a.label, '') || '|' || coalesce(a.score::text, '') FROM span_annotations a
        JOIN spans s ON s.id = a.span_rowid JOIN projects p ON p.id = s.project_id WHERE p.name = '{project}' AND a.name = '{name}' ORDER BY s.name""")


def wait_for(condition, timeout: float = 120, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.25)


def backlog_metric(server) -> float:
    for line in requests.get(server.base_url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("cinder_online_evaluation_backlog"):
            return float(line.split()[-1])
    raise AssertionError("no cinder_online_evaluation_backlog in /metrics")


def test_a_rule_scores_exactly_the_matching_spans_once(cinder):
    project = unique_name("online")
    send(cinder, project, 2)  # the project exists once a span names it
    rule = create_rule(cinder, project, "mentions-refund")
    assert rule["evaluatorKind"] == "BUILTIN" and rule["samplingRate"] == 1.0 and rule["enabled"]
    send(cinder, project, 1000, start=2)
    assert psql(cinder, f"SELECT count(*) FROM spans s JOIN projects p ON p.id = s.project_id WHERE p.name = '{project}'") == ["1002"]
    wait_for(lambda: len(annotations(cinder, project, "mentions-refund")) == 500, message="annotations")
    time.sleep(1)  # nothing more arrives
    rows = annotations(cinder, project, "mentions-refund")
    assert len(rows) == 500 and len({r.split("|")[0] for r in rows}) == 500  # one per LLM span, none on the 2 sent before the rule
    by_name = {r.split("|")[0]: r.split("|")[1:] for r in rows}
    assert all(name.startswith("llm-") for name in by_name)
    assert by_name["llm-4"] == ["true", "1"] and by_name["llm-6"] == ["false", "0"]
    assert sum(1 for label, _ in by_name.values() if label == "true") == 250
    # The evaluations' own traces, in the organization's online-evaluations project.
    trace_ids = psql(cinder, f"""SELECT DISTINCT a.metadata->>'evaluator_trace_id' FROM span_annotations a JOIN spans s ON s.id = a.span_rowid
        JOIN projects p ON p.id = s.project_id WHERE p.name = '{project}' AND a.name = 'mentions-refund'""")
    assert len(trace_ids) == 500
    assert psql(cinder, f"SELECT p.name, s.span_kind FROM spans s JOIN traces t ON t.id = s.trace_rowid JOIN projects p ON p.id = s.project_id "
                        f"WHERE t.trace_id = '{trace_ids[0]}'") == ["online-evaluations|EVALUATOR"]
    wait_for(lambda: backlog_metric(cinder) == 0, timeout=30, message="backlog gauge")
    assert graphql(cinder, "query($id: ID!) { node(id: $id) { ... on OnlineEvaluationRule { backlog } } }", id=rule["id"])["node"]["backlog"] == 0
    listed = graphql(cinder, "query($id: ID!) { node(id: $id) { ... on Project { onlineEvaluationRules { name filterCondition } } } }",
                     id=project_id(cinder, project))
    assert listed["node"]["onlineEvaluationRules"] == [{"name": "mentions-refund", "filterCondition": "span_kind == 'LLM'"}]

    # A rule on the evaluations' own project never sees their traces: scoring them would feed itself.
    create_rule(cinder, "online-evaluations", "scores-evaluations", filterCondition="")
    send(cinder, project, 20, start=2000)
    wait_for(lambda: len(annotations(cinder, project, "mentions-refund")) == 510, message="new spans scored")
    time.sleep(1.5)
    assert psql(cinder, "SELECT count(*) FROM online_evaluation_queue") == ["0"]
    assert annotations(cinder, "online-evaluations", "scores-evaluations") == []


def test_sampling_backfill_and_bad_rules(cinder):
    project = unique_name("online-sample")
    send(cinder, project, 400)
    start = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    end = (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat()
    # A rule made after the spans arrived scores nothing until it is backfilled; at 50 % about half.
    rule = create_rule(cinder, project, "sampled", samplingRate=0.5)
    time.sleep(1.5)
    assert annotations(cinder, project, "sampled") == []
    backfill = graphql(cinder, """mutation($input: BackfillOnlineEvaluationRuleInput!) { backfillOnlineEvaluationRule(input: $input) { queued } }""",
                       input={"id": rule["id"], "startTime": start, "endTime": end})
    queued = backfill["backfillOnlineEvaluationRule"]["queued"]
    assert 60 <= queued <= 340, queued  # a fair coin over 400 spans (LLM and CHAIN alike are sampled; the filter comes after)
    wait_for(lambda: psql(cinder, "SELECT count(*) FROM online_evaluation_queue") == ["0"], message="backfill drained")
    rows = annotations(cinder, project, "sampled")
    assert 0 < len(rows) < 200 and all(r.startswith("llm-") for r in rows)
    # Backfilling again queues nothing new for spans already scored? It queues them again: the same sample.
    again = graphql(cinder, """mutation($input: BackfillOnlineEvaluationRuleInput!) { backfillOnlineEvaluationRule(input: $input) { queued } }""",
                    input={"id": rule["id"], "startTime": start, "endTime": end})["backfillOnlineEvaluationRule"]["queued"]
    assert again == queued  # the same spans: sampling is a hash of span and rule
    wait_for(lambda: psql(cinder, "SELECT count(*) FROM online_evaluation_queue") == ["0"], message="second backfill drained")
    assert len(annotations(cinder, project, "sampled")) == len(rows)  # upserted, not doubled

    ids = builtin_ids(cinder)
    base = {"projectId": project_id(cinder, project), "name": "bad", "evaluator": {"builtInEvaluatorId": ids["contains"]}}
    for given, message in [
        (base | {"filterCondition": "span_kind ==="}, ""),
        (base | {"samplingRate": 0}, "samplingRate"),
        (base | {"samplingRate": 1.5}, "samplingRate"),
        (base | {"evaluator": {}}, "exactly one"),
        (base | {"name": "sampled"}, "already has an online evaluation rule"),
        (base | {"projectId": "UHJvamVjdDo5OTk5OTk5"}, "Project not found"),
    ]:
        answer = gql(cinder, CREATE_RULE, input=given)
        assert answer.get("errors") and message in answer["errors"][0]["message"], (given, answer)
    deleted = graphql(cinder, "mutation($input: DeleteOnlineEvaluationRuleInput!) { deleteOnlineEvaluationRule(input: $input) { rule { name } } }",
                      input={"id": rule["id"]})
    assert deleted["deleteOnlineEvaluationRule"]["rule"]["name"] == "sampled"
    assert len(annotations(cinder, project, "sampled")) == len(rows)  # what it recorded stays


def test_with_the_runner_off_ingestion_goes_on_and_the_backlog_drains_later():
    with running_server({"CINDER_SERVE_RUNNER": "false", "CINDER_LOG_LEVEL": "info"}, prefix="cinder-online-") as server:
        project = unique_name("backlog")
        send(server, project, 2)
        create_rule(server, project, "refunds")
        started = time.monotonic()
        send(server, project, 300, start=2)
        assert psql(server, f"SELECT count(*) FROM spans s JOIN projects p ON p.id = s.project_id WHERE p.name = '{project}'") == ["302"]
        assert psql(server, "SELECT count(*) FROM online_evaluation_queue") == ["300"]
        assert annotations(server, project, "refunds") == []
        time.sleep(1)
        assert psql(server, "SELECT count(*) FROM online_evaluation_queue") == ["300"]  # nobody drains it
        server.stop()
        server.extra_env["CINDER_SERVE_RUNNER"] = "true"
        server.start()
        wait_for(lambda: len(annotations(server, project, "refunds")) == 150, message="drained after restart")
        wait_for(lambda: psql(server, "SELECT count(*) FROM online_evaluation_queue") == ["0"], message="queue empty")
        assert time.monotonic() - started < 120
