"""Client-side experiments through arize-phoenix-client 3.5.0 (and raw HTTP where the client has no call).

The tasks and evaluators are plain deterministic Python functions: the client runs them locally, posts one
run per (example, repetition) to POST /v1/experiments/{id}/runs, one evaluation per (run, evaluator) to
POST /v1/experiment_evaluations and sends the task spans over OTLP/HTTP to the experiment's hidden
`Experiment-<hex>` project. Everything is then read back through the REST API.

Phoenix behaviours these tests pin (Phoenix 20.26.1, src/phoenix/server/api/routers/v1/experiments.py,
experiment_runs.py, experiment_evaluations.py, experiment_tags.py):
- Experiment lists are newest first (id DESC); runs lists are id DESC; `limit` is optional on runs (all rows).
- A run whose stored result has no error is immutable (409); a run stored with an error is upserted in place
  (same row id), which is how resume_experiment replaces failed runs.
- Evaluations are upserted on (experiment_run_id, name) and keep their id.
- incomplete-runs groups by dataset example (ascending example id) and lists the repetition numbers that have
  no successful run; incomplete-evaluations lists successful runs (ascending run id) missing a successful
  annotation for any requested name (no name at all: 400).
- Experiment tags are scoped to the dataset: one name points at one experiment; setting it on another
  experiment moves it; deleting from a non-owner is a no-op; the list is sorted by name.
- The JSON/CSV downloads are ordered by (dataset example id, repetition) and 404 when there are no runs.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import requests

from conftest import iso_to_us, unique_name

UNKNOWN_ROWID = 999_999_999
EXPERIMENT_KEYS = {
    "id", "dataset_id", "dataset_version_id", "name", "description", "repetitions", "metadata", "project_name",
    "created_at", "updated_at", "example_count", "successful_run_count", "failed_run_count", "missing_run_count",
}


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def gid(type_name: str, rowid: int) -> str:
    return base64.b64encode(f"{type_name}:{rowid}".encode()).decode()


def parse_gid(value: str) -> tuple[str, int]:
    assert isinstance(value, str) and value, value
    type_name, _, rowid = base64.b64decode(value).decode().partition(":")
    assert type_name and rowid.isdigit(), value
    return type_name, int(rowid)


def rowid(value: str, expected_type: str) -> int:
    type_name, n = parse_gid(value)
    assert type_name == expected_type, (value, type_name, expected_type)
    return n


def ex_id(example: dict) -> str:
    """The example's GlobalID (what runs record as dataset_example_id), as the client resolves it."""
    return example.get("node_id") or example["id"]


def assert_iso(value: str) -> datetime:
    iso_to_us(value)  # +00:00 offset, 6-digit fraction or none
    return datetime.fromisoformat(value)


def assert_recent(value: str) -> None:
    t = assert_iso(value)
    now = datetime.now(timezone.utc)
    assert now - timedelta(minutes=10) <= t <= now + timedelta(minutes=1), value


def status(excinfo) -> int:
    return excinfo.value.response.status_code


def patch(cinder, path: str, **kw: Any) -> requests.Response:
    kw.setdefault("timeout", 30)
    return requests.patch(cinder.base_url + path, **kw)


def assert_validation_error(r: requests.Response, *locs: tuple) -> list[dict]:
    """FastAPI-style 422: JSON {"detail": [{"loc": [...], "msg": ..., "type": ...}, ...]}."""
    assert r.status_code == 422, (r.status_code, r.text)
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    for d in detail:
        assert isinstance(d["loc"], list) and isinstance(d["msg"], str) and isinstance(d["type"], str), d
    got = [tuple(d["loc"]) for d in detail]
    for loc in locs:
        assert loc in got, (loc, got)
    return detail


def make_dataset(client, n: int = 3, prefix: str = "exp-ds"):
    """Examples i = 1..n: input {question, a: i, b: 10 i}, output {answer: 11 i}, metadata {idx: i}."""
    examples = [
        {"input": {"question": f"{i} + {10 * i}", "a": i, "b": 10 * i},
         "output": {"answer": 11 * i},
         "metadata": {"idx": i, "topic": "addition"}}
        for i in range(1, n + 1)
    ]
    ds = client.datasets.create_dataset(name=unique_name(prefix), examples=examples,
                                        dataset_description="experiment e2e")
    assert len(ds.examples) == n
    assert sorted(e["input"]["a"] for e in ds.examples) == list(range(1, n + 1))
    return ds


def examples_by_a(ds) -> dict[int, dict]:
    return {e["input"]["a"]: e for e in ds.examples}


def run_experiment(client, ds, **kw: Any):
    kw.setdefault("task", add_task)
    kw.setdefault("experiment_name", unique_name("exp"))
    kw.setdefault("print_summary", False)
    return client.experiments.run_experiment(dataset=ds, **kw)


def get_runs(cinder, experiment_id: str, **params: Any) -> dict:
    r = cinder.get(f"/v1/experiments/{experiment_id}/runs", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"data", "next_cursor"}, body
    return body


def all_runs(cinder, experiment_id: str) -> list[dict]:
    body = get_runs(cinder, experiment_id)
    assert body["next_cursor"] is None
    return body["data"]


def get_json_export(cinder, experiment_id: str) -> list[dict]:
    r = cinder.get(f"/v1/experiments/{experiment_id}/json")
    assert r.status_code == 200, r.text
    return json.loads(r.text)


def incomplete_evaluations(cinder, experiment_id: str, names: list[str], **params: Any) -> dict:
    r = cinder.get(f"/v1/experiments/{experiment_id}/incomplete-evaluations",
                   params={"evaluation_name": names, **params})
    assert r.status_code == 200, r.text
    return r.json()


# --------------------------------------------------------------------------------------------------
# Deterministic tasks and evaluators (module level: their names are the evaluation names)
# --------------------------------------------------------------------------------------------------


def add_task(input):
    return {"sum": input["a"] + input["b"]}


def flaky_task(input):
    if input["a"] == 2:
        raise RuntimeError("cannot add two")
    return {"sum": input["a"] + input["b"]}


def exact_match(output, expected):  # bool -> score 1.0/0.0 + label "True"/"False"
    return output["sum"] == expected["answer"]


def parity(output):  # str -> label only
    return "even" if output["sum"] % 2 == 0 else "odd"


def graded(output, expected, metadata):  # 3-tuple -> (score, label, explanation)
    return metadata["idx"] / 10, f"idx-{metadata['idx']}", f"sum was {output['sum']}"


def expected_eval(name: str, a: int) -> dict:
    s = 11 * a
    return {
        "exact_match": {"score": 1.0, "label": "True", "explanation": None},
        "parity": {"score": None, "label": "even" if s % 2 == 0 else "odd", "explanation": None},
        "graded": {"score": a / 10, "label": f"idx-{a}", "explanation": f"sum was {s}"},
    }[name]


# --------------------------------------------------------------------------------------------------
# Running experiments
# --------------------------------------------------------------------------------------------------


def test_run_experiment_records_runs_and_evaluations(client, cinder):
    ds = make_dataset(client, 3)
    by_a = examples_by_a(ds)
    name = unique_name("exp-full")
    meta = {"model": "adder", "version": 2, "tags": ["x", "y"], "nested": {"deep": True, "ratio": 0.5}}
    ran = run_experiment(client, ds, experiment_name=name, experiment_description="adds two numbers",
                         experiment_metadata=meta, evaluators=[exact_match, parity, graded], repetitions=2)
    exp_id = ran["experiment_id"]
    rowid(exp_id, "Experiment")
    assert ran["dataset_id"] == ds.id and ran["dataset_version_id"] == ds.version_id
    assert ran["experiment_metadata"] == meta

    # One run per example x repetition, with the task output.
    runs = ran["task_runs"]
    assert len(runs) == 6
    keys = {(r["dataset_example_id"], r["repetition_number"]) for r in runs}
    assert keys == {(ex_id(e), rep) for e in ds.examples for rep in (1, 2)}
    for r in runs:
        a = next(a for a, e in by_a.items() if ex_id(e) == r["dataset_example_id"])
        assert r["output"] == {"sum": 11 * a}
        assert r["error"] is None
        assert r["experiment_id"] == exp_id
        rowid(r["id"], "ExperimentRun")
        rowid(r["dataset_example_id"], "DatasetExample")
        assert re.fullmatch(r"[0-9a-f]{32}", r["trace_id"]), r["trace_id"]
        assert_recent(r["start_time"])
        assert assert_iso(r["start_time"]) <= assert_iso(r["end_time"])
    assert len({r["id"] for r in runs}) == 6
    assert len({r["trace_id"] for r in runs}) == 6

    # Three evaluations per run, posted with server-assigned ids.
    evals = ran["evaluation_runs"]
    assert len(evals) == 18
    run_ids = {r["id"] for r in runs}
    assert {e.experiment_run_id for e in evals} == run_ids
    assert len({e.id for e in evals}) == 18
    for e in evals:
        rowid(e.id, "ExperimentEvaluation")
        assert e.annotator_kind == "CODE" and e.error is None
    for r in runs:
        assert sorted(e.name for e in evals if e.experiment_run_id == r["id"]) == ["exact_match", "graded", "parity"]

    # The experiment record.
    exp = client.experiments.get(experiment_id=exp_id)
    assert set(exp) >= EXPERIMENT_KEYS
    assert {k: exp[k] for k in ("id", "dataset_id", "dataset_version_id", "name", "description", "repetitions",
                                "metadata", "example_count", "successful_run_count", "failed_run_count",
                                "missing_run_count")} == {
        "id": exp_id, "dataset_id": ds.id, "dataset_version_id": ds.version_id, "name": name,
        "description": "adds two numbers", "repetitions": 2, "metadata": meta, "example_count": 3,
        "successful_run_count": 6, "failed_run_count": 0, "missing_run_count": 0}
    assert re.fullmatch(r"Experiment-[0-9a-f]+", exp["project_name"]), exp["project_name"]
    assert_recent(exp["created_at"])
    assert_recent(exp["updated_at"])
    assert ran["project_name"] == exp["project_name"]

    # Runs over REST: all of them without a limit, newest first.
    body = get_runs(cinder, exp_id)
    assert body["next_cursor"] is None
    assert len(body["data"]) == 6
    ids = [rowid(r["id"], "ExperimentRun") for r in body["data"]]
    assert ids == sorted(ids, reverse=True)
    assert sorted(body["data"], key=lambda r: r["id"]) == sorted(runs, key=lambda r: r["id"])

    # get_experiment rebuilds the evaluations from the JSON download.
    got = client.experiments.get_experiment(experiment_id=exp_id)
    assert got["experiment_id"] == exp_id
    assert got["dataset_id"] == ds.id and got["dataset_version_id"] == ds.version_id
    assert got["experiment_metadata"] == meta
    assert got["project_name"] == exp["project_name"]
    assert sorted(got["task_runs"], key=lambda r: r["id"]) == sorted(runs, key=lambda r: r["id"])
    assert len(got["evaluation_runs"]) == 18
    run_by_id = {r["id"]: r for r in runs}
    for e in got["evaluation_runs"]:
        run = run_by_id[e.experiment_run_id]
        a = next(a for a, x in by_a.items() if ex_id(x) == run["dataset_example_id"])
        assert e.name in ("exact_match", "parity", "graded")
        assert e.annotator_kind == "CODE" and e.error is None
        assert dict(e.result) == expected_eval(e.name, a), (e.name, a, e.result)
    for r in runs:
        assert sorted(e.name for e in got["evaluation_runs"] if e.experiment_run_id == r["id"]) == [
            "exact_match", "graded", "parity"]


def test_task_spans_go_to_hidden_experiment_project(client, cinder):
    ds = make_dataset(client, 2)
    ran = run_experiment(client, ds)
    project = client.experiments.get(experiment_id=ran["experiment_id"])["project_name"]
    assert re.fullmatch(r"Experiment-[0-9a-f]+", project), project

    def project_names(**params) -> list[str]:
        names, cursor = [], None
        for _ in range(100):
            p = dict(params, limit=100)
            if cursor:
                p["cursor"] = cursor
            r = cinder.get("/v1/projects", params=p)
            assert r.status_code == 200, r.text
            names += [x["name"] for x in r.json()["data"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return names
        raise AssertionError("project pagination does not terminate")

    assert project not in project_names()
    assert project in project_names(include_experiment_projects="true")

    deadline = time.monotonic() + 15
    while True:  # OTLP ingestion may be asynchronous
        r = cinder.get(f"/v1/projects/{project}/spans", params={"limit": 100})
        spans = r.json()["data"] if r.status_code == 200 else []
        if len(spans) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    assert len(spans) == 2, spans
    runs = {r["trace_id"]: r for r in ran["task_runs"]}
    assert {s["context"]["trace_id"] for s in spans} == set(runs)
    inputs = {ex_id(e): e["input"] for e in ds.examples}
    for s in spans:
        run = runs[s["context"]["trace_id"]]
        assert s["name"] == "Task: add_task"
        assert s["span_kind"] == "CHAIN"
        assert s["parent_id"] is None
        assert s["status_code"] == "OK"
        assert json.loads(s["attributes"]["input.value"]) == inputs[run["dataset_example_id"]]
        assert s["attributes"]["input.mime_type"] == "application/json"
        assert json.loads(s["attributes"]["output.value"]) == run["output"]
        assert s["attributes"]["output.mime_type"] == "application/json"


def test_list_experiments_for_dataset(client, cinder):
    ds = make_dataset(client, 2)
    other = make_dataset(client, 1)
    first = run_experiment(client, ds, experiment_name=unique_name("first"))
    second = run_experiment(client, ds, experiment_name=unique_name("second"), repetitions=2)
    elsewhere = run_experiment(client, other)

    listed = client.experiments.list(dataset_id=ds.id)
    assert [e["id"] for e in listed] == [second["experiment_id"], first["experiment_id"]]  # newest first
    assert listed[0] == client.experiments.get(experiment_id=second["experiment_id"])
    assert listed[1] == client.experiments.get(experiment_id=first["experiment_id"])
    assert [(e["repetitions"], e["example_count"], e["successful_run_count"], e["missing_run_count"])
            for e in listed] == [(2, 2, 4, 0), (1, 2, 2, 0)]
    assert all(e["dataset_id"] == ds.id for e in listed)
    assert [e["id"] for e in client.experiments.list(dataset_id=other.id)] == [elsewhere["experiment_id"]]

    page1 = cinder.get(f"/v1/datasets/{ds.id}/experiments", params={"limit": 1})
    assert page1.status_code == 200, page1.text
    page1 = page1.json()
    assert [e["id"] for e in page1["data"]] == [second["experiment_id"]]
    assert page1["next_cursor"]
    page2 = cinder.get(f"/v1/datasets/{ds.id}/experiments",
                       params={"limit": 1, "cursor": page1["next_cursor"]}).json()
    assert [e["id"] for e in page2["data"]] == [first["experiment_id"]]
    assert page2["next_cursor"] is None
    full = cinder.get(f"/v1/datasets/{ds.id}/experiments", params={"limit": 2}).json()
    assert len(full["data"]) == 2 and full["next_cursor"] is None  # one extra row decides next_cursor
    assert cinder.get(f"/v1/datasets/{ds.id}/experiments", params={"limit": 0}).status_code == 422


def test_runs_pagination(client, cinder):
    ds = make_dataset(client, 3)
    ran = run_experiment(client, ds, repetitions=2)
    exp_id = ran["experiment_id"]
    everything = all_runs(cinder, exp_id)
    assert len(everything) == 6

    pages, cursor = [], None
    for _ in range(10):
        params = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        body = get_runs(cinder, exp_id, **params)
        pages.append(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [4, 2]
    flat = [r for p in pages for r in p]
    assert flat == everything  # same rows, same order (id DESC)
    exact = get_runs(cinder, exp_id, limit=6)
    assert len(exact["data"]) == 6 and exact["next_cursor"] is None
    assert cinder.get(f"/v1/experiments/{exp_id}/runs", params={"limit": 0}).status_code == 422


def test_dry_run_records_nothing(client, cinder):
    ds = make_dataset(client, 3)
    ran = run_experiment(client, ds, dry_run=2, evaluators=[exact_match])
    assert ran["experiment_id"] == "DRY_RUN"
    assert len(ran["task_runs"]) == 2
    assert len(ran["evaluation_runs"]) == 2
    inputs = {ex_id(e): e["input"] for e in ds.examples}
    assert len({r["dataset_example_id"] for r in ran["task_runs"]}) == 2
    for r in ran["task_runs"]:
        a = inputs[r["dataset_example_id"]]["a"]
        assert r["output"] == {"sum": 11 * a}
    assert client.experiments.list(dataset_id=ds.id) == []


def test_experiment_on_earlier_dataset_version(client, cinder):
    ds = make_dataset(client, 2)
    v1 = ds.version_id
    extra = {"input": {"question": "3 + 30", "a": 3, "b": 30}, "output": {"answer": 33},
             "metadata": {"idx": 3, "topic": "addition"}}
    latest = client.datasets.add_examples_to_dataset(dataset=ds.id, examples=[extra])
    assert latest.version_id != v1
    assert len(latest.examples) == 3
    old = client.datasets.get_dataset(dataset=ds.id, version_id=v1)
    assert old.version_id == v1 and len(old.examples) == 2

    ran_old = run_experiment(client, old)
    ran_new = run_experiment(client, latest)
    exp_old = client.experiments.get(experiment_id=ran_old["experiment_id"])
    exp_new = client.experiments.get(experiment_id=ran_new["experiment_id"])
    assert (exp_old["dataset_version_id"], exp_old["example_count"], exp_old["successful_run_count"]) == (v1, 2, 2)
    assert (exp_new["dataset_version_id"], exp_new["example_count"], exp_new["successful_run_count"]) == (
        latest.version_id, 3, 3)
    assert len(get_json_export(cinder, ran_old["experiment_id"])) == 2
    assert len(get_json_export(cinder, ran_new["experiment_id"])) == 3
    # An explicit version_id on create pins the version too.
    r = cinder.post(f"/v1/datasets/{ds.id}/experiments", json={"version_id": v1, "name": unique_name("pinned")})
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["dataset_version_id"], r.json()["data"]["example_count"]) == (v1, 2)
    r = cinder.post(f"/v1/datasets/{ds.id}/experiments", json={"version_id": gid("DatasetVersion", UNKNOWN_ROWID)})
    assert r.status_code == 404, r.text


# --------------------------------------------------------------------------------------------------
# Failures, resume and incomplete runs
# --------------------------------------------------------------------------------------------------


def test_failed_runs_then_resume_experiment(client, cinder):
    ds = make_dataset(client, 3)
    by_a = examples_by_a(ds)
    ran = run_experiment(client, ds, task=flaky_task, repetitions=2, retries=0)
    exp_id = ran["experiment_id"]

    runs = all_runs(cinder, exp_id)
    assert len(runs) == 6
    failed = [r for r in runs if r["error"] is not None]
    assert sorted((r["dataset_example_id"], r["repetition_number"]) for r in failed) == [
        (ex_id(by_a[2]), 1), (ex_id(by_a[2]), 2)]
    for r in failed:
        assert "cannot add two" in r["error"] and "RuntimeError" in r["error"]
        assert r["output"] is None
    exp = client.experiments.get(experiment_id=exp_id)
    assert (exp["successful_run_count"], exp["failed_run_count"], exp["missing_run_count"]) == (4, 2, 0)

    r = cinder.get(f"/v1/experiments/{exp_id}/incomplete-runs")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None
    assert len(body["data"]) == 1
    item = body["data"][0]
    assert item["repetition_numbers"] == [1, 2]
    example = item["dataset_example"]
    assert ex_id(example) == ex_id(by_a[2])
    assert (example["input"], example["output"], example["metadata"]) == (
        by_a[2]["input"], by_a[2]["output"], by_a[2]["metadata"])
    assert_iso(example["updated_at"])

    ids_before = {(r["dataset_example_id"], r["repetition_number"]): r["id"] for r in runs}
    client.experiments.resume_experiment(experiment_id=exp_id, task=add_task, print_summary=False)

    runs = all_runs(cinder, exp_id)
    assert len(runs) == 6  # failed runs are replaced in place, not duplicated
    assert {(r["dataset_example_id"], r["repetition_number"]): r["id"] for r in runs} == ids_before
    for r in runs:
        a = next(a for a, e in by_a.items() if ex_id(e) == r["dataset_example_id"])
        assert r["error"] is None and r["output"] == {"sum": 11 * a}
    exp = client.experiments.get(experiment_id=exp_id)
    assert (exp["successful_run_count"], exp["failed_run_count"], exp["missing_run_count"]) == (6, 0, 0)
    body = cinder.get(f"/v1/experiments/{exp_id}/incomplete-runs").json()
    assert body == {"data": [], "next_cursor": None}


def test_create_without_running_then_resume(client, cinder):
    ds = make_dataset(client, 3)
    by_a = examples_by_a(ds)
    name = unique_name("planned")
    exp = client.experiments.create(dataset_id=ds.id, experiment_name=name, experiment_description="planned run",
                                    experiment_metadata={"planned": True}, repetitions=2)
    exp_id = exp["id"]
    rowid(exp_id, "Experiment")
    assert set(exp) >= EXPERIMENT_KEYS
    assert {k: exp[k] for k in ("name", "description", "metadata", "repetitions", "dataset_id",
                                "dataset_version_id", "example_count", "successful_run_count",
                                "failed_run_count", "missing_run_count")} == {
        "name": name, "description": "planned run", "metadata": {"planned": True}, "repetitions": 2,
        "dataset_id": ds.id, "dataset_version_id": ds.version_id, "example_count": 3,
        "successful_run_count": 0, "failed_run_count": 0, "missing_run_count": 6}
    assert client.experiments.get(experiment_id=exp_id) == exp
    assert get_runs(cinder, exp_id) == {"data": [], "next_cursor": None}
    # No runs yet: the JSON download is a 404 ("Experiment has no runs"); get_experiment copes.
    assert cinder.get(f"/v1/experiments/{exp_id}/json").status_code == 404
    assert client.experiments.get_experiment(experiment_id=exp_id)["task_runs"] == []

    # Incomplete runs: every example, both repetitions, in example order, paginated by example.
    ordered = sorted(ds.examples, key=lambda e: rowid(ex_id(e), "DatasetExample"))
    r = cinder.get(f"/v1/experiments/{exp_id}/incomplete-runs", params={"limit": 2})
    assert r.status_code == 200, r.text
    page1 = r.json()
    assert [ex_id(i["dataset_example"]) for i in page1["data"]] == [ex_id(e) for e in ordered[:2]]
    assert [i["repetition_numbers"] for i in page1["data"]] == [[1, 2], [1, 2]]
    assert page1["next_cursor"]
    page2 = cinder.get(f"/v1/experiments/{exp_id}/incomplete-runs",
                       params={"limit": 2, "cursor": page1["next_cursor"]}).json()
    assert [ex_id(i["dataset_example"]) for i in page2["data"]] == [ex_id(ordered[2])]
    assert page2["next_cursor"] is None

    # One run logged by hand: only the other repetition of that example stays incomplete.
    t0 = datetime.now(timezone.utc)
    manual = client.experiments.log_run(experiment_id=exp_id, dataset_example_id=ex_id(by_a[1]),
                                        output={"sum": 11, "by": "hand"}, start_time=t0,
                                        end_time=t0 + timedelta(milliseconds=5), repetition_number=2)
    rowid(manual["id"], "ExperimentRun")
    items = cinder.get(f"/v1/experiments/{exp_id}/incomplete-runs").json()["data"]
    assert {ex_id(i["dataset_example"]): i["repetition_numbers"] for i in items} == {
        ex_id(by_a[1]): [1], ex_id(by_a[2]): [1, 2], ex_id(by_a[3]): [1, 2]}
    got = client.experiments.get(experiment_id=exp_id)
    assert (got["successful_run_count"], got["missing_run_count"]) == (1, 5)

    client.experiments.resume_experiment(experiment_id=exp_id, task=add_task, print_summary=False)
    runs = all_runs(cinder, exp_id)
    assert len(runs) == 6
    outputs = {(r["dataset_example_id"], r["repetition_number"]): r["output"] for r in runs}
    assert outputs[(ex_id(by_a[1]), 2)] == {"sum": 11, "by": "hand"}  # the logged run was kept
    for a in (1, 2, 3):
        assert outputs[(ex_id(by_a[a]), 1)] == {"sum": 11 * a}
    got = client.experiments.get(experiment_id=exp_id)
    assert (got["successful_run_count"], got["failed_run_count"], got["missing_run_count"]) == (6, 0, 0)
    assert cinder.get(f"/v1/experiments/{exp_id}/incomplete-runs").json() == {"data": [], "next_cursor": None}


def test_evaluate_later_and_resume_evaluation(client, cinder):
    ds = make_dataset(client, 3)
    by_a = examples_by_a(ds)
    ran = run_experiment(client, ds)
    exp_id = ran["experiment_id"]
    assert ran["evaluation_runs"] == []
    runs = sorted(all_runs(cinder, exp_id), key=lambda r: rowid(r["id"], "ExperimentRun"))

    body = incomplete_evaluations(cinder, exp_id, ["exact_match"])
    assert body["next_cursor"] is None
    assert [i["experiment_run"]["id"] for i in body["data"]] == [r["id"] for r in runs]  # run id ASC
    for item, run in zip(body["data"], runs):
        assert item["evaluation_names"] == ["exact_match"]
        assert item["experiment_run"]["output"] == run["output"]
        assert item["experiment_run"]["dataset_example_id"] == run["dataset_example_id"]
        assert ex_id(item["dataset_example"]) == run["dataset_example_id"]
        a = item["dataset_example"]["input"]["a"]
        assert item["dataset_example"]["output"] == by_a[a]["output"]
    page = incomplete_evaluations(cinder, exp_id, ["exact_match"], limit=2)
    assert len(page["data"]) == 2 and page["next_cursor"]
    rest = incomplete_evaluations(cinder, exp_id, ["exact_match"], limit=2, cursor=page["next_cursor"])
    assert [i["experiment_run"]["id"] for i in page["data"] + rest["data"]] == [r["id"] for r in runs]
    assert rest["next_cursor"] is None
    r = cinder.get(f"/v1/experiments/{exp_id}/incomplete-evaluations")
    assert r.status_code == 400, r.text  # at least one evaluation_name is required

    experiment = client.experiments.get_experiment(experiment_id=exp_id)
    assert experiment["evaluation_runs"] == []
    evaluated = client.experiments.evaluate_experiment(experiment=experiment, evaluators=[exact_match],
                                                       print_summary=False)
    assert len(evaluated["evaluation_runs"]) == 3
    assert all(e.error is None and rowid(e.id, "ExperimentEvaluation") for e in evaluated["evaluation_runs"])
    assert incomplete_evaluations(cinder, exp_id, ["exact_match"]) == {"data": [], "next_cursor": None}
    both = incomplete_evaluations(cinder, exp_id, ["exact_match", "parity"])["data"]
    assert [i["evaluation_names"] for i in both] == [["parity"]] * 3

    def broken(output):
        raise ValueError("evaluator is down")

    client.experiments.evaluate_experiment(experiment=experiment, evaluators={"quality": broken}, print_summary=False)
    failed = incomplete_evaluations(cinder, exp_id, ["quality", "exact_match"])["data"]
    assert [i["evaluation_names"] for i in failed] == [["quality"]] * 3  # a failed evaluation is incomplete
    export = get_json_export(cinder, exp_id)
    quality = [a for rec in export for a in rec["annotations"] if a["name"] == "quality"]
    assert len(quality) == 3
    assert all("evaluator is down" in a["error"] and a["score"] is None and a["label"] is None for a in quality)

    def quality_ok(output):
        return {"score": 0.75, "label": "ok", "explanation": f"sum {output['sum']}"}

    client.experiments.resume_evaluation(experiment_id=exp_id, evaluators={"quality": quality_ok, "parity": parity},
                                         print_summary=False)
    assert incomplete_evaluations(cinder, exp_id, ["exact_match", "parity", "quality"]) == {
        "data": [], "next_cursor": None}

    final = client.experiments.get_experiment(experiment_id=exp_id)
    assert len(final["evaluation_runs"]) == 9  # upserted per (run, name): no duplicates
    for run in runs:
        mine = {e.name: e for e in final["evaluation_runs"] if e.experiment_run_id == run["id"]}
        assert set(mine) == {"exact_match", "parity", "quality"}
        s = run["output"]["sum"]
        assert dict(mine["quality"].result) == {"score": 0.75, "label": "ok", "explanation": f"sum {s}"}
        assert mine["quality"].error is None
        assert dict(mine["exact_match"].result) == {"score": 1.0, "label": "True", "explanation": None}
        assert mine["parity"].result["label"] == ("even" if s % 2 == 0 else "odd")


def test_log_run_and_log_evaluation(client, cinder):
    ds = make_dataset(client, 2)
    by_a = examples_by_a(ds)
    exp = client.experiments.create(dataset_id=ds.id, experiment_name=unique_name("manual"))
    exp_id = exp["id"]
    t0 = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
    t1 = t0 + timedelta(milliseconds=250)
    trace_id = "ab" * 16

    run = client.experiments.log_run(experiment_id=exp_id, dataset_example_id=ex_id(by_a[1]),
                                     output={"sum": 11}, start_time=t0, end_time=t1, trace_id=trace_id)
    rowid(run["id"], "ExperimentRun")
    (listed,) = all_runs(cinder, exp_id)
    assert listed == {"id": run["id"], "experiment_id": exp_id, "dataset_example_id": ex_id(by_a[1]),
                      "repetition_number": 1, "output": {"sum": 11},
                      "start_time": "2024-01-02T03:04:05.123456+00:00",
                      "end_time": "2024-01-02T03:04:05.373456+00:00", "trace_id": trace_id, "error": None}

    # A successful run is immutable.
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.experiments.log_run(experiment_id=exp_id, dataset_example_id=ex_id(by_a[1]),
                                   output={"sum": 0}, start_time=t0, end_time=t1)
    assert status(e) == 409
    assert all_runs(cinder, exp_id)[0]["output"] == {"sum": 11}

    # A failed run may be re-submitted; the row (and its id) is reused.
    failed = client.experiments.log_run(experiment_id=exp_id, dataset_example_id=ex_id(by_a[2]),
                                        output=None, start_time=t0, end_time=t1, error="Boom('x')")
    got = {r["id"]: r for r in all_runs(cinder, exp_id)}
    assert (got[failed["id"]]["error"], got[failed["id"]]["output"]) == ("Boom('x')", None)
    assert client.experiments.get(experiment_id=exp_id)["failed_run_count"] == 1
    fixed = client.experiments.log_run(experiment_id=exp_id, dataset_example_id=ex_id(by_a[2]),
                                       output="twenty-two", start_time=t0, end_time=t1)
    assert fixed["id"] == failed["id"]
    got = {r["id"]: r for r in all_runs(cinder, exp_id)}
    assert len(got) == 2
    assert (got[fixed["id"]]["error"], got[fixed["id"]]["output"]) == (None, "twenty-two")
    exp = client.experiments.get(experiment_id=exp_id)
    assert (exp["successful_run_count"], exp["failed_run_count"], exp["missing_run_count"]) == (2, 0, 0)

    # Evaluations upsert on (run, name) and keep their id.
    first = client.experiments.log_evaluation(experiment_run_id=run["id"], name="manual", annotator_kind="HUMAN",
                                              start_time=t0, end_time=t1, score=0.25, label="low",
                                              explanation="first pass", metadata={"reviewer": "ann"},
                                              trace_id="cd" * 16)
    rowid(first["id"], "ExperimentEvaluation")
    export = get_json_export(cinder, exp_id)
    ann = next(rec for rec in export if rec["example_id"] == ex_id(by_a[1]))["annotations"]
    assert ann == [{"name": "manual", "annotator_kind": "HUMAN", "label": "low", "score": 0.25,
                    "explanation": "first pass", "trace_id": "cd" * 16, "error": None,
                    "metadata": {"reviewer": "ann"}, "start_time": "2024-01-02T03:04:05.123456+00:00",
                    "end_time": "2024-01-02T03:04:05.373456+00:00"}]
    second = client.experiments.log_evaluation(experiment_run_id=run["id"], name="manual", score=0.9,
                                               label="high", start_time=t1, end_time=t1)
    assert second["id"] == first["id"]
    export = get_json_export(cinder, exp_id)
    ann = next(rec for rec in export if rec["example_id"] == ex_id(by_a[1]))["annotations"]
    assert ann == [{"name": "manual", "annotator_kind": "CODE", "label": "high", "score": 0.9, "explanation": None,
                    "trace_id": None, "error": None, "metadata": {},
                    "start_time": "2024-01-02T03:04:05.373456+00:00",
                    "end_time": "2024-01-02T03:04:05.373456+00:00"}]
    # An error-only evaluation is accepted (result null).
    err = client.experiments.log_evaluation(experiment_run_id=fixed["id"], name="manual", error="judge timed out")
    rowid(err["id"], "ExperimentEvaluation")
    ann = next(rec for rec in get_json_export(cinder, exp_id) if rec["example_id"] == ex_id(by_a[2]))["annotations"]
    assert [(a["name"], a["error"], a["score"], a["label"]) for a in ann] == [
        ("manual", "judge timed out", None, None)]


# --------------------------------------------------------------------------------------------------
# Tags, PATCH, DELETE
# --------------------------------------------------------------------------------------------------


def test_experiment_tags(client, cinder):
    ds = make_dataset(client, 1)
    other_ds = make_dataset(client, 1)
    e1 = client.experiments.create(dataset_id=ds.id, experiment_name=unique_name("tag1"))["id"]
    e2 = client.experiments.create(dataset_id=ds.id, experiment_name=unique_name("tag2"))["id"]
    e3 = client.experiments.create(dataset_id=other_ds.id, experiment_name=unique_name("tag3"))["id"]

    def tags(exp_id: str) -> list[dict]:
        r = cinder.get(f"/v1/experiments/{exp_id}/tags")
        assert r.status_code == 200, r.text
        return r.json()["data"]

    assert tags(e1) == []
    r = cinder.post(f"/v1/experiments/{e1}/tags", json={"name": "candidate", "description": "first pick"})
    assert r.status_code == 200, r.text
    tag = r.json()["data"]
    rowid(tag["id"], "ExperimentTag")
    assert tag == {"id": tag["id"], "name": "candidate", "description": "first pick"}
    assert tags(e1) == [tag]

    # The same name on another dataset's experiment is a different tag.
    r = cinder.post(f"/v1/experiments/{e3}/tags", json={"name": "candidate"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["name"] == "candidate" and r.json()["data"]["description"] is None
    assert r.json()["data"]["id"] != tag["id"]
    assert tags(e1) == [tag]

    # Setting the name on another experiment of the same dataset moves it.
    r = cinder.post(f"/v1/experiments/{e2}/tags", json={"name": "candidate", "description": "second pick"})
    assert r.status_code == 200, r.text
    moved = r.json()["data"]
    assert (moved["name"], moved["description"]) == ("candidate", "second pick")
    assert tags(e1) == []
    assert tags(e2) == [moved]
    assert [t["name"] for t in tags(e3)] == ["candidate"]

    # Re-assigning is idempotent and replaces the description; the list is sorted by name.
    r = cinder.post(f"/v1/experiments/{e2}/tags", json={"name": "candidate", "description": "final"})
    assert r.status_code == 200 and r.json()["data"]["description"] == "final"
    assert cinder.post(f"/v1/experiments/{e2}/tags", json={"name": "alpha-1"}).status_code == 200
    assert [(t["name"], t["description"]) for t in tags(e2)] == [("alpha-1", None), ("candidate", "final")]

    # Deleting from an experiment that does not own the tag is a no-op.
    assert cinder.delete(f"/v1/experiments/{e1}/tags/candidate").status_code == 204
    assert [t["name"] for t in tags(e2)] == ["alpha-1", "candidate"]
    # Delete by name, then by node id; deleting again is still 204.
    assert cinder.delete(f"/v1/experiments/{e2}/tags/alpha-1").status_code == 204
    cand = next(t for t in tags(e2) if t["name"] == "candidate")
    assert cinder.delete(f"/v1/experiments/{e2}/tags/{cand['id']}").status_code == 204
    assert tags(e2) == []
    assert cinder.delete(f"/v1/experiments/{e2}/tags/candidate").status_code == 204
    assert [t["name"] for t in tags(e3)] == ["candidate"]

    # Tag names are identifiers: ^[a-z0-9]([_a-z0-9-]*[a-z0-9])?$
    for bad in ("Has Space", "UPPER", "-lead", "trail-", ""):
        r = cinder.post(f"/v1/experiments/{e1}/tags", json={"name": bad})
        assert r.status_code == 422, (bad, r.text)
    assert cinder.post(f"/v1/experiments/{e1}/tags", json={}).status_code == 422
    assert tags(e1) == []

    missing = gid("Experiment", UNKNOWN_ROWID)
    assert cinder.get(f"/v1/experiments/{missing}/tags").status_code == 404
    assert cinder.post(f"/v1/experiments/{missing}/tags", json={"name": "x"}).status_code == 404
    assert cinder.delete(f"/v1/experiments/{missing}/tags/x").status_code == 404

    # Tags go with their experiment.
    assert cinder.post(f"/v1/experiments/{e1}/tags", json={"name": "doomed"}).status_code == 200
    client.experiments.delete(experiment_id=e1)
    assert cinder.post(f"/v1/experiments/{e2}/tags", json={"name": "doomed"}).json()["data"]["name"] == "doomed"
    assert [t["name"] for t in tags(e2)] == ["doomed"]


def test_patch_experiment(client, cinder):
    ds = make_dataset(client, 2)
    ran = run_experiment(client, ds, experiment_name="before", experiment_description="old description",
                         experiment_metadata={"a": 1, "b": 2})
    exp_id = ran["experiment_id"]
    before = client.experiments.get(experiment_id=exp_id)

    r = patch(cinder, f"/v1/experiments/{exp_id}", json={"name": "after"})
    assert r.status_code == 200, r.text
    after = r.json()["data"]
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        **{k: v for k, v in before.items() if k != "updated_at"}, "name": "after"}
    assert assert_iso(after["updated_at"]) >= assert_iso(before["updated_at"])
    assert client.experiments.get(experiment_id=exp_id)["name"] == "after"

    # metadata replaces the whole object; description is untouched when omitted.
    r = patch(cinder, f"/v1/experiments/{exp_id}", json={"metadata": {"c": [1, 2, 3]}})
    assert r.status_code == 200, r.text
    got = client.experiments.get(experiment_id=exp_id)
    assert (got["name"], got["description"], got["metadata"]) == ("after", "old description", {"c": [1, 2, 3]})

    # null clears the description.
    r = patch(cinder, f"/v1/experiments/{exp_id}", json={"description": None})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["description"] is None
    r = patch(cinder, f"/v1/experiments/{exp_id}", json={"description": "new", "name": "renamed"})
    assert r.status_code == 200, r.text
    got = client.experiments.get(experiment_id=exp_id)
    assert (got["name"], got["description"], got["metadata"]) == ("renamed", "new", {"c": [1, 2, 3]})
    # Runs and counts are unaffected.
    assert (got["successful_run_count"], got["example_count"]) == (2, 2)

    # name and metadata cannot be null; an empty patch is rejected.
    assert patch(cinder, f"/v1/experiments/{exp_id}", json={"name": None}).status_code == 422
    assert patch(cinder, f"/v1/experiments/{exp_id}", json={"metadata": None}).status_code == 422
    assert patch(cinder, f"/v1/experiments/{exp_id}", json={"metadata": [1, 2]}).status_code == 422
    assert patch(cinder, f"/v1/experiments/{exp_id}", json={}).status_code == 422
    got = client.experiments.get(experiment_id=exp_id)
    assert (got["name"], got["description"], got["metadata"]) == ("renamed", "new", {"c": [1, 2, 3]})
    r = patch(cinder, f"/v1/experiments/{gid('Experiment', UNKNOWN_ROWID)}", json={"name": "x"})
    assert r.status_code == 404, r.text


def test_delete_experiment(client, cinder):
    ds = make_dataset(client, 2)
    keep = run_experiment(client, ds, evaluators=[exact_match])
    doomed = run_experiment(client, ds, evaluators=[exact_match])
    doomed_id = doomed["experiment_id"]
    project = client.experiments.get(experiment_id=doomed_id)["project_name"]

    client.experiments.delete(experiment_id=doomed_id)
    with pytest.raises(ValueError):
        client.experiments.get(experiment_id=doomed_id)
    assert cinder.get(f"/v1/experiments/{doomed_id}").status_code == 404
    assert cinder.get(f"/v1/experiments/{doomed_id}/json").status_code == 404
    assert cinder.get(f"/v1/experiments/{doomed_id}/incomplete-runs").status_code == 404
    with pytest.raises(ValueError):
        client.experiments.delete(experiment_id=doomed_id)
    assert [e["id"] for e in client.experiments.list(dataset_id=ds.id)] == [keep["experiment_id"]]
    # Runs and evaluations of the other experiment are untouched.
    assert len(all_runs(cinder, keep["experiment_id"])) == 2
    assert len(client.experiments.get_experiment(experiment_id=keep["experiment_id"])["evaluation_runs"]) == 2
    # Without delete_project the experiment's project (and its task spans) stays.
    assert cinder.get(f"/v1/projects/{project}").status_code == 200

    other = run_experiment(client, ds)
    other_project = client.experiments.get(experiment_id=other["experiment_id"])["project_name"]
    assert cinder.get(f"/v1/projects/{other_project}").status_code == 200
    client.experiments.delete(experiment_id=other["experiment_id"], delete_project=True)
    assert cinder.get(f"/v1/projects/{other_project}").status_code == 404
    assert cinder.get(f"/v1/projects/{project}").status_code == 200


# --------------------------------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------------------------------


def test_json_export(client, cinder):
    ds = make_dataset(client, 2)
    by_a = examples_by_a(ds)
    name = unique_name("json-exp")
    ran = run_experiment(client, ds, experiment_name=name, evaluators=[exact_match, graded], repetitions=2)
    exp_id = ran["experiment_id"]
    runs = {(r["dataset_example_id"], r["repetition_number"]): r for r in all_runs(cinder, exp_id)}

    r = cinder.get(f"/v1/experiments/{exp_id}/json")
    assert r.status_code == 200, r.text
    disposition = r.headers.get("content-disposition", "")
    assert disposition.startswith("attachment") and f'filename="{name}.json"' in disposition, disposition
    records = json.loads(r.text)
    assert len(records) == 4
    ordered = sorted(ds.examples, key=lambda e: rowid(ex_id(e), "DatasetExample"))
    assert [(rec["example_id"], rec["repetition_number"]) for rec in records] == [
        (ex_id(e), rep) for e in ordered for rep in (1, 2)]
    for rec in records:
        run = runs[(rec["example_id"], rec["repetition_number"])]
        a = rec["input"]["a"]
        assert set(rec) == {"example_id", "repetition_number", "input", "reference_output", "output", "error",
                            "latency_ms", "start_time", "end_time", "trace_id", "prompt_token_count",
                            "completion_token_count", "annotations"}
        assert rec["input"] == by_a[a]["input"]
        assert rec["reference_output"] == by_a[a]["output"]
        assert rec["output"] == run["output"] == {"sum": 11 * a}
        assert rec["error"] is None
        assert rec["trace_id"] == run["trace_id"]
        assert assert_iso(rec["start_time"]) == assert_iso(run["start_time"])
        assert assert_iso(rec["end_time"]) == assert_iso(run["end_time"])
        elapsed = (assert_iso(run["end_time"]) - assert_iso(run["start_time"])).total_seconds() * 1000
        assert rec["latency_ms"] == pytest.approx(elapsed, abs=0.01)
        assert rec["prompt_token_count"] is None and rec["completion_token_count"] is None
        anns = {x["name"]: x for x in rec["annotations"]}
        assert set(anns) == {"exact_match", "graded"} and len(rec["annotations"]) == 2
        for n, x in anns.items():
            assert {k: x[k] for k in ("score", "label", "explanation")} == expected_eval(n, a)
            assert (x["annotator_kind"], x["error"], x["metadata"]) == ("CODE", None, {})
            assert re.fullmatch(r"[0-9a-f]{32}", x["trace_id"]), x["trace_id"]
            assert assert_iso(x["start_time"]) <= assert_iso(x["end_time"])


def test_csv_export(client, cinder):
    ds = make_dataset(client, 2)
    by_a = examples_by_a(ds)
    name = unique_name("csv-exp")
    ran = run_experiment(client, ds, experiment_name=name, evaluators=[exact_match, parity])
    exp_id = ran["experiment_id"]
    runs = {r["dataset_example_id"]: r for r in all_runs(cinder, exp_id)}

    r = cinder.get(f"/v1/experiments/{exp_id}/csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv"), r.headers["content-type"]
    disposition = r.headers.get("content-disposition", "")
    assert disposition.startswith("attachment") and f'filename="{name}.csv"' in disposition, disposition
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert len(rows) == 2
    header = list(rows[0].keys())
    assert header[:13] == ["example_id", "repetition_number", "input", "reference_output", "output", "metadata",
                           "error", "latency_ms", "start_time", "end_time", "trace_id", "prompt_token_count",
                           "completion_token_count"]
    fields = ("label", "score", "explanation", "metadata", "annotator_kind", "trace_id", "error", "start_time",
              "end_time")
    assert sorted(header[13:]) == sorted(f"annotation_{n}_{f}" for n in ("exact_match", "parity") for f in fields)
    ordered = sorted(ds.examples, key=lambda e: rowid(ex_id(e), "DatasetExample"))
    assert [row["example_id"] for row in rows] == [ex_id(e) for e in ordered]
    for row in rows:
        run = runs[row["example_id"]]
        a = json.loads(row["input"])["a"]
        assert row["repetition_number"] == "1"
        assert json.loads(row["input"]) == by_a[a]["input"]
        assert json.loads(row["reference_output"]) == by_a[a]["output"]
        assert json.loads(row["output"]) == {"sum": 11 * a}
        assert json.loads(row["metadata"]) == by_a[a]["metadata"]
        assert row["error"] == ""
        assert row["trace_id"] == run["trace_id"]
        assert assert_iso(row["start_time"]) == assert_iso(run["start_time"])
        assert assert_iso(row["end_time"]) == assert_iso(run["end_time"])
        elapsed = (assert_iso(run["end_time"]) - assert_iso(run["start_time"])).total_seconds() * 1000
        assert float(row["latency_ms"]) == pytest.approx(elapsed, abs=0.01)
        assert (row["prompt_token_count"], row["completion_token_count"]) == ("", "")
        assert float(row["annotation_exact_match_score"]) == 1.0
        assert row["annotation_exact_match_label"] == "True"
        assert row["annotation_exact_match_explanation"] == ""
        assert row["annotation_parity_label"] == ("even" if (11 * a) % 2 == 0 else "odd")
        assert row["annotation_parity_score"] == ""
        assert row["annotation_parity_annotator_kind"] == "CODE"
        assert json.loads(row["annotation_parity_metadata"]) == {}
        assert row["annotation_parity_error"] == ""
        assert re.fullmatch(r"[0-9a-f]{32}", row["annotation_exact_match_trace_id"])
        assert_iso(row["annotation_exact_match_start_time"])


# --------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------


def test_unknown_ids(client, cinder):
    missing_exp = gid("Experiment", UNKNOWN_ROWID)
    missing_ds = gid("Dataset", UNKNOWN_ROWID)
    with pytest.raises(ValueError):
        client.experiments.get(experiment_id=missing_exp)
    with pytest.raises(ValueError):
        client.experiments.get_experiment(experiment_id=missing_exp)
    with pytest.raises(ValueError):
        client.experiments.delete(experiment_id=missing_exp)
    for path in ("", "/json", "/csv", "/incomplete-runs", "/tags"):
        r = cinder.get(f"/v1/experiments/{missing_exp}{path}")
        assert r.status_code == 404, (path, r.status_code, r.text)
    r = cinder.get(f"/v1/experiments/{missing_exp}/incomplete-evaluations", params={"evaluation_name": "x"})
    assert r.status_code == 404, r.text
    assert cinder.delete(f"/v1/experiments/{missing_exp}").status_code == 404
    # A node id of another type is not an experiment either.
    assert cinder.get(f"/v1/experiments/{gid('Dataset', 1)}").status_code == 404
    # An id that is not a node id at all.
    assert cinder.get("/v1/experiments/not-a-node-id").status_code == 422
    # Phoenix lists runs without checking that the experiment exists (an empty page); a 404 is also accepted.
    r = cinder.get(f"/v1/experiments/{missing_exp}/runs")
    assert r.status_code in (200, 404), r.text
    if r.status_code == 200:
        assert r.json() == {"data": [], "next_cursor": None}

    now = datetime.now(timezone.utc).isoformat()
    ds = make_dataset(client, 1)
    run = {"dataset_example_id": ex_id(ds.examples[0]), "output": {"x": 1}, "repetition_number": 1,
           "start_time": now, "end_time": now}
    r = cinder.post(f"/v1/experiments/{missing_exp}/runs", json=run)
    assert r.status_code == 404, r.text
    r = cinder.post("/v1/experiment_evaluations", json={
        "experiment_run_id": gid("ExperimentRun", UNKNOWN_ROWID), "name": "x", "annotator_kind": "CODE",
        "start_time": now, "end_time": now, "result": {"score": 1.0}})
    assert r.status_code == 404, r.text
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.experiments.create(dataset_id=missing_ds, experiment_name="nope")
    assert status(e) == 404
    # Listing experiments of a dataset that does not exist is an empty page (Phoenix does not check the dataset).
    r = cinder.get(f"/v1/datasets/{missing_ds}/experiments")
    assert r.status_code == 200, r.text
    assert r.json() == {"data": [], "next_cursor": None}


def test_invalid_bodies_are_422(client, cinder):
    ds = make_dataset(client, 1)
    example = ex_id(ds.examples[0])
    exp_id = client.experiments.create(dataset_id=ds.id, experiment_name=unique_name("bad"))["id"]
    now = datetime.now(timezone.utc).isoformat()
    good = {"dataset_example_id": example, "output": {"x": 1}, "repetition_number": 1,
            "start_time": now, "end_time": now}
    url = f"/v1/experiments/{exp_id}/runs"

    assert_validation_error(cinder.post(url, json={}), ("body", "dataset_example_id"), ("body", "output"),
                            ("body", "repetition_number"), ("body", "start_time"), ("body", "end_time"))
    assert_validation_error(cinder.post(url, json={k: v for k, v in good.items() if k != "output"}),
                            ("body", "output"))
    assert_validation_error(cinder.post(url, json={**good, "repetition_number": 0}), ("body", "repetition_number"))
    assert_validation_error(cinder.post(url, json={**good, "repetition_number": "first"}),
                            ("body", "repetition_number"))
    assert_validation_error(cinder.post(url, json={**good, "start_time": "yesterday"}), ("body", "start_time"))
    assert_validation_error(cinder.post(url, json={**good, "error": 42}), ("body", "error"))
    r = cinder.post(url, data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert all_runs(cinder, exp_id) == []

    # The same body with valid fields is accepted (extra fields such as the client's "id" are ignored).
    r = cinder.post(url, json={**good, "id": "temp-1234", "experiment_id": exp_id})
    assert r.status_code == 200, r.text
    run_id = r.json()["data"]["id"]
    rowid(run_id, "ExperimentRun")

    ev = {"experiment_run_id": run_id, "name": "judge", "annotator_kind": "CODE", "start_time": now,
          "end_time": now, "result": {"score": 1.0}}
    assert_validation_error(cinder.post("/v1/experiment_evaluations", json={**ev, "annotator_kind": "ROBOT"}),
                            ("body", "annotator_kind"))
    assert_validation_error(cinder.post("/v1/experiment_evaluations",
                                        json={k: v for k, v in ev.items() if k != "name"}), ("body", "name"))
    assert_validation_error(cinder.post("/v1/experiment_evaluations", json={**ev, "end_time": "later"}),
                            ("body", "end_time"))
    r = cinder.post("/v1/experiment_evaluations", json={**ev, "result": {"score": "high"}})
    assert r.status_code == 422, r.text
    r = cinder.post("/v1/experiment_evaluations", json=ev)
    assert r.status_code == 200, r.text
    rowid(r.json()["data"]["id"], "ExperimentEvaluation")

    r = cinder.post(f"/v1/datasets/{ds.id}/experiments", json={"metadata": "not an object"})
    assert_validation_error(r, ("body", "metadata"))
    r = cinder.post(f"/v1/datasets/{ds.id}/experiments", json={"repetitions": "many"})
    assert_validation_error(r, ("body", "repetitions"))
    # Without a name the server generates one.
    r = cinder.post(f"/v1/datasets/{ds.id}/experiments", json={})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["name"] and r.json()["data"]["repetitions"] == 1


def test_run_for_example_outside_the_dataset(client, cinder):
    """POST /v1/experiments/{id}/runs documents 404 "Experiment or dataset example not found".

    Phoenix 20.26.1 answers 404 when dataset_example_id is not a DatasetExample node id
    (from_global_id_with_expected_type fails). For a DatasetExample id that does not exist the spec's 404 is
    asserted. Phoenix does not check that an existing example belongs to the experiment's dataset (it
    stores the run); such a run never shows in the downloads, which join the experiment's dataset version.
    Cinder may reject it with 404 instead; both are accepted here.
    """
    ds = make_dataset(client, 2)
    other = make_dataset(client, 1)
    exp_id = client.experiments.create(dataset_id=ds.id, experiment_name=unique_name("outside"))["id"]
    now = datetime.now(timezone.utc).isoformat()

    def post(example_id: str) -> requests.Response:
        return cinder.post(f"/v1/experiments/{exp_id}/runs", json={
            "dataset_example_id": example_id, "output": "x", "repetition_number": 1,
            "start_time": now, "end_time": now})

    assert post(gid("Dataset", rowid(ds.id, "Dataset"))).status_code == 404  # wrong node type
    assert post(exp_id).status_code == 404
    assert post(gid("DatasetExample", UNKNOWN_ROWID)).status_code == 404  # no such example
    assert all_runs(cinder, exp_id) == []

    r = post(ex_id(other.examples[0]))  # an example of another dataset
    assert r.status_code in (200, 404), r.text
    runs = all_runs(cinder, exp_id)
    if r.status_code == 200:
        assert [x["dataset_example_id"] for x in runs] == [ex_id(other.examples[0])]
        assert cinder.get(f"/v1/experiments/{exp_id}/json").status_code == 404  # no run of this dataset
    else:
        assert runs == []
    # The experiment's own examples are still all incomplete.
    items = cinder.get(f"/v1/experiments/{exp_id}/incomplete-runs").json()["data"]
    assert sorted(ex_id(i["dataset_example"]) for i in items) == sorted(ex_id(e) for e in ds.examples)
