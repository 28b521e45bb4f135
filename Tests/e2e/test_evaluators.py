"""Evaluators against `cinder serve`: the built-in ones and the shipped judge prompts listed over GraphQL,
evaluators attached to a dataset (Phoenix's `createDatasetBuiltinEvaluator`, `createDatasetLlmEvaluator`,
`updateDataset…`, `deleteDatasetEvaluators`), previews on a hand-made context, and every server-side
experiment over the dataset scored by them: one annotation per run and evaluator, read with the official
client, each with its own trace (an EVALUATOR span, and the judge's LLM span under it).

The judge is `fake_llm.FakeLLM` answering the forced `record_judgement` tool call with arguments the test
scripts; a malformed answer must become the annotation's error, never a crash or a lost run.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests

from conftest import unique_name
from test_models import VALID_KEY, fake, fresh, graphql, make_dataset, prompt, psql, wait_job  # noqa: F401 (fixtures)
from test_playground import OVER_DATASET, prompt_version, subscribe

DATASET_EVALUATOR_FIELDS = """
  id name description
  inputMapping { pathMapping literalMapping }
  outputConfigs { __typename ... on CategoricalAnnotationConfig { name optimizationDirection values { label score } }
                  ... on ContinuousAnnotationConfig { name optimizationDirection lowerBound } }
  evaluator { __typename id name kind isBuiltin }
"""

ATTACH_BUILTIN = """mutation($input: CreateDatasetBuiltinEvaluatorInput!) {
  createDatasetBuiltinEvaluator(input: $input) { evaluator { %s } } }""" % DATASET_EVALUATOR_FIELDS
ATTACH_JUDGE = """mutation($input: CreateDatasetLLMEvaluatorInput!) {
  createDatasetLlmEvaluator(input: $input) { evaluator { %s } } }""" % DATASET_EVALUATOR_FIELDS


def gql(cinder, query: str, **variables) -> dict:
    """The whole answer (data and errors), for the cases that must fail."""
    r = requests.post(cinder.base_url + "/graphql", json={"query": query, "variables": variables}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def builtin_ids(cinder) -> dict[str, str]:
    listed = graphql(cinder, "{ builtInEvaluators { id name kind isBuiltin inputSchema outputConfigs { __typename } } }")["builtInEvaluators"]
    return {e["name"]: e["id"] for e in listed}


def correctness_judge(name: str = "correctness") -> dict:
    """The shipped correctness judge prompt on the fake's OpenAI model, as Phoenix's UI would send it."""
    return {
        "name": name,
        "promptVersion": prompt_version("Question: {{input}}\nReference: {{reference}}\nAnswer: {{output}}"),
        "outputConfigs": [{"categorical": {"name": name, "optimizationDirection": "MAXIMIZE",
                                           "values": [{"label": "correct", "score": 1}, {"label": "incorrect", "score": 0}]}}],
    }


def judge_by_marker(messages: list[dict]) -> str:
    """Correct when the answer names an even question, malformed for q3, incorrect otherwise."""
    text = " ".join(m["content"] if isinstance(m["content"], str) else "" for m in messages)
    answer = text.rsplit("Answer:", 1)[-1]
    if "q3" in answer:
        return "{not json"
    even = any(f"q{i}" in answer for i in (0, 2, 4))
    return json.dumps({"label": "correct" if even else "incorrect", "explanation": f"checked {answer.strip()}"})


def test_builtin_evaluators_and_judge_templates_are_listed(cinder):
    listed = graphql(cinder, "{ builtInEvaluators { id name kind isBuiltin inputSchema outputConfigs { __typename } } }")["builtInEvaluators"]
    assert [e["name"] for e in listed] == ["exact_match", "contains", "regex", "json_distance", "levenshtein_distance"]
    assert all(e["kind"] == "BUILTIN" and e["isBuiltin"] for e in listed)
    assert set(listed[0]["inputSchema"]["required"]) == {"expected", "actual"}
    node = graphql(cinder, "query($id: ID!) { node(id: $id) { ... on BuiltInEvaluator { name } } }", id=listed[2]["id"])
    assert node["node"]["name"] == "regex"
    configs = graphql(cinder, "{ classificationEvaluatorConfigs { name optimizationDirection choices messages { role content { ... on TextContentPart { text { text } } } } } }")
    by_name = {c["name"]: c for c in configs["classificationEvaluatorConfigs"]}
    assert {"correctness", "hallucination", "document_relevance", "toxicity", "tool_selection", "conciseness"} <= set(by_name)
    assert by_name["hallucination"]["choices"] == {"hallucinated": 1.0, "factual": 0.0}
    assert by_name["hallucination"]["optimizationDirection"] == "MINIMIZE"
    assert "{{documents}}" in by_name["hallucination"]["messages"][1]["content"][0]["text"]["text"]
    only = graphql(cinder, '{ classificationEvaluatorConfigs(labels: ["toxic"]) { name } }')["classificationEvaluatorConfigs"]
    assert [c["name"] for c in only] == ["toxicity"]


def test_previews_score_a_hand_made_context_without_saving(cinder, fake):
    ids = builtin_ids(cinder)
    context = {"input": {"question": "capital?"}, "output": "Paris", "reference": {"answer": "paris"}}
    fake.judge = lambda messages: json.dumps({"label": "correct", "explanation": "same city"})
    query = """mutation($input: EvaluatorPreviewsInput!) { evaluatorPreviews(input: $input) {
      results { evaluatorName error annotation { name label score explanation annotatorKind } } } }"""
    previews = [
        {"evaluator": {"builtInEvaluatorId": ids["exact_match"]}, "context": context,
         "inputMapping": {"pathMapping": {"expected": "$.reference.answer"}, "literalMapping": {"case_sensitive": False}}},
        {"evaluator": {"builtInEvaluatorId": ids["regex"]}, "context": context,
         "inputMapping": {"pathMapping": {}, "literalMapping": {"pattern": "^[a-z]+$"}}},
        {"evaluator": {"builtInEvaluatorId": ids["levenshtein_distance"]}, "context": context,
         "inputMapping": {"pathMapping": {"expected": "reference.answer"}, "literalMapping": {}}},
        {"evaluator": {"inlineLlmEvaluator": correctness_judge()}, "context": context, "inputMapping": {"pathMapping": {}, "literalMapping": {}}},
    ]
    results = graphql(cinder, query, input={"previews": previews})["evaluatorPreviews"]["results"]
    assert [(r["annotation"] or {}).get("score") for r in results] == [1.0, 0.0, 1.0, 1.0]
    assert results[0]["annotation"]["label"] == "true" and results[0]["annotation"]["annotatorKind"] == "CODE"
    assert results[3]["annotation"] == {"name": "correctness", "label": "correct", "score": 1.0, "explanation": "same city", "annotatorKind": "LLM"}
    sent = fake.completions[-1].body
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "record_judgement"}}
    assert sent["tools"][0]["function"]["parameters"]["properties"]["label"]["enum"] == ["correct", "incorrect"]
    assert "Reference: {\"answer\":\"paris\"}" in sent["messages"][1]["content"] and "Answer: Paris" in sent["messages"][1]["content"]
    # Unusable inputs and answers are the result's error, not the request's.
    fake.judge = lambda messages: json.dumps({"label": "maybe"})
    bad = graphql(cinder, query, input={"previews": [
        {"evaluator": {"builtInEvaluatorId": ids["regex"]}, "context": context, "inputMapping": {"pathMapping": {}, "literalMapping": {"pattern": "(x"}}},
        {"evaluator": {"builtInEvaluatorId": ids["exact_match"]}, "context": {"output": "x"}, "inputMapping": {"pathMapping": {}, "literalMapping": {}}},
        {"evaluator": {"inlineLlmEvaluator": correctness_judge()}, "context": context, "inputMapping": {"pathMapping": {}, "literalMapping": {}}},
    ]})["evaluatorPreviews"]["results"]
    assert all(r["annotation"] is None for r in bad)
    assert "Invalid regular expression" in bad[0]["error"] and "Missing input 'expected'" in bad[1]["error"]
    assert "'maybe'" in bad[2]["error"] and "not one of" in bad[2]["error"]
    # Nothing was stored.
    assert psql(cinder, "SELECT count(*) FROM experiment_run_annotations WHERE name = 'correctness'") == ["0"]
    # A bad path is refused up front.
    refused = gql(cinder, query, input={"previews": [{"evaluator": {"builtInEvaluatorId": ids["regex"]}, "context": {},
                                                       "inputMapping": {"pathMapping": {"text": "$.a["}, "literalMapping": {}}}]})
    assert "Invalid JSONPath" in refused["errors"][0]["message"]


def test_dataset_evaluators_score_every_server_experiment(cinder, client, fake):
    ds = make_dataset(client, 6, "eval-ds")
    ids = builtin_ids(cinder)
    exact = graphql(cinder, ATTACH_BUILTIN, input={
        "datasetId": ds.id, "evaluatorId": ids["exact_match"], "name": "answer-matches",
        "inputMapping": {"pathMapping": {"expected": "$.reference.answer", "actual": "$.output"}, "literalMapping": {}}})
    attached = exact["createDatasetBuiltinEvaluator"]["evaluator"]
    assert attached["evaluator"] == {"__typename": "BuiltInEvaluator", "id": ids["exact_match"], "name": "exact_match", "kind": "BUILTIN", "isBuiltin": True}
    assert attached["outputConfigs"][0]["values"] == [{"label": "true", "score": 1.0}, {"label": "false", "score": 0.0}]
    contains = graphql(cinder, ATTACH_BUILTIN, input={
        "datasetId": ds.id, "evaluatorId": ids["contains"], "name": "mentions-q1",
        "inputMapping": {"pathMapping": {}, "literalMapping": {"words": "q1"}}})["createDatasetBuiltinEvaluator"]["evaluator"]
    judge = graphql(cinder, ATTACH_JUDGE, input={"datasetId": ds.id, **correctness_judge()})["createDatasetLlmEvaluator"]["evaluator"]
    assert judge["evaluator"]["__typename"] == "LLMEvaluator" and judge["evaluator"]["kind"] == "LLM"
    listed = graphql(cinder, "query($id: ID!) { node(id: $id) { ... on Dataset { evaluatorCount datasetEvaluators { edges { node { name } } } } } }", id=ds.id)
    assert listed["node"]["evaluatorCount"] == 3
    assert [e["node"]["name"] for e in listed["node"]["datasetEvaluators"]["edges"]] == ["answer-matches", "mentions-q1", "correctness"]
    evaluators = graphql(cinder, "{ evaluators { edges { node { __typename name kind } } } }")["evaluators"]["edges"]
    assert {"__typename": "LLMEvaluator", "name": "correctness", "kind": "LLM"} in [e["node"] for e in evaluators]

    fake.judge = judge_by_marker
    r = requests.post(cinder.base_url + "/v1/experiment_jobs", json={
        "dataset_id": ds.id, "prompt": prompt(), "repetitions": 1, "max_concurrency": 3, "name": unique_name("scored")}, timeout=30)
    assert r.status_code == 200, r.text
    experiment_id = r.json()["data"]["experiment_id"]
    assert [e["name"] for e in r.json()["data"]["task"]["evaluators"]] == ["answer-matches", "mentions-q1", "correctness"]
    assert wait_job(cinder.base_url, experiment_id)["status"] == "COMPLETED"

    experiment = client.experiments.get_experiment(experiment_id=experiment_id)
    runs = {run["id"]: run for run in experiment["task_runs"]}
    assert len(runs) == 6
    evaluations = experiment["evaluation_runs"]
    assert len(evaluations) == 17  # one per run and evaluator; the client leaves out the one that is only an error
    by_name: dict[str, list] = {}
    for e in evaluations:
        by_name.setdefault(e.name, []).append(e)
    assert all(e.result["score"] == 1.0 and e.result["label"] == "true" for e in by_name["answer-matches"])
    assert sorted(e.result["score"] for e in by_name["mentions-q1"]) == [0.0] * 5 + [1.0]
    judged = sorted(by_name["correctness"], key=lambda e: runs[e.experiment_run_id]["output"]["messages"][0]["content"])
    assert [e.result["label"] for e in judged] == ["correct", "incorrect", "correct", "correct", "incorrect"]
    assert [e.result["score"] for e in judged] == [1.0, 0.0, 1.0, 1.0, 0.0]
    assert judged[0].result["explanation"] == "checked echo: q0" and judged[0].annotator_kind == "LLM"
    # Annotator kinds as Phoenix records them, and each evaluation's own trace in the experiment's project.
    experiment_row = base64.b64decode(experiment_id).decode().split(":")[1]
    kinds = psql(cinder, f"""SELECT a.name, a.annotator_kind, count(*), count(DISTINCT a.trace_id) FROM experiment_run_annotations a
        JOIN experiment_runs r ON r.id = a.experiment_run_id WHERE r.experiment_id = {experiment_row} GROUP BY 1, 2 ORDER BY 1""")
    assert kinds == ["answer-matches|CODE|6|6", "correctness|LLM|6|6", "mentions-q1|CODE|6|6"]
    # The malformed judgement is recorded as the run's evaluation error; its run is there like the others.
    errors = psql(cinder, f"""SELECT r.output->'messages'->0->>'content', a.label IS NULL, a.score IS NULL, a.error FROM experiment_run_annotations a
        JOIN experiment_runs r ON r.id = a.experiment_run_id WHERE r.experiment_id = {experiment_row} AND a.error IS NOT NULL""")
    assert len(errors) == 1 and errors[0].startswith("echo: q3|t|t|") and "not a JSON object" in errors[0], errors
    trace_id = judged[0].trace_id
    spans = psql(cinder, f"SELECT s.span_kind, s.parent_id IS NULL, s.name FROM spans s JOIN traces t ON t.id = s.trace_rowid WHERE t.trace_id = '{trace_id}' ORDER BY s.start_time")
    assert spans == ["EVALUATOR|t|Evaluation: correctness", "LLM|f|ChatCompletion"], spans
    builtin_trace = by_name["answer-matches"][0].trace_id
    assert psql(cinder, f"SELECT s.span_kind FROM spans s JOIN traces t ON t.id = s.trace_rowid WHERE t.trace_id = '{builtin_trace}'") == ["EVALUATOR"]

    # Edited and detached: the next experiment runs what is attached then.
    updated = graphql(cinder, """mutation($input: UpdateDatasetBuiltinEvaluatorInput!) { updateDatasetBuiltinEvaluator(input: $input) {
        evaluator { name inputMapping { literalMapping } } } }""", input={
        "datasetEvaluatorId": contains["id"], "name": "mentions-q2", "inputMapping": {"pathMapping": {}, "literalMapping": {"words": "q2"}}})
    assert updated["updateDatasetBuiltinEvaluator"]["evaluator"] == {"name": "mentions-q2", "inputMapping": {"literalMapping": {"words": "q2"}}}
    deleted = graphql(cinder, """mutation($input: DeleteDatasetEvaluatorsInput!) { deleteDatasetEvaluators(input: $input) { datasetEvaluatorIds } }""",
                      input={"datasetEvaluatorIds": [judge["id"], attached["id"]]})
    assert sorted(deleted["deleteDatasetEvaluators"]["datasetEvaluatorIds"]) == sorted([judge["id"], attached["id"]])
    assert psql(cinder, "SELECT count(*) FROM evaluators WHERE definition->'output_config'->>'name' = 'correctness' AND "
                        f"NOT EXISTS (SELECT 1 FROM dataset_evaluators d WHERE d.evaluator_id = evaluators.id)") == ["0"]
    r = requests.post(cinder.base_url + "/v1/experiment_jobs", json={"dataset_id": ds.id, "prompt": prompt(), "name": unique_name("rescored")}, timeout=30)
    second = r.json()["data"]["experiment_id"]
    assert wait_job(cinder.base_url, second)["status"] == "COMPLETED"
    names = [e.name for e in client.experiments.get_experiment(experiment_id=second)["evaluation_runs"]]
    assert names == ["mentions-q2"] * 6


def test_playground_experiments_stream_their_evaluations(cinder, client, fake):
    ds = make_dataset(client, 3, "eval-pg")
    ids = builtin_ids(cinder)
    attached = graphql(cinder, ATTACH_BUILTIN, input={
        "datasetId": ds.id, "evaluatorId": ids["exact_match"], "name": "exact",
        "inputMapping": {"pathMapping": {"expected": "$.reference.answer"}, "literalMapping": {}}})["createDatasetBuiltinEvaluator"]["evaluator"]
    fields = "__typename datasetExampleId ... on EvaluationChunk { evaluatorName error experimentRunEvaluation { name label score } }"
    query = OVER_DATASET.replace("__typename datasetExampleId repetitionNumber", fields + " repetitionNumber", 1)
    base = {"promptVersion": prompt_version("{{question}}"), "repetitions": 1, "datasetId": ds.id, "experimentName": unique_name("pg-eval")}
    # No selection: the dataset's evaluators.
    results = subscribe(cinder, query, {"input": base})
    chunks = [r for r in results if r["__typename"] == "EvaluationChunk"]
    assert len(chunks) == 3 and all(c["experimentRunEvaluation"] == {"name": "exact", "label": "true", "score": 1.0} for c in chunks)
    # A selection: a built-in one under a name of the run's own, and the dataset's under another name.
    selection = [{"id": ids["levenshtein_distance"], "name": "distance", "inputMapping": {"pathMapping": {"expected": "$.input.question"}, "literalMapping": {}}},
                 {"id": attached["id"], "name": "exact-again", "inputMapping": {"pathMapping": {"expected": "$.reference.answer"}, "literalMapping": {}}}]
    results = subscribe(cinder, query, {"input": base | {"experimentName": unique_name("pg-eval"), "evaluators": selection}})
    chunks = [r for r in results if r["__typename"] == "EvaluationChunk"]
    assert sorted((c["evaluatorName"], c["experimentRunEvaluation"]["score"]) for c in chunks) == [("distance", 6.0)] * 3 + [("exact-again", 1.0)] * 3


def test_bad_evaluator_input_is_refused_clearly(cinder, client):
    ds = make_dataset(client, 1, "eval-bad")
    ids = builtin_ids(cinder)
    ok = {"datasetId": ds.id, "evaluatorId": ids["regex"], "name": "has-digits", "inputMapping": {"pathMapping": {}, "literalMapping": {"pattern": "\\d"}}}
    graphql(cinder, ATTACH_BUILTIN, input=ok)
    cases = [
        (ok, "already has an evaluator named has-digits"),
        (ok | {"name": "Bad Name"}, "Invalid name"),
        (ok | {"name": "x1", "evaluatorId": "QnVpbHRJbkV2YWx1YXRvcjotOTk="}, "Built-in evaluator not found"),
        (ok | {"name": "x2", "datasetId": "RGF0YXNldDo5OTk5OTk5"}, "Dataset not found"),
        (ok | {"name": "x3", "inputMapping": {"pathMapping": {"text": 7}, "literalMapping": {}}}, "must be a string"),
        (ok | {"name": "x4", "outputConfigs": [{"categorical": {"name": "c", "optimizationDirection": "MAXIMIZE", "values": []}}]}, "at least one value"),
    ]
    for given, message in cases:
        answer = gql(cinder, ATTACH_BUILTIN, input=given)
        assert answer.get("errors") and message in answer["errors"][0]["message"], (given, answer)
    judge = correctness_judge("judge") | {"datasetId": ds.id}
    freeform = judge | {"outputConfigs": [{"freeform": {"name": "judge"}}]}
    assert "categorical output config" in gql(cinder, ATTACH_JUDGE, input=freeform)["errors"][0]["message"]
    two = judge | {"outputConfigs": judge["outputConfigs"] * 2}
    assert "exactly one output config" in gql(cinder, ATTACH_JUDGE, input=two)["errors"][0]["message"]
    unknown = gql(cinder, """mutation { deleteDatasetEvaluators(input: {datasetEvaluatorIds: ["RGF0YXNldEV2YWx1YXRvcjo5OTk5OTk="]}) { datasetEvaluatorIds } }""")
    assert "not found" in unknown["errors"][0]["message"]
    assert psql(cinder, f"SELECT count(*) FROM dataset_evaluators WHERE name LIKE 'x%' OR name = 'judge'") == ["0"]


CODE_FIELDS = "id name kind language sourceCode versionCount currentVersion { sequenceNumber sourceCode } outputConfigs { __typename }"
CREATE_CODE = "mutation($input: CreateCodeEvaluatorInput!) { createCodeEvaluator(input: $input) { evaluator { %s } } }" % CODE_FIELDS
ATTACH_CODE = """mutation($input: CreateDatasetCodeEvaluatorInput!) {
  createDatasetCodeEvaluator(input: $input) { evaluator { %s } } }""" % DATASET_EVALUATOR_FIELDS

MATCHES = '''
def evaluate(output, expected):
    answer = expected["answer"]
    return {"score": 1.0 if output == answer else 0.0, "label": "same" if output == answer else "different",
            "explanation": "compared %r with %r" % (output, answer)}
'''


def test_code_evaluators_are_versioned_sandboxed_and_score_experiments(cinder, client, fake):
    created = graphql(cinder, CREATE_CODE, input={"name": unique_name("matches"), "sourceCode": "def evaluate(output):\n    return len(output)\n",
                                                  "language": "PYTHON"})["createCodeEvaluator"]["evaluator"]
    assert created["kind"] == "CODE" and created["versionCount"] == 1 and created["currentVersion"]["sequenceNumber"] == 1
    version = """mutation($input: CreateCodeEvaluatorVersionInput!) { createCodeEvaluatorVersion(input: $input) {
        wasCreated evaluator { versionCount sourceCode versions { edges { node { sequenceNumber } } } } } }"""
    second = graphql(cinder, version, input={"codeEvaluatorId": created["id"], "sourceCode": MATCHES})["createCodeEvaluatorVersion"]
    assert second["wasCreated"] and second["evaluator"]["versionCount"] == 2 and second["evaluator"]["sourceCode"] == MATCHES
    assert [e["node"]["sequenceNumber"] for e in second["evaluator"]["versions"]["edges"]] == [2, 1]
    same = graphql(cinder, version, input={"codeEvaluatorId": created["id"], "sourceCode": MATCHES})["createCodeEvaluatorVersion"]
    assert not same["wasCreated"] and same["evaluator"]["versionCount"] == 2

    ds = make_dataset(client, 4, "code-eval")
    attached = graphql(cinder, ATTACH_CODE, input={"datasetId": ds.id, "evaluatorId": created["id"], "name": "matches"})
    assert attached["createDatasetCodeEvaluator"]["evaluator"]["evaluator"]["kind"] == "CODE"
    r = requests.post(cinder.base_url + "/v1/experiment_jobs", json={
        "dataset_id": ds.id, "prompt": prompt(), "repetitions": 1, "name": unique_name("code-scored")}, timeout=30)
    assert r.status_code == 200, (r.status_code, r.text)
    experiment_id = r.json()["data"]["experiment_id"]
    assert wait_job(cinder.base_url, experiment_id)["status"] == "COMPLETED"
    evaluations = client.experiments.get_experiment(experiment_id=experiment_id)["evaluation_runs"]
    assert len(evaluations) == 4 and {e.annotator_kind for e in evaluations} == {"CODE"}
    assert {(e.result["label"], e.result["score"]) for e in evaluations} == {("same", 1.0)}
    assert evaluations[0].result["explanation"].startswith("compared 'echo: q")

    # Previews: inline code, and the stored evaluator by id.
    query = """mutation($input: EvaluatorPreviewsInput!) { evaluatorPreviews(input: $input) { results { evaluatorName error annotation { label score } } } }"""
    context = {"output": "abc", "reference": {"answer": "abc"}}
    results = graphql(cinder, query, input={"previews": [
        {"evaluator": {"codeEvaluatorId": created["id"]}, "context": context, "inputMapping": {"pathMapping": {}, "literalMapping": {}}},
        {"evaluator": {"inlineCodeEvaluator": {"name": "len", "language": "PYTHON", "sourceCode": "def evaluate(output):\n    return len(output) > 2\n",
                                               "outputConfigs": []}}, "context": context, "inputMapping": {"pathMapping": {}, "literalMapping": {}}},
        {"evaluator": {"inlineCodeEvaluator": {"name": "boom", "language": "PYTHON", "sourceCode": "def evaluate(output):\n    return 1 / 0\n",
                                               "outputConfigs": []}}, "context": context, "inputMapping": {"pathMapping": {}, "literalMapping": {}}},
    ]})["evaluatorPreviews"]["results"]
    assert results[0]["annotation"] == {"label": "same", "score": 1.0}
    assert results[1]["annotation"] == {"label": "true", "score": 1.0}
    assert results[2]["annotation"] is None and results[2]["error"] == "ZeroDivisionError: division by zero (line 2)"
    refused = gql(cinder, CREATE_CODE, input={"name": "ts", "sourceCode": "export function evaluate() {}", "language": "TYPESCRIPT"})
    assert "written in PYTHON" in refused["errors"][0]["message"]
    refused = gql(cinder, CREATE_CODE, input={"name": "nofn", "sourceCode": "x = 1", "language": "PYTHON"})
    assert "function named evaluate" in refused["errors"][0]["message"]


def test_a_hostile_code_evaluator_fails_alone_and_the_server_keeps_serving(cinder, client, fake):
    hostile = {
        "spins": "def evaluate(output):\n    while True:\n        pass\n",
        "reads-files": "def evaluate(output):\n    return open('/etc/passwd').read()\n",
        "opens-sockets": "import socket\ndef evaluate(output):\n    socket.create_connection(('127.0.0.1', 5432), timeout=1)\n",
        "forks": "import os\ndef evaluate(output):\n    while True:\n        os.fork()\n",
    }
    ds = make_dataset(client, 2, "hostile")
    for name, source in hostile.items():
        created = graphql(cinder, CREATE_CODE, input={"name": unique_name(name), "sourceCode": source, "language": "PYTHON"})["createCodeEvaluator"]["evaluator"]
        graphql(cinder, ATTACH_CODE, input={"datasetId": ds.id, "evaluatorId": created["id"], "name": name})
    r = requests.post(cinder.base_url + "/v1/experiment_jobs", json={"dataset_id": ds.id, "prompt": prompt(), "name": unique_name("hostile")}, timeout=30)
    experiment_id = r.json()["data"]["experiment_id"]
    assert wait_job(cinder.base_url, experiment_id)["status"] == "COMPLETED"
    experiment_row = base64.b64decode(experiment_id).decode().split(":")[1]
    rows = psql(cinder, f"""SELECT a.name, a.error FROM experiment_run_annotations a JOIN experiment_runs r ON r.id = a.experiment_run_id
        WHERE r.experiment_id = {experiment_row} AND r.error IS NULL ORDER BY a.name""")
    errors = {}
    for row in rows:
        name, _, error = row.partition("|")
        errors.setdefault(name, set()).add(error)
    assert set(errors) == set(hostile) and all(len(e) == 1 for e in errors.values()) and len(rows) == 8, rows
    assert "CPU time" in next(iter(errors["spins"]))
    assert "FileNotFoundError" in next(iter(errors["reads-files"]))
    assert "OSError" in next(iter(errors["opens-sockets"])) or "Error" in next(iter(errors["opens-sockets"]))
    assert "Resource temporarily unavailable" in next(iter(errors["forks"]))
    # The runs themselves are recorded, and the server answers as before.
    assert len(client.experiments.get_experiment(experiment_id=experiment_id)["task_runs"]) == 2
    assert requests.get(cinder.base_url + "/healthz", timeout=5).status_code == 200
    assert psql(cinder, "SELECT 1") == ["1"]


def test_evaluators_run_again_on_an_existing_experiment(cinder, client, fake):
    ds = make_dataset(client, 4, "rerun")
    # A client-side experiment: the official client ran the task; nothing on the server scored it.
    ran = client.experiments.run_experiment(dataset=ds, task=lambda input: f"echo: {input['question']}",
                                            experiment_name=unique_name("client-side"), print_summary=False)
    experiment_id = ran["experiment_id"]
    ids = builtin_ids(cinder)
    attached = graphql(cinder, ATTACH_BUILTIN, input={
        "datasetId": ds.id, "evaluatorId": ids["exact_match"], "name": "answer-matches",
        "inputMapping": {"pathMapping": {"expected": "$.reference.answer"}, "literalMapping": {}}})["createDatasetBuiltinEvaluator"]["evaluator"]
    evaluate = """mutation($input: EvaluateExperimentInput!) { evaluateExperiment(input: $input) { queued experiment { id } } }"""
    assert graphql(cinder, evaluate, input={"experimentId": experiment_id})["evaluateExperiment"]["queued"] == 4

    def scores() -> list:
        return sorted(e.result["score"] for e in client.experiments.get_experiment(experiment_id=experiment_id)["evaluation_runs"])
    wait_for_value(lambda: scores() == [1.0] * 4, "re-evaluation scored")
    # Changed, and run again: the annotations are replaced, not added.
    graphql(cinder, """mutation($input: UpdateDatasetBuiltinEvaluatorInput!) { updateDatasetBuiltinEvaluator(input: $input) { evaluator { id } } }""",
            input={"datasetEvaluatorId": attached["id"], "name": "answer-matches",
                   "inputMapping": {"pathMapping": {"expected": "$.input.question"}, "literalMapping": {}}})
    # Asked twice before the runner drains the queue: both requests' runs are scored, the newer recorded.
    assert graphql(cinder, evaluate, input={"experimentId": experiment_id, "datasetEvaluatorIds": [attached["id"]]})["evaluateExperiment"]["queued"] == 4
    assert graphql(cinder, evaluate, input={"experimentId": experiment_id})["evaluateExperiment"]["queued"] == 4
    wait_for_value(lambda: psql(cinder, "SELECT count(*) FROM experiment_evaluation_queue") == ["0"], "both requests drained")
    wait_for_value(lambda: scores() == [0.0] * 4, "second re-evaluation scored")
    assert psql(cinder, "SELECT count(*) FROM experiment_evaluation_queue") == ["0"]
    bare = client.datasets.create_dataset(name=unique_name("no-evaluators"), examples=[{"input": {"q": 1}, "output": {}}])
    other = client.experiments.run_experiment(dataset=bare, task=lambda input: 1, experiment_name=unique_name("bare"), print_summary=False)
    refused = gql(cinder, evaluate, input={"experimentId": other["experiment_id"]})
    assert "no evaluators" in refused["errors"][0]["message"]


def wait_for_value(condition, message: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.25)


def test_experiment_and_run_costs_are_what_their_tasks_spent(cinder, client, fake):
    ds = make_dataset(client, 3, "eval-costs")
    graphql(cinder, ATTACH_JUDGE, input={"datasetId": ds.id, **correctness_judge()})
    fake.judge = lambda messages: json.dumps({"label": "correct", "explanation": "fine"})
    r = requests.post(cinder.base_url + "/v1/experiment_jobs", json={"dataset_id": ds.id, "prompt": prompt(), "name": unique_name("costed")}, timeout=30)
    experiment_id = r.json()["data"]["experiment_id"]
    assert wait_job(cinder.base_url, experiment_id)["status"] == "COMPLETED"
    query = """query($id: ID!) { node(id: $id) { ... on Experiment {
        costSummary { prompt { tokens cost } completion { tokens cost } total { tokens cost } }
        runs(first: 10) { edges { node { traceId costSummary { total { tokens cost } } } } } } } }"""
    experiment = graphql(cinder, query, id=experiment_id)["node"]
    runs = [e["node"] for e in experiment["runs"]["edges"]]
    assert len(runs) == 3 and all(r["costSummary"]["total"]["cost"] > 0 for r in runs)  # gpt-4o-mini is in the price table
    total = experiment["costSummary"]["total"]
    assert total["cost"] == pytest.approx(sum(r["costSummary"]["total"]["cost"] for r in runs))
    assert total["tokens"] == sum(r["costSummary"]["total"]["tokens"] for r in runs)
    # Only the tasks' spans count: the judges' calls (priced too, in their own traces) are not the experiment's.
    traces = ", ".join(f"'{r['traceId']}'" for r in runs)
    task_cost = psql(cinder, f"SELECT sum(s.llm_cost_total) FROM spans s JOIN traces t ON t.id = s.trace_rowid WHERE t.trace_id IN ({traces})")
    assert float(task_cost[0]) == pytest.approx(total["cost"])
    experiment_row = base64.b64decode(experiment_id).decode().split(":")[1]
    judged = psql(cinder, f"""SELECT count(*), sum(s.llm_cost_total) > 0 FROM experiment_run_annotations a JOIN experiment_runs r ON r.id = a.experiment_run_id
        JOIN traces t ON t.trace_id = a.trace_id JOIN spans s ON s.trace_rowid = t.id AND s.span_kind = 'LLM' WHERE r.experiment_id = {experiment_row}""")
    assert judged == ["3|t"]


def test_an_llm_judges_versions_are_its_prompts_versions(cinder, client):
    ds = make_dataset(client, 1, "judge-versions")
    judge = graphql(cinder, ATTACH_JUDGE, input={"datasetId": ds.id, **correctness_judge("versioned")})["createDatasetLlmEvaluator"]["evaluator"]
    query = """query($id: ID!) { node(id: $id) { ... on DatasetEvaluator { evaluator { ... on LLMEvaluator {
        prompt { id name promptVersions { edges { node { id } } } } promptVersion { modelName template } } } } } }"""
    first = graphql(cinder, query, id=judge["id"])["node"]["evaluator"]
    assert len(first["prompt"]["promptVersions"]["edges"]) == 1 and first["prompt"]["name"].endswith("-versioned")
    assert first["promptVersion"]["modelName"] == "gpt-4o-mini" and "Reference: {{reference}}" in json.dumps(first["promptVersion"]["template"])
    changed = correctness_judge("versioned")
    changed["promptVersion"] = changed["promptVersion"] | {"modelName": "gpt-4o"}
    graphql(cinder, """mutation($input: UpdateDatasetLLMEvaluatorInput!) { updateDatasetLlmEvaluator(input: $input) { evaluator { id } } }""",
            input={"datasetEvaluatorId": judge["id"], "datasetId": ds.id, **changed})
    second = graphql(cinder, query, id=judge["id"])["node"]["evaluator"]
    assert second["prompt"]["id"] == first["prompt"]["id"] and len(second["prompt"]["promptVersions"]["edges"]) == 2
    assert second["promptVersion"]["modelName"] == "gpt-4o"
    graphql(cinder, """mutation($input: DeleteDatasetEvaluatorsInput!) { deleteDatasetEvaluators(input: $input) { datasetEvaluatorIds } }""",
            input={"datasetEvaluatorIds": [judge["id"]], "deleteAssociatedPrompt": True})
    assert not gql(cinder, "query($id: ID!) { node(id: $id) { id } }", id=first["prompt"]["id"]).get("data")
