#!/usr/bin/env python3
"""Runner benchmark: server-side experiments run by `cinder serve` (release build, its own runner) against
the test suite's fake OpenAI server (Tests/e2e/fake_llm.py), measuring

1. overhead per run with a zero-latency provider: runs/s from the job's start to COMPLETED, and CPU seconds
   per run of the Cinder process, of PostgreSQL and of this process (the fake provider and the polling
   client), which share the machine (every run is a rendered prompt, a streamed call, a run row and its span);
2. scaling with concurrency when the provider takes 200 ms: runs/s at max_concurrency 50 (ideal 250/s).

Usage: scripts/bench-runner.sh  (starts the server; this script gets its URL, pid and socket directory)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "e2e"))
from fake_llm import FakeLLM  # noqa: E402
from phoenix.client import Client  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if "(postgres)" in stat:
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def run(url: str, pid: int, client: Client, fake: FakeLLM, examples: int, concurrency: int, latency: float) -> dict:
    fake.reset()
    fake.latency = latency
    ds = client.datasets.create_dataset(
        name=f"bench-{examples}-{concurrency}-{latency}-{time.time_ns()}",
        examples=[{"input": {"question": f"question number {i}"}, "output": {"answer": "x"}} for i in range(examples)])
    prompt = {"model_provider": "OPENAI", "model_name": "gpt-4o-mini", "template_type": "CHAT", "template_format": "MUSTACHE",
              "template": {"type": "chat", "messages": [{"role": "user", "content": "{{question}}"}]},
              "invocation_parameters": {"type": "openai", "openai": {"temperature": 0.0}}}
    cpu0, fake0, pg0 = cpu_seconds(pid), time.process_time(), postgres_cpu_seconds()
    r = requests.post(f"{url}/v1/experiment_jobs", json={"dataset_id": ds.id, "prompt": prompt, "max_concurrency": concurrency}, timeout=60)
    r.raise_for_status()
    experiment = r.json()["data"]["experiment_id"]
    while True:
        job = requests.get(f"{url}/v1/experiment_jobs/{experiment}", timeout=60).json()["data"]
        if job["status"] != "RUNNING":
            break
        # Progress is counted from the runs on each read: poll as a person watching would, not in a loop.
        time.sleep(0.5)
    cpu = cpu_seconds(pid) - cpu0
    # The job's own timestamps (created, finished): the polling interval does not count.
    elapsed = (datetime.fromisoformat(job["updated_at"]) - datetime.fromisoformat(job["created_at"])).total_seconds()
    fake_cpu, pg_cpu = time.process_time() - fake0, postgres_cpu_seconds() - pg0
    assert job["status"] == "COMPLETED" and job["progress"]["successful_runs"] == examples, job
    return {"examples": examples, "max_concurrency": concurrency, "provider_latency_ms": int(latency * 1000),
            "runs_per_s": round(examples / elapsed, 1), "seconds": round(elapsed, 2),
            "cinder_cpu_s_per_run": round(cpu / examples, 5), "postgres_cpu_s_per_run": round(pg_cpu / examples, 5),
            "fake_provider_and_client_cpu_s_per_run": round(fake_cpu / examples, 5), "most_calls_in_flight": fake.max_in_flight}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--examples", type=int, default=3000)
    args = parser.parse_args()
    fake = FakeLLM(api_keys=("sk-bench",)).start()
    requests.put(f"{args.url}/v1/secrets", json={"secrets": [
        {"key": "OPENAI_API_KEY", "value": "sk-bench"}, {"key": "OPENAI_BASE_URL", "value": fake.url + "/v1"}]}, timeout=60).raise_for_status()
    client = Client(base_url=args.url)
    run(args.url, args.pid, client, fake, 200, 8, 0.0)  # warm-up
    results = [
        run(args.url, args.pid, client, fake, args.examples, 8, 0.0),
        run(args.url, args.pid, client, fake, args.examples, 50, 0.0),
        run(args.url, args.pid, client, fake, 1000, 10, 0.2),
        run(args.url, args.pid, client, fake, 1000, 50, 0.2),
    ]
    for result in results:
        print(json.dumps(result))
    fake.stop()


if __name__ == "__main__":
    main()
