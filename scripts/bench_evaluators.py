#!/usr/bin/env python3
"""Evaluator benchmark: server-side experiments run by `cinder serve` (release build, its own runner) against
the fake OpenAI server of the tests, with evaluators attached to the dataset, measuring

1. the code evaluator's cost per call in the sandbox: p50/p95 of each evaluation's own duration (the
   annotation's start to end: sandbox start-up, the call, the answer read back), one run at a time and at
   concurrency 8, for a trivial evaluator;
2. built-in evaluator throughput: the four built-ins that run in place on every run, evaluations/s and
   Cinder CPU per evaluation beyond the same experiment without evaluators (and p50/p95 of each
   evaluation's duration); and the `regex` built-in, which runs in the sandbox, per call like (1).

Usage: scripts/bench-evaluators.sh  (starts the server; this script gets its URL, pid and socket directory)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_runner import cpu_seconds  # noqa: E402
from fake_llm import FakeLLM  # noqa: E402
from phoenix.client import Client  # noqa: E402

PROMPT = {"model_provider": "OPENAI", "model_name": "gpt-4o-mini", "template_type": "CHAT", "template_format": "MUSTACHE",
          "template": {"type": "chat", "messages": [{"role": "user", "content": "{{question}}"}]},
          "invocation_parameters": {"type": "openai", "openai": {"temperature": 0.0}}}


def graphql(url: str, query: str, **variables) -> dict:
    body = requests.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60).json()
    assert not body.get("errors"), body
    return body["data"]


def dataset(client: Client, n: int):
    return client.datasets.create_dataset(
        name=f"bench-eval-{n}-{time.time_ns()}",
        examples=[{"input": {"question": f"question number {i}"}, "output": {"answer": f"echo: question number {i}"}} for i in range(n)])


def experiment(url: str, pid: int, ds, concurrency: int) -> tuple[str, float, float]:
    """Runs the prompt over `ds`; returns the experiment id, its seconds (job timestamps) and Cinder's CPU seconds."""
    cpu0 = cpu_seconds(pid)
    r = requests.post(f"{url}/v1/experiment_jobs", json={"dataset_id": ds.id, "prompt": PROMPT, "max_concurrency": concurrency}, timeout=60)
    r.raise_for_status()
    experiment_id = r.json()["data"]["experiment_id"]
    while True:
        job = requests.get(f"{url}/v1/experiment_jobs/{experiment_id}", timeout=60).json()["data"]
        if job["status"] != "RUNNING":
            break
        time.sleep(0.5)
    assert job["status"] == "COMPLETED", job
    elapsed = (datetime.fromisoformat(job["updated_at"]) - datetime.fromisoformat(job["created_at"])).total_seconds()
    return experiment_id, elapsed, cpu_seconds(pid) - cpu0


def durations_ms(socket_dir: str, experiment_id: str, name_like: str = "%") -> list[float]:
    import base64
    row = base64.b64decode(experiment_id).decode().split(":")[1]
    out = subprocess.run(["psql", "-h", socket_dir, "-U", "postgres", "-d", "cinder", "-tAc", f"""
        SELECT extract(epoch FROM a.end_time - a.start_time) * 1000, a.error IS NULL FROM experiment_run_annotations a
        JOIN experiment_runs r ON r.id = a.experiment_run_id WHERE r.experiment_id = {row} AND a.name LIKE '{name_like}'"""],
                         check=True, capture_output=True, text=True).stdout.split()
    values = [line.split("|") for line in out]
    assert all(ok == "t" for _, ok in values), "an evaluation failed"
    return sorted(float(ms) for ms, _ in values)


def percentile(values: list[float], p: float) -> float:
    return round(values[min(len(values) - 1, int(len(values) * p))], 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--socket-dir", required=True)
    parser.add_argument("--examples", type=int, default=400)
    args = parser.parse_args()
    url = args.url
    fake = FakeLLM(api_keys=("sk-bench",)).start()
    requests.put(f"{url}/v1/secrets", json={"secrets": [
        {"key": "OPENAI_API_KEY", "value": "sk-bench"}, {"key": "OPENAI_BASE_URL", "value": fake.url + "/v1"}]}, timeout=60).raise_for_status()
    client = Client(base_url=url)

    # 1. A trivial code evaluator, in the sandbox.
    code = graphql(url, "mutation($input: CreateCodeEvaluatorInput!) { createCodeEvaluator(input: $input) { evaluator { id } } }",
                   input={"name": f"trivial-{time.time_ns()}", "language": "PYTHON",
                          "sourceCode": "def evaluate(output, expected):\n    return output == expected['answer']\n"})["createCodeEvaluator"]["evaluator"]["id"]
    for concurrency in (1, 8):
        ds = dataset(client, args.examples)
        graphql(url, "mutation($input: CreateDatasetCodeEvaluatorInput!) { createDatasetCodeEvaluator(input: $input) { evaluator { id } } }",
                input={"datasetId": ds.id, "evaluatorId": code, "name": "trivial"})
        experiment_id, seconds, cpu = experiment(url, args.pid, ds, concurrency)
        ms = durations_ms(args.socket_dir, experiment_id)
        print(json.dumps({"figure": "code evaluator in the sandbox, per call", "runs": args.examples, "max_concurrency": concurrency,
                          "p50_ms": percentile(ms, 0.5), "p95_ms": percentile(ms, 0.95), "max_ms": round(ms[-1], 2),
                          "runs_per_s": round(args.examples / seconds, 1), "cinder_cpu_s_per_run": round(cpu / args.examples, 5)}))

    # The regex built-in, in the sandbox (Python's re imported on each call), one run at a time.
    builtins = graphql(url, "{ builtInEvaluators { id name } }")["builtInEvaluators"]
    ds = dataset(client, args.examples)
    graphql(url, "mutation($input: CreateDatasetBuiltinEvaluatorInput!) { createDatasetBuiltinEvaluator(input: $input) { evaluator { id } } }",
            input={"datasetId": ds.id, "evaluatorId": next(e["id"] for e in builtins if e["name"] == "regex"), "name": "regex",
                   "inputMapping": {"pathMapping": {}, "literalMapping": {"pattern": "number \\d+"}}})
    experiment_id, seconds, cpu = experiment(url, args.pid, ds, 1)
    ms = durations_ms(args.socket_dir, experiment_id)
    print(json.dumps({"figure": "regex built-in in the sandbox, per call", "runs": args.examples, "max_concurrency": 1,
                      "p50_ms": percentile(ms, 0.5), "p95_ms": percentile(ms, 0.95), "max_ms": round(ms[-1], 2)}))

    # 2. The built-ins that run in place: the same experiment without evaluators, then with all four on every run.
    n = args.examples * 5
    bare = dataset(client, n)
    _, bare_seconds, bare_cpu = experiment(url, args.pid, bare, 8)
    ds = dataset(client, n)
    builtins = [e for e in builtins if e["name"] != "regex"]
    literals = {"contains": {"words": "question"}}
    for evaluator in builtins:
        graphql(url, "mutation($input: CreateDatasetBuiltinEvaluatorInput!) { createDatasetBuiltinEvaluator(input: $input) { evaluator { id } } }",
                input={"datasetId": ds.id, "evaluatorId": evaluator["id"], "name": evaluator["name"],
                       "inputMapping": {"pathMapping": {"expected": "$.reference.answer"}, "literalMapping": literals.get(evaluator["name"], {})}})
    experiment_id, seconds, cpu = experiment(url, args.pid, ds, 8)
    ms = durations_ms(args.socket_dir, experiment_id)
    evaluations = len(ms)
    assert evaluations == n * len(builtins), evaluations
    print(json.dumps({"figure": "built-in evaluators that run in place (all four on every run)", "runs": n, "evaluations": evaluations,
                      "evaluations_per_s": round(evaluations / seconds, 1), "runs_per_s": round(n / seconds, 1),
                      "runs_per_s_without_evaluators": round(n / bare_seconds, 1),
                      "cinder_cpu_us_per_evaluation": round((cpu - bare_cpu) / evaluations * 1e6, 1),
                      "p50_ms": percentile(ms, 0.5), "p95_ms": percentile(ms, 0.95)}))
    fake.stop()


if __name__ == "__main__":
    main()
