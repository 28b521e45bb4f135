"""Server-side experiments run by separate `cinder-runner` replicas: two runners and `cinder-api` over one
private PostgreSQL (the service role under row-level security; PHOENIX_SECRET shared, so the API seals
the provider key and the runners open it), the provider a `fake_llm.FakeLLM`.

Every check is about the runs stored: each (example, repetition) exactly once — at concurrency 8 over
200 examples, after a runner is killed with SIGKILL mid-job, across stop and resume, through 429s,
stalls and broken streams — and a rejected key stops the job with its reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest
import requests
from phoenix.client import Client

from conftest import free_port, unique_name
from fake_llm import FakeLLM
from test_distributed import BIN_DIR, Postgres, Process, _clean_env
from test_models import make_dataset, prompt

SECRET = "runner-e2e-secret-0123456789abcdefghijklmnop"
VALID_KEY = "sk-runner-valid"
LEASE_SECONDS = 2


class Runner(Process):
    def __init__(self, name: str, database_url: str, owner_url: str, work: Path):
        port = free_port()
        env = _clean_env() | {
            "PHOENIX_SQL_DATABASE_URL": database_url, "CINDER_MIGRATION_DATABASE_URL": owner_url, "PHOENIX_SECRET": SECRET,
            "CINDER_RUNNER_ADMIN_PORT": str(port), "PHOENIX_HOST": "127.0.0.1", "CINDER_RUNNER_LEASE_SECONDS": str(LEASE_SECONDS),
            "CINDER_RUNNER_POLL_MS": "100", "CINDER_PROVIDER_TIMEOUT_SECONDS": "2", "CINDER_PROVIDER_MAX_ATTEMPTS": "8",
        }
        super().__init__(name, [str(BIN_DIR / "cinder-runner")], env, work, f"http://127.0.0.1:{port}/readyz")


class Deployment:
    def __init__(self, work: Path):
        self.work, self.pg = work, Postgres(work)
        self.runners: list[Runner] = []

    def start(self) -> None:
        self.owner_url, self.database_url = self.pg.start_for_cinder()
        port = free_port()
        self.api = Process("cinder-api", [str(BIN_DIR / "cinder-api")], _clean_env() | {
            "PHOENIX_SQL_DATABASE_URL": self.database_url, "CINDER_MIGRATION_DATABASE_URL": self.owner_url,
            "PHOENIX_PORT": str(port), "PHOENIX_HOST": "127.0.0.1", "PHOENIX_SECRET": SECRET}, self.work, f"http://127.0.0.1:{port}/readyz").start()
        self.url = f"http://127.0.0.1:{port}"
        self.runners = [Runner(f"runner-{i}", self.database_url, self.owner_url, self.work).start() for i in range(2)]

    def stop(self) -> None:
        for p in [*self.runners, getattr(self, "api", None)]:
            if p is not None and p.running():
                p.terminate(30)
        self.pg.stop()

    def runs(self, experiment_global_id: str) -> list[tuple[int, int]]:
        experiment = int(__import__("base64").b64decode(experiment_global_id).decode().split(":")[1])
        rows = self.pg.query(f"SELECT dataset_example_id, repetition_number FROM experiment_runs WHERE experiment_id = {experiment}")
        return [tuple(int(x) for x in row.split("|")) for row in rows]

    def job(self, experiment_id: str) -> dict:
        return requests.get(f"{self.url}/v1/experiment_jobs/{experiment_id}", timeout=30).json()["data"]

    def wait(self, experiment_id: str, statuses=("COMPLETED", "ERROR"), timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(experiment_id)
            if job["status"] in statuses:
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.2)

    def start_job(self, ds, **body) -> str:
        r = requests.post(f"{self.url}/v1/experiment_jobs", json={"dataset_id": ds.id, "prompt": prompt()} | body, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["data"]["experiment_id"]


@pytest.fixture(scope="module")
def deployment():
    work = Path(tempfile.mkdtemp(prefix="cinder-runner-", dir="/tmp"))
    os.chmod(work, 0o755)
    d = Deployment(work)
    fake = FakeLLM(api_keys=(VALID_KEY,)).start()
    try:
        d.start()
        d.fake = fake
        d.client = Client(base_url=d.url)
        r = requests.put(d.url + "/v1/secrets", json={"secrets": [
            {"key": "OPENAI_API_KEY", "value": VALID_KEY}, {"key": "OPENAI_BASE_URL", "value": fake.url + "/v1"}]}, timeout=30)
        assert r.status_code == 200, r.text
        yield d
    finally:
        fake.stop()
        d.stop()
        if not os.environ.get("CINDER_E2E_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(autouse=True)
def fresh(deployment):
    deployment.fake.reset()
    for i, runner in enumerate(deployment.runners):
        if not runner.running():
            deployment.runners[i] = Runner(runner.name, deployment.database_url, deployment.owner_url, deployment.work).start()


def exactly_once(d: Deployment, experiment_id: str, ds, repetitions: int = 1) -> None:
    runs = d.runs(experiment_id)
    expected = sorted((int(__import__("base64").b64decode(e["id"]).decode().split(":")[1]), rep)
                      for e in ds.examples for rep in range(1, repetitions + 1))
    assert sorted(runs) == expected, f"{len(runs)} runs stored for {len(expected)} expected"


def test_two_hundred_examples_at_concurrency_eight(deployment):
    d = deployment
    d.fake.latency = 0.02
    ds = make_dataset(d.client, 200, "conc8")
    experiment_id = d.start_job(ds, max_concurrency=8)
    job = d.wait(experiment_id)
    assert job["status"] == "COMPLETED", job
    assert job["progress"] == {"expected_runs": 200, "successful_runs": 200, "failed_runs": 0, "missing_runs": 0}
    exactly_once(d, experiment_id, ds)
    assert 2 <= d.fake.max_in_flight <= 8
    assert len(d.fake.completions) == 200
    assert sum(r.metric("cinder_runner_runs_total") for r in d.runners) >= 200
    # The official client reads it like any experiment.
    got = d.client.experiments.get_experiment(experiment_id=experiment_id)
    assert len(got["task_runs"]) == 200 and all(r["error"] is None for r in got["task_runs"])


def test_a_runner_killed_mid_job_loses_and_doubles_nothing(deployment):
    d = deployment
    d.fake.latency = 0.1
    ds = make_dataset(d.client, 60, "kill")
    experiment_id = d.start_job(ds, max_concurrency=4)
    deadline = time.monotonic() + 60
    while len(d.runs(experiment_id)) < 8:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    experiment = int(__import__("base64").b64decode(experiment_id).decode().split(":")[1])
    holder = d.pg.query(f"SELECT claimed_by FROM job_leases WHERE job_id = {experiment}")[0]
    victim = next(r for r in d.runners if f":{r.proc.pid}:" in holder)
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    stored_at_kill = len(d.runs(experiment_id))
    job = d.wait(experiment_id)
    assert job["status"] == "COMPLETED", job
    assert stored_at_kill < 60, "the job finished before the kill: nothing was taken over"
    exactly_once(d, experiment_id, ds)
    new_holder = [r for r in d.runners if r is not victim]
    assert new_holder[0].metric("cinder_runner_runs_total") > 0


def test_stop_then_resume_completes_exactly_once(deployment):
    d = deployment
    d.fake.latency = 0.1
    ds = make_dataset(d.client, 40, "stop")
    experiment_id = d.start_job(ds, max_concurrency=2)
    while len(d.runs(experiment_id)) < 4:
        time.sleep(0.05)
    r = requests.post(f"{d.url}/v1/experiment_jobs/{experiment_id}/stop", timeout=30)
    assert r.status_code == 200 and r.json()["data"]["status"] == "STOPPED"
    # Runners notice within a third of the lease; calls in flight then are abandoned.
    time.sleep(LEASE_SECONDS)
    settled = len(d.runs(experiment_id))
    time.sleep(LEASE_SECONDS)
    assert len(d.runs(experiment_id)) == settled < 40
    assert d.job(experiment_id)["status"] == "STOPPED"
    r = requests.post(f"{d.url}/v1/experiment_jobs/{experiment_id}/resume", timeout=30)
    assert r.status_code == 200 and r.json()["data"]["status"] == "RUNNING"
    assert d.wait(experiment_id)["status"] == "COMPLETED"
    exactly_once(d, experiment_id, ds)


def test_a_rejected_key_stops_the_job_with_its_reason(deployment):
    d = deployment
    requests.put(d.url + "/v1/secrets", json={"secrets": [
        {"key": "ANTHROPIC_API_KEY", "value": "sk-wrong"}, {"key": "ANTHROPIC_BASE_URL", "value": d.fake.url}]}, timeout=30)
    ds = make_dataset(d.client, 30, "reject")
    experiment_id = d.start_job(ds, prompt=prompt("ANTHROPIC", "claude-sonnet-4-5"), max_concurrency=3)
    job = d.wait(experiment_id)
    assert job["status"] == "ERROR"
    assert "unauthorized" in job["last_error"]["message"] and "Incorrect API key" in job["last_error"]["message"]
    assert d.runs(experiment_id) == []  # nothing recorded: resuming runs every example
    assert len(d.fake.completions) <= 3 + 3  # stopped at once, not after 30 refusals
    requests.put(d.url + "/v1/secrets", json={"secrets": [{"key": "ANTHROPIC_API_KEY", "value": VALID_KEY}]}, timeout=30)
    requests.post(f"{d.url}/v1/experiment_jobs/{experiment_id}/resume", timeout=30)
    assert d.wait(experiment_id)["status"] == "COMPLETED"
    exactly_once(d, experiment_id, ds)


def test_rate_limits_stalls_and_broken_streams_slow_it_down_but_lose_nothing(deployment):
    d = deployment
    d.fake.fail_next(10, 429, retry_after="1")
    d.fake.fail_next(2, 500)
    d.fake.stall_next, d.fake.malformed_next = 1, 1
    ds = make_dataset(d.client, 20, "throttled")
    started = time.monotonic()
    experiment_id = d.start_job(ds, max_concurrency=4, repetitions=2)
    job = d.wait(experiment_id)
    assert job["status"] == "COMPLETED", job
    assert job["progress"]["successful_runs"] == 40 and job["progress"]["failed_runs"] == 0
    exactly_once(d, experiment_id, ds, repetitions=2)
    assert time.monotonic() - started >= 1.0  # the retry-after was honoured
    assert len(d.fake.completions) >= 40 + 14
    rate_limited = 0.0
    for runner in d.runners:
        text = requests.get(runner.ready_url.rsplit("/", 1)[0] + "/metrics", timeout=10).text
        rate_limited += sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                            if line.startswith("cinder_provider_errors_total") and 'kind="rateLimited"' in line)
    assert rate_limited >= 10


def test_no_key_or_secret_in_any_log(deployment):
    # After every test above: the provider keys the API sealed and the runners opened, and the secret that
    # keys the store, appear in no service's log.
    d = deployment
    logs = [d.api.log_path, *(r.log_path for r in d.runners)]
    assert all(path.exists() for path in logs)
    for path in logs:
        text = path.read_text(errors="replace")
        assert VALID_KEY not in text and "sk-wrong" not in text and SECRET not in text, path
    # And the table holds them sealed.
    raw = d.pg.query("SELECT encode(value, 'hex') FROM secrets WHERE key = 'OPENAI_API_KEY'")
    assert len(raw) == 1 and VALID_KEY.encode().hex() not in raw[0]
