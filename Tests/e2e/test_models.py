"""Model calls through `cinder serve`: the provider list, the encrypted secret store, Phoenix's
`POST /v1/chat/completions` driven by the real `openai` SDK (whole and streamed, OpenAI and Anthropic wire
formats, errors) and the playground traces; and one server-side experiment run by the runner inside
`cinder serve`, read back with the official client.

Providers are `fake_llm.FakeLLM`, reached through the organization's stored secrets (the key and the
`*_BASE_URL`), so nothing is read from the server's environment.
"""

from __future__ import annotations

import json
import subprocess
import time

import openai
import pytest
import requests

from conftest import unique_name
from fake_llm import FakeLLM

VALID_KEY = "sk-test-valid"


@pytest.fixture(scope="module")
def fake(cinder):
    fake = FakeLLM(api_keys=(VALID_KEY,)).start()
    r = requests.put(cinder.base_url + "/v1/secrets", json={"secrets": [
        {"key": "OPENAI_API_KEY", "value": VALID_KEY}, {"key": "OPENAI_BASE_URL", "value": fake.url + "/v1"},
        {"key": "ANTHROPIC_API_KEY", "value": VALID_KEY}, {"key": "ANTHROPIC_BASE_URL", "value": fake.url},
    ]}, timeout=30)
    assert r.status_code == 200, r.text
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def fresh(fake):
    fake.reset()


def sdk(cinder) -> openai.OpenAI:
    # The key is the caller's credential for Cinder (unused with auth off), never the provider's.
    return openai.OpenAI(base_url=cinder.base_url + "/v1", api_key="not-a-provider-key", max_retries=0)


def psql(cinder, sql: str) -> list[str]:
    socket_dir = cinder.working_dir / "postgres" / "run"
    out = subprocess.run(["psql", "-h", str(socket_dir), "-U", "postgres", "-d", "cinder", "-tAc", sql],
                         check=True, capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line]


def test_model_providers_lists_the_families_the_server_can_call(cinder):
    r = cinder.get("/v1/model_providers")
    assert r.status_code == 200
    providers = {p["provider"]: p["name"] for p in r.json()["data"]}
    assert providers["OPENAI"] == "OpenAI" and providers["ANTHROPIC"] == "Anthropic" and "AZURE_OPENAI" in providers
    assert "GOOGLE" not in providers and "AWS" not in providers  # wire formats Cinder does not speak
    r = cinder.get("/v1/custom_model_providers")
    assert r.status_code == 200 and set(r.json()) == {"data", "next_cursor"}  # custom providers: test_playground
    assert cinder.get("/v1/custom_model_providers", params={"limit": 0}).status_code == 422


def test_secrets_are_encrypted_at_rest_and_never_returned_or_logged(cinder, fake):
    secret = "sk-very-secret-" + unique_name("v")
    r = requests.put(cinder.base_url + "/v1/secrets", json={"secrets": [
        {"key": "E2E_SECRET", "value": "first"}, {"key": "E2E_SECRET", "value": secret},
        {"key": "E2E_GONE", "value": "x"}]}, timeout=30)
    assert r.status_code == 200
    assert r.json() == {"data": {"upserted_keys": ["E2E_SECRET", "E2E_GONE"], "deleted_keys": []}}
    assert secret not in r.text
    stored = psql(cinder, "SELECT encode(value, 'hex') FROM secrets WHERE key = 'E2E_SECRET'")
    assert len(stored) == 1
    raw = bytes.fromhex(stored[0])
    assert secret.encode() not in raw and b"sk-very-secret" not in raw and len(raw) >= len(secret) + 28
    r = requests.put(cinder.base_url + "/v1/secrets", json={"secrets": [{"key": "E2E_GONE", "value": None},
                                                                          {"key": "NEVER_THERE", "value": None}]}, timeout=30)
    assert r.json() == {"data": {"upserted_keys": [], "deleted_keys": ["E2E_GONE", "NEVER_THERE"]}}
    assert psql(cinder, "SELECT count(*) FROM secrets WHERE key = 'E2E_GONE'") == ["0"]
    # `value` is required (null deletes), keys are non-empty strings.
    for bad in ({"secrets": [{"key": "K"}]}, {"secrets": [{"key": "", "value": "v"}]}, {"secrets": [{"key": "K", "value": 3}]}, {}):
        assert requests.put(cinder.base_url + "/v1/secrets", json=bad, timeout=30).status_code == 422, bad
    # Used, but never echoed: a call with the stored key, then the log.
    sdk(cinder).chat.completions.create(model="openai:gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert fake.completions[-1].headers["authorization"] == f"Bearer {VALID_KEY}"
    log = cinder.log_path.read_text(errors="replace")
    assert secret not in log and VALID_KEY not in log


def test_chat_completion_with_the_openai_sdk_whole_and_streamed(cinder, fake):
    client = sdk(cinder)
    whole = client.chat.completions.create(
        model="openai:gpt-4o-mini", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}],
        temperature=0.2, max_tokens=50)
    assert whole.choices[0].message.content == "echo: hello there"
    assert whole.choices[0].finish_reason == "stop"
    assert whole.model == "openai:gpt-4o-mini"
    assert whole.usage.prompt_tokens == 4 and whole.usage.completion_tokens == 3 and whole.usage.total_tokens == 7
    sent = fake.completions[-1].body
    assert sent["model"] == "gpt-4o-mini" and sent["temperature"] == 0.2 and sent["max_tokens"] == 50
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}

    chunks = list(client.chat.completions.create(
        model="openai:gpt-4o-mini", messages=[{"role": "user", "content": "stream me please"}], stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream me please"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    # The raw stream ends in data: [DONE].
    raw = requests.post(cinder.base_url + "/v1/chat/completions", json={
        "model": "openai:gpt-4o-mini", "messages": [{"role": "user", "content": "raw"}], "stream": True}, timeout=30)
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.text.rstrip().endswith("data: [DONE]")


def test_chat_completion_through_anthropic_messages(cinder, fake):
    whole = sdk(cinder).chat.completions.create(
        model="anthropic:claude-sonnet-4-5", messages=[{"role": "system", "content": "Be kind."}, {"role": "user", "content": "bonjour"}],
        stop="END", max_completion_tokens=64)
    assert whole.choices[0].message.content == "echo: bonjour"
    assert whole.usage.prompt_tokens == 3 and whole.usage.completion_tokens == 2
    request = fake.completions[-1]
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == VALID_KEY and request.headers["anthropic-version"] == "2023-06-01"
    assert request.body["system"] == "Be kind." and request.body["messages"] == [{"role": "user", "content": "bonjour"}]
    assert request.body["stop_sequences"] == ["END"] and request.body["max_tokens"] == 64 and request.body["stream"] is True
    streamed = sdk(cinder).chat.completions.create(
        model="anthropic:claude-sonnet-4-5", messages=[{"role": "user", "content": "one two"}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "echo: one two"


def test_chat_completion_errors_are_clear(cinder, fake):
    def post(body):
        return requests.post(cinder.base_url + "/v1/chat/completions", json=body, timeout=30)

    message = [{"role": "user", "content": "x"}]
    for model, status in [("gpt-4o", 400), ("nosuch:model", 400), ("google:gemini-2.0", 400), ("custom:99:m", 404)]:
        r = post({"model": model, "messages": message})
        assert r.status_code == status, (model, r.text)
        assert r.json()["error"]["message"] and r.json()["error"]["type"]
    r = post({"model": "openai:gpt-4o", "messages": message, "tools": [{"type": "function", "function": {"name": "f"}}]})
    assert r.status_code == 400 and "Tool calling" in r.json()["error"]["message"]
    assert post({"model": "openai:gpt-4o", "messages": []}).status_code == 422
    assert post({"model": "openai:gpt-4o", "messages": [{"role": "wizard", "content": "x"}]}).status_code == 422
    assert post({"messages": message}).status_code == 422
    # The provider's own refusals, relayed: 429 keeps its retry-after; a rejected key is the caller's problem.
    fake.fail_next(1, 429, retry_after="7")
    r = post({"model": "openai:gpt-4o", "messages": message})
    assert r.status_code == 429 and r.headers["retry-after"] == "7" and r.json()["error"]["type"] == "rate_limit_error"
    fake.fail_next(1, 500)
    assert post({"model": "openai:gpt-4o", "messages": message}).status_code == 502
    fake.api_keys.discard(VALID_KEY)
    try:
        r = post({"model": "openai:gpt-4o", "messages": message})
        assert r.status_code == 400 and "Incorrect API key" in r.json()["error"]["message"]
    finally:
        fake.api_keys.add(VALID_KEY)
    # A provider without a stored key or an environment variable.
    r = post({"model": "groq:llama-3", "messages": message})
    assert r.status_code == 400 and "GROQ_API_KEY" in r.json()["error"]["message"]


def test_playground_calls_are_traced_as_llm_spans(cinder, fake):
    marker = unique_name("traced")
    sdk(cinder).chat.completions.create(model="openai:gpt-4o-mini", messages=[{"role": "user", "content": marker}])
    deadline = time.monotonic() + 30
    while True:
        r = cinder.get("/v1/projects/playground/spans", params={"limit": 1000})
        spans = [s for s in (r.json()["data"] if r.status_code == 200 else []) if marker in json.dumps(s["attributes"])]
        if spans or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(spans) == 1
    attributes = spans[0]["attributes"]
    assert spans[0]["span_kind"] == "LLM" and spans[0]["status_code"] == "OK"
    assert attributes["llm.model_name"] == "gpt-4o-mini" and attributes["llm.provider"] == "openai"
    assert (attributes["llm.token_count.prompt"], attributes["llm.token_count.completion"], attributes["llm.token_count.total"]) == (1, 2, 3)
    assert attributes["output.value"] == f"echo: {marker}"


def make_dataset(client, n: int, prefix: str):
    examples = [{"input": {"question": f"q{i}"}, "output": {"answer": f"echo: q{i}"}, "metadata": {"i": i}} for i in range(n)]
    return client.datasets.create_dataset(name=unique_name(prefix), examples=examples)


def prompt(model_provider: str = "OPENAI", model_name: str = "gpt-4o-mini", text: str = "{{question}}") -> dict:
    invocation = {"type": model_provider.lower(), model_provider.lower(): {"temperature": 0.0} if model_provider == "OPENAI" else {"max_tokens": 100}}
    return {"model_provider": model_provider, "model_name": model_name, "template_type": "CHAT", "template_format": "MUSTACHE",
            "template": {"type": "chat", "messages": [{"role": "system", "content": "Answer."}, {"role": "user", "content": text}]},
            "invocation_parameters": invocation}


def wait_job(base_url: str, experiment_id: str, statuses=("COMPLETED", "ERROR"), timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = requests.get(f"{base_url}/v1/experiment_jobs/{experiment_id}", timeout=30).json()["data"]
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_server_experiment_in_cinder_serve_reads_like_a_client_side_one(cinder, client, fake):
    ds = make_dataset(client, 6, "serve-exp")
    r = requests.post(cinder.base_url + "/v1/experiment_jobs", json={
        "dataset_id": ds.id, "prompt": prompt(), "repetitions": 2, "max_concurrency": 3, "name": unique_name("served")}, timeout=30)
    assert r.status_code == 200, r.text
    job = r.json()["data"]
    assert job["status"] == "RUNNING" and job["progress"]["expected_runs"] == 12
    done = wait_job(cinder.base_url, job["experiment_id"])
    assert done["status"] == "COMPLETED" and done["progress"] == {"expected_runs": 12, "successful_runs": 12, "failed_runs": 0, "missing_runs": 0}
    assert fake.max_in_flight <= 3
    got = client.experiments.get_experiment(experiment_id=job["experiment_id"])
    runs = got["task_runs"]
    assert len(runs) == 12
    assert sorted((r["dataset_example_id"], r["repetition_number"]) for r in runs) == sorted(
        (e["id"], rep) for e in ds.examples for rep in (1, 2))
    by_example = {e["id"]: e["input"]["question"] for e in ds.examples}
    for run in runs:
        assert run["output"] == {"messages": [{"role": "assistant", "content": f"echo: {by_example[run['dataset_example_id']]}"}]}
        assert run["error"] is None and run["trace_id"]
    # Each run's LLM span is in the experiment's project, under the run's trace id.
    project = done["experiment"]["project_name"]
    spans = cinder.get(f"/v1/projects/{project}/spans", params={"limit": 100}).json()["data"]
    assert sorted(s["context"]["trace_id"] for s in spans) == sorted(r["trace_id"] for r in runs)
    # A missing template variable fails that run, with the reason, and not the job.
    bad = client.datasets.create_dataset(name=unique_name("serve-bad"), examples=[
        {"input": {"question": "fine"}, "output": {}}, {"input": {"other": "no question"}, "output": {}}])
    r = requests.post(cinder.base_url + "/v1/experiment_jobs", json={"dataset_id": bad.id, "prompt": prompt()}, timeout=30)
    done = wait_job(cinder.base_url, r.json()["data"]["experiment_id"])
    assert done["status"] == "COMPLETED" and done["progress"]["successful_runs"] == 1 and done["progress"]["failed_runs"] == 1
    assert "Missing template variable 'question'" in done["last_error"]["message"]


def test_experiment_job_requests_are_validated(cinder, client):
    ds = make_dataset(client, 1, "serve-val")
    url = cinder.base_url + "/v1/experiment_jobs"
    assert requests.post(url, json={"dataset_id": ds.id}, timeout=30).status_code == 422
    assert requests.post(url, json={"dataset_id": ds.id, "prompt": prompt(), "max_concurrency": 0}, timeout=30).status_code == 422
    assert requests.post(url, json={"dataset_id": ds.id, "prompt": prompt() | {"model_provider": "NOPE"}}, timeout=30).status_code == 422
    assert requests.post(url, json={"dataset_id": "RGF0YXNldDo5OTk5OTk5", "prompt": prompt()}, timeout=30).status_code == 404
    assert requests.post(url, json={"dataset_id": ds.id, "prompt_version_id": "UHJvbXB0VmVyc2lvbjo5OTk5OTk="}, timeout=30).status_code == 404
    # A client-side experiment has no job.
    exp = requests.post(f"{cinder.base_url}/v1/datasets/{ds.id}/experiments", json={}, timeout=30).json()["data"]
    assert requests.get(f"{cinder.base_url}/v1/experiment_jobs/{exp['id']}", timeout=30).status_code == 404


def graphql(cinder, query: str, **variables) -> dict:
    r = requests.post(cinder.base_url + "/graphql", json={"query": query, "variables": variables}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body.get("errors"), body
    return body["data"]


def test_graphql_shows_the_job_and_stops_and_resumes_it(cinder, client, fake):
    fake.latency = 0.2
    ds = make_dataset(client, 12, "gql-job")
    experiment_id = requests.post(cinder.base_url + "/v1/experiment_jobs", json={
        "dataset_id": ds.id, "prompt": prompt(), "max_concurrency": 1}, timeout=30).json()["data"]["experiment_id"]
    job_fields = "job { id status maxConcurrency createdAt experiment { id } lastError { message } errors(first: 5) { edges { node { message } } } }"
    data = graphql(cinder, f"query($id: ID!) {{ node(id: $id) {{ ... on Experiment {{ {job_fields} }} }} }}", id=experiment_id)
    job = data["node"]["job"]
    assert job["status"] == "RUNNING" and job["maxConcurrency"] == 1 and job["experiment"]["id"] == experiment_id
    assert job["lastError"] is None and job["errors"]["edges"] == []
    assert graphql(cinder, "query($id: ID!) { node(id: $id) { ... on ExperimentJob { status } } }", id=job["id"])["node"]["status"] == "RUNNING"
    stopped = graphql(cinder, "mutation($id: ID!) { stopExperiment(experimentId: $id) { job { status } } }", id=experiment_id)
    assert stopped["stopExperiment"]["job"]["status"] == "STOPPED"
    fake.latency = 0.0
    resumed = graphql(cinder, "mutation($id: ID!) { resumeExperiment(experimentId: $id) { job { status } } }", id=experiment_id)
    assert resumed["resumeExperiment"]["job"]["status"] == "RUNNING"
    assert wait_job(cinder.base_url, experiment_id)["status"] == "COMPLETED"
    runs = client.experiments.get_experiment(experiment_id=experiment_id)["task_runs"]
    assert sorted(r["dataset_example_id"] for r in runs) == sorted(e["id"] for e in ds.examples)
    # A client-side experiment has no job, and cannot be stopped.
    exp = requests.post(f"{cinder.base_url}/v1/datasets/{ds.id}/experiments", json={}, timeout=30).json()["data"]
    assert graphql(cinder, f"query($id: ID!) {{ node(id: $id) {{ ... on Experiment {{ job {{ id }} }} }} }}", id=exp["id"])["node"]["job"] is None
    r = requests.post(cinder.base_url + "/graphql", json={"query": "mutation($id: ID!) { stopExperiment(experimentId: $id) { job { status } } }",
                                                          "variables": {"id": exp["id"]}}, timeout=30).json()
    assert "not run by the server" in r["errors"][0]["message"]
