"""The playground over GraphQL against `cinder serve`: Phoenix's `chatCompletion` and
`chatCompletionOverDataset` subscriptions over its multipart HTTP transport (and Server-Sent Events),
custom model providers (GraphQL mutations, REST list, `custom:{id}:{model}` names), and keys given with a
call or a resumed experiment.

Reference: Phoenix's schema.graphql (Subscription, ChatCompletionInput, ChatCompletionOverDatasetInput,
the ChatCompletionSubscriptionPayload types, GenerativeModelCustomProvider and its mutations) and the
multipart subscription protocol: `Accept: multipart/mixed;subscriptionSpec="1.0"`, parts separated by
`--graphql`, each `{"payload": {"data": …}}` or a `{}` heartbeat, the stream closed by `--graphql--`.
"""

from __future__ import annotations

import json
import time

import openai
import pytest
import requests

from conftest import unique_name
# The fake provider (reached through the organization's secrets), its reset, and the helpers of the model tests.
from test_models import VALID_KEY, fake, fresh, graphql, make_dataset, psql, wait_job  # noqa: F401 (fixtures)

MULTIPART = 'multipart/mixed;subscriptionSpec="1.0", application/json'

PAYLOAD_FIELDS = """
  __typename datasetExampleId repetitionNumber
  ... on TextChunk { content }
  ... on ToolCallChunk { id function { name arguments } }
  ... on ChatCompletionSubscriptionResult { span { id name spanKind tokenCountTotal trace { traceId } } experimentRun { id output } }
  ... on ChatCompletionSubscriptionError { message span { id statusCode } experimentRun { id error } }
  ... on ChatCompletionSubscriptionExperiment { experiment { id name } }
"""

CHAT = "subscription($input: ChatCompletionInput!) { chatCompletion(input: $input) { %s } }" % PAYLOAD_FIELDS
OVER_DATASET = "subscription($input: ChatCompletionOverDatasetInput!) { chatCompletionOverDataset(input: $input) { %s } }" % PAYLOAD_FIELDS


def prompt_version(text: str = "Say {{word}}", provider: str = "OPENAI", model: str = "gpt-4o-mini", **extra) -> dict:
    parameters = {"openai": {"temperature": 0.1, "maxTokens": 64}} if provider == "OPENAI" else {"anthropic": {"maxTokens": 64}}
    return {"templateFormat": "MUSTACHE", "modelProvider": provider, "modelName": model, "invocationParameters": parameters,
            "template": {"messages": [{"role": "SYSTEM", "content": [{"text": {"text": "Be brief."}}]},
                                      {"role": "USER", "content": [{"text": {"text": text}}]}]}} | extra


def multipart_payloads(response: requests.Response) -> list[dict]:
    """Each part's `payload` in order; heartbeats (`{}`) are left out, the end marker must be there."""
    assert response.status_code == 200, response.text
    content_type = response.headers["content-type"]
    assert content_type.startswith("multipart/mixed") and 'boundary="graphql"' in content_type, content_type
    body = response.content.decode()
    assert body.rstrip().endswith("--graphql--"), body[-200:]
    payloads = []
    for part in body.split("\r\n--graphql")[1:]:
        if part.startswith("--"):
            break
        headers, _, text = part.partition("\r\n\r\n")
        assert "application/json" in headers.lower()
        message = json.loads(text)
        if message == {}:
            continue
        assert "payload" in message, message
        payloads.append(message)
    return payloads


def subscribe(cinder, query: str, variables: dict, **headers) -> list[dict]:
    """The subscription's results (`data` of each payload), asserting none carried errors."""
    r = requests.post(cinder.base_url + "/graphql", json={"query": query, "variables": variables},
                      headers={"Accept": MULTIPART} | headers, timeout=120)
    results = []
    for message in multipart_payloads(r):
        assert not message.get("errors") and not message["payload"].get("errors"), message
        results.append(next(iter(message["payload"]["data"].values())))
    return results


def test_chat_completion_streams_each_repetition_then_its_span(cinder, fake):
    word = unique_name("hello")
    results = subscribe(cinder, CHAT, {"input": {
        "promptVersion": prompt_version(), "repetitions": 3, "template": {"format": "MUSTACHE", "variables": {"word": word}}}})
    assert len(fake.completions) == 3
    sent = fake.completions[0].body
    assert sent["model"] == "gpt-4o-mini" and sent["temperature"] == 0.1 and sent["max_tokens"] == 64 and sent["stream"] is True
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Say {word}"}]
    by_repetition: dict[int, list[dict]] = {}
    for result in results:
        assert result["datasetExampleId"] is None
        by_repetition.setdefault(result["repetitionNumber"], []).append(result)
    assert sorted(by_repetition) == [1, 2, 3]
    span_ids = set()
    for repetition, items in by_repetition.items():
        chunks = [i for i in items if i["__typename"] == "TextChunk"]
        assert len(chunks) >= 2, items  # streamed: more than one piece
        assert "".join(c["content"] for c in chunks) == f"echo: Say {word}"
        assert items[-1]["__typename"] == "ChatCompletionSubscriptionResult", items[-1]
        span = items[-1]["span"]
        assert span["name"] == "ChatCompletion" and span["spanKind"] == "llm" and span["tokenCountTotal"] > 0
        span_ids.add(span["id"])
    assert len(span_ids) == 3
    # The spans are in the playground project, readable like any other.
    spans = cinder.get("/v1/projects/playground/spans", params={"limit": 1000}).json()["data"]
    mine = [s for s in spans if s["attributes"].get("llm.input_messages.1.message.content") == f"Say {word}"]
    assert len(mine) == 3 and {s["span_kind"] for s in mine} == {"LLM"} and {s["attributes"]["output.value"] for s in mine} == {f"echo: Say {word}"}


def test_whole_answers_tool_calls_and_anthropic(cinder, fake):
    tools = {"tools": [{"function": {"name": "lookup", "description": "Look it up", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}}}}]}
    results = subscribe(cinder, CHAT, {"input": {
        "promptVersion": prompt_version("please use tool now", tools=tools), "repetitions": 1, "streamModelOutput": False}})
    assert fake.completions[-1].body["tools"][0]["function"]["name"] == "lookup"
    calls = [r for r in results if r["__typename"] == "ToolCallChunk"]
    assert calls and calls[0]["function"]["name"] == "lookup" and calls[0]["id"]
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) is not None
    assert results[-1]["__typename"] == "ChatCompletionSubscriptionResult"
    assert len([r for r in results if r["__typename"] == "TextChunk"]) <= 1  # whole, not streamed piece by piece
    # Anthropic's Messages format, streamed.
    results = subscribe(cinder, CHAT, {"input": {
        "promptVersion": prompt_version("Say {{word}}", provider="ANTHROPIC", model="claude-x"), "repetitions": 1,
        "template": {"format": "MUSTACHE", "variables": {"word": "bonjour"}}}})
    assert fake.completions[-1].path.endswith("/v1/messages")
    assert "".join(r["content"] for r in results if r["__typename"] == "TextChunk") == "echo: Say bonjour"


def test_server_sent_events_transport(cinder, fake):
    r = requests.post(cinder.base_url + "/graphql", json={"query": CHAT, "variables": {"input": {
        "promptVersion": prompt_version("plain text"), "repetitions": 1}}}, headers={"Accept": "text/event-stream"}, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [block for block in r.text.split("\n\n") if block.strip() and not block.startswith(":")]
    names = [block.split("\n")[0] for block in events]
    assert names[-1] == "event: complete" and set(names[:-1]) == {"event: next"}
    data = [json.loads(block.split("\n", 1)[1].removeprefix("data: "))["data"]["chatCompletion"] for block in events[:-1]]
    assert "".join(d["content"] for d in data if d["__typename"] == "TextChunk") == "echo: plain text"
    assert data[-1]["__typename"] == "ChatCompletionSubscriptionResult"


def test_failures_are_clear(cinder, fake):
    url = cinder.base_url + "/graphql"
    variables = {"input": {"promptVersion": prompt_version("x"), "repetitions": 1}}
    # A subscription needs a streaming transport.
    r = requests.post(url, json={"query": CHAT, "variables": variables}, timeout=30)
    assert r.status_code == 400 and "multipart/mixed" in r.text
    # Like mutations, never over GET (a link must not spend the organization's provider budget).
    r = requests.get(url, params={"query": CHAT, "variables": json.dumps(variables)}, headers={"Accept": MULTIPART}, timeout=30)
    assert r.status_code == 200 and "only allowed over POST" in r.json()["errors"][0]["message"]
    # The provider's error is the repetition's result, with its span (status ERROR).
    fake.fail_next(1, 400, message="context too long")
    results = subscribe(cinder, CHAT, variables)
    assert results[-1]["__typename"] == "ChatCompletionSubscriptionError"
    assert "context too long" in results[-1]["message"] and results[-1]["span"]["statusCode"] == "ERROR"
    # Keys given with the call win over the stored ones (the fake refuses this one), and never appear anywhere.
    given = "sk-given-" + unique_name("k")
    results = subscribe(cinder, CHAT, {"input": {**variables["input"], "credentials": [{"envVarName": "OPENAI_API_KEY", "value": given}]}})
    assert fake.completions[-1].headers["authorization"] == f"Bearer {given}"
    assert results[-1]["__typename"] == "ChatCompletionSubscriptionError" and "Incorrect API key" in results[-1]["message"]
    assert given not in cinder.log_path.read_text(errors="replace")
    # Bad input: errors in a JSON answer before anything streams.
    for bad, expected in ((dict(variables["input"], repetitions=0), "repetitions"),
                          ({**variables["input"], "template": {"format": "MUSTACHE", "variables": {}},
                            "promptVersion": prompt_version("Say {{missing}}")}, "Missing template variable 'missing'"),
                          ({**variables["input"], "promptVersion": prompt_version(provider="OPENAI", model="m", customProviderId="R2VuZXJhdGl2ZU1vZGVsQ3VzdG9tUHJvdmlkZXI6OTk5OTk=")},
                           "Custom model provider not found")):
        r = requests.post(url, json={"query": CHAT, "variables": {"input": bad}}, headers={"Accept": MULTIPART}, timeout=30)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json"), r.text
        assert expected in r.json()["errors"][0]["message"], r.text
    assert len(fake.completions) == 2


def test_chat_completion_over_dataset_runs_on_the_server_and_streams_its_runs(cinder, client, fake):
    ds = make_dataset(client, 5, "pg-dataset")
    results = subscribe(cinder, OVER_DATASET, {"input": {
        "promptVersion": prompt_version("Q: {{input.question}} ({{metadata.i}})"), "repetitions": 2, "datasetId": ds.id,
        "templateVariablesPath": "", "maxConcurrency": 2, "experimentName": unique_name("pg-exp")}})
    assert results[0]["__typename"] == "ChatCompletionSubscriptionExperiment"
    experiment_id = results[0]["experiment"]["id"]
    done = [r for r in results if r["__typename"] == "ChatCompletionSubscriptionResult"]
    assert len(done) == 10 and not [r for r in results if r["__typename"] == "ChatCompletionSubscriptionError"]
    assert fake.max_in_flight <= 2
    by_example = {e["id"]: e for e in ds.examples}
    assert sorted((r["datasetExampleId"], r["repetitionNumber"]) for r in done) == sorted((e, rep) for e in by_example for rep in (1, 2))
    texts = {(r["datasetExampleId"], r["repetitionNumber"]): r["content"] for r in results if r["__typename"] == "TextChunk"}
    for result in done:
        example = by_example[result["datasetExampleId"]]
        expected = f"echo: Q: {example['input']['question']} ({example['metadata']['i']})"
        assert texts[(result["datasetExampleId"], result["repetitionNumber"])] == expected
        assert result["experimentRun"]["output"]["messages"][0]["content"] == expected
        assert result["span"]["spanKind"] == "llm"
    # The runs are the experiment's, as the official client reads them.
    runs = client.experiments.get_experiment(experiment_id=experiment_id)["task_runs"]
    assert len(runs) == 10 and {r["id"] for r in runs} == {r["experimentRun"]["id"] for r in done}
    assert requests.get(f"{cinder.base_url}/v1/experiment_jobs/{experiment_id}", timeout=30).json()["data"]["status"] == "COMPLETED"


def test_appended_messages_and_a_failing_example(cinder, client, fake):
    ds = client.datasets.create_dataset(name=unique_name("pg-append"), examples=[
        {"input": {"question": "first", "history": [{"role": "user", "content": "appended turn"}]}, "output": {}},
        {"input": {"question": "second"}, "output": {}}])
    results = subscribe(cinder, OVER_DATASET, {"input": {
        "promptVersion": prompt_version("{{question}}"), "repetitions": 1, "datasetId": ds.id, "appendedMessagesPath": "input.history"}})
    done = [r for r in results if r["__typename"] == "ChatCompletionSubscriptionResult"]
    failed = [r for r in results if r["__typename"] == "ChatCompletionSubscriptionError"]
    assert len(done) == 1 and len(failed) == 1
    assert done[0]["experimentRun"]["output"]["messages"][0]["content"] == "echo: appended turn"
    assert fake.completions[0].body["messages"][-2:] == [{"role": "user", "content": "first"}, {"role": "user", "content": "appended turn"}]
    assert "input.history" in failed[0]["message"] and failed[0]["experimentRun"]["error"] == failed[0]["message"]


def test_keys_given_with_an_experiment_are_sealed_and_resume_takes_new_ones(cinder, client, fake):
    ds = make_dataset(client, 3, "pg-keys")
    wrong = "sk-wrong-" + unique_name("k")
    results = subscribe(cinder, OVER_DATASET, {"input": {
        "promptVersion": prompt_version("{{question}}"), "repetitions": 1, "datasetId": ds.id,
        "credentials": [{"envVarName": "OPENAI_API_KEY", "value": wrong}]}})
    experiment_id = results[0]["experiment"]["id"]
    assert results[-1]["__typename"] == "ChatCompletionSubscriptionError" and "Incorrect API key" in results[-1]["message"]
    job = wait_job(cinder.base_url, experiment_id)
    assert job["status"] == "ERROR"
    assert all(c.headers["authorization"] == f"Bearer {wrong}" for c in fake.completions)
    sealed = psql(cinder, "SELECT encode(credentials, 'hex') FROM experiment_jobs WHERE credentials IS NOT NULL")
    assert sealed and all(wrong.encode().hex() not in row for row in sealed)
    resumed = graphql(cinder, "mutation($id: ID!, $c: [GenerativeCredentialInput!]) { resumeExperiment(experimentId: $id, credentials: $c) { job { status } } }",
                      id=experiment_id, c=[{"envVarName": "OPENAI_API_KEY", "value": VALID_KEY}])
    assert resumed["resumeExperiment"]["job"]["status"] == "RUNNING"
    assert wait_job(cinder.base_url, experiment_id)["status"] == "COMPLETED"
    assert fake.completions[-1].headers["authorization"] == f"Bearer {VALID_KEY}"
    log = cinder.log_path.read_text(errors="replace")
    assert wrong not in log


CUSTOM_FIELDS = "id name description provider sdk createdAt updatedAt"


def test_custom_providers_are_stored_sealed_listed_and_called(cinder, fake):
    key = "sk-custom-" + unique_name("k")
    fake.api_keys.add(key)
    name = unique_name("my-vllm")
    created = graphql(cinder, """mutation($input: CreateGenerativeModelCustomProviderMutationInput!) {
        createGenerativeModelCustomProvider(input: $input) { provider { %s } } }""" % CUSTOM_FIELDS, input={
        "name": name, "description": "a local server", "provider": "vllm",
        "clientConfig": {"openai": {"openaiAuthenticationMethod": {"apiKey": key}, "openaiClientKwargs": {
            "baseUrl": fake.url + "/v1", "defaultHeaders": {"X-Team": "search"}}, "openaiApiType": "CHAT_COMPLETIONS"}}})
    provider = created["createGenerativeModelCustomProvider"]["provider"]
    assert provider["name"] == name and provider["sdk"] == "OPENAI" and provider["provider"] == "vllm"
    # Sealed: the key is not in the table.
    rows = psql(cinder, f"SELECT encode(config, 'hex') FROM generative_model_custom_providers WHERE name = '{name}'")
    assert len(rows) == 1 and key.encode().hex() not in rows[0]
    # Listed by GraphQL and REST, never with the key.
    listed = graphql(cinder, "{ generativeModelCustomProviders(first: 100) { edges { node { id name } } } }")
    assert provider["id"] in {e["node"]["id"] for e in listed["generativeModelCustomProviders"]["edges"]}
    rest = cinder.get("/v1/custom_model_providers").json()
    mine = [p for p in rest["data"] if p["id"] == provider["id"]]
    assert mine and mine[0]["sdk"] == "openai" and mine[0]["name"] == name and key not in json.dumps(rest)
    # Called by REST with `custom:{id}:{model}` and by the playground with customProviderId.
    sdk = openai.OpenAI(base_url=cinder.base_url + "/v1", api_key="unused", max_retries=0)
    answer = sdk.chat.completions.create(model=f"custom:{provider['id']}:served-model", messages=[{"role": "user", "content": "hey"}])
    assert answer.choices[0].message.content == "echo: hey"
    call = fake.completions[-1]
    assert call.headers["authorization"] == f"Bearer {key}" and call.headers["x-team"] == "search" and call.body["model"] == "served-model"
    results = subscribe(cinder, CHAT, {"input": {"promptVersion": prompt_version("hi", model="served-model", customProviderId=provider["id"]),
                                                 "repetitions": 1}})
    assert results[-1]["__typename"] == "ChatCompletionSubscriptionResult"
    assert fake.completions[-1].headers["authorization"] == f"Bearer {key}"
    # The configuration reads back with the key redacted; the redaction token given back keeps the key.
    config_query = """query($id: ID!) { node(id: $id) { ... on GenerativeModelCustomProvider { config { __typename
        ... on OpenAICustomProviderConfig { openaiApiType openaiAuthenticationMethod { apiKey }
            openaiClientKwargs { baseUrl organization project defaultHeaders } } } } } }"""
    config = graphql(cinder, config_query, id=provider["id"])["node"]["config"]
    assert config["__typename"] == "OpenAICustomProviderConfig" and config["openaiApiType"] == "CHAT_COMPLETIONS"
    token = config["openaiAuthenticationMethod"]["apiKey"]
    assert token.startswith("redacted:") and key not in token
    assert config["openaiClientKwargs"] == {"baseUrl": fake.url + "/v1", "organization": None, "project": None,
                                            "defaultHeaders": {"X-Team": "search"}}
    graphql(cinder, """mutation($input: PatchGenerativeModelCustomProviderMutationInput!) {
        patchGenerativeModelCustomProvider(input: $input) { provider { id } } }""", input={"id": provider["id"], "clientConfig": {"openai": {
            "openaiAuthenticationMethod": {"apiKey": token}, "openaiClientKwargs": {"baseUrl": fake.url + "/v1"}, "openaiApiType": "CHAT_COMPLETIONS"}}})
    sdk.chat.completions.create(model=f"custom:{provider['id']}:served-model", messages=[{"role": "user", "content": "again"}])
    assert fake.completions[-1].headers["authorization"] == f"Bearer {key}" and "x-team" not in fake.completions[-1].headers
    # Renamed, then deleted: its model names stop resolving.
    patched = graphql(cinder, """mutation($input: PatchGenerativeModelCustomProviderMutationInput!) {
        patchGenerativeModelCustomProvider(input: $input) { provider { name } } }""", input={"id": provider["id"], "name": name + "-2"})
    assert patched["patchGenerativeModelCustomProvider"]["provider"]["name"] == name + "-2"
    assert graphql(cinder, "query($id: ID!) { node(id: $id) { ... on GenerativeModelCustomProvider { name } } }", id=provider["id"])["node"]["name"] == name + "-2"
    graphql(cinder, "mutation($input: DeleteGenerativeModelCustomProviderMutationInput!) { deleteGenerativeModelCustomProvider(input: $input) { id } }",
            input={"id": provider["id"]})
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model=f"custom:{provider['id']}:served-model", messages=[{"role": "user", "content": "hey"}])
    assert key not in cinder.log_path.read_text(errors="replace")


def test_custom_provider_input_is_validated(cinder):
    mutation = """mutation($input: CreateGenerativeModelCustomProviderMutationInput!) {
        createGenerativeModelCustomProvider(input: $input) { provider { id } } }"""
    name = unique_name("dup")
    good = {"name": name, "provider": "p", "clientConfig": {"anthropic": {"anthropicAuthenticationMethod": {"apiKey": "k"}}}}
    for bad, expected in (({**good, "clientConfig": {}}, "exactly one"),
                          ({**good, "clientConfig": {"openai": {}, "anthropic": {}}}, "exactly one"),
                          ({**good, "name": " "}, "name must be"),
                          ({**good, "clientConfig": {"azureOpenai": {"azureOpenaiAuthenticationMethod": {"apiKey": "k"}}}}, "azureEndpoint")):
        r = requests.post(cinder.base_url + "/graphql", json={"query": mutation, "variables": {"input": bad}}, timeout=30).json()
        assert expected in r["errors"][0]["message"], r
    graphql(cinder, mutation, input=good)
    r = requests.post(cinder.base_url + "/graphql", json={"query": mutation, "variables": {"input": good}}, timeout=30).json()
    assert "already exists" in r["errors"][0]["message"], r
    result = graphql(cinder, "mutation($c: GenerativeModelCustomerProviderConfigInput!) { testGenerativeModelCustomProviderCredentials(input: $c) { error } }",
                     c={"awsBedrock": {"awsBedrockClientKwargs": {"regionName": "us-east-1"}}})
    assert "not supported" in result["testGenerativeModelCustomProviderCredentials"]["error"]


def test_a_traced_llm_span_is_replayed_with_edits(cinder, fake):
    marker = unique_name("replay")
    sdk = openai.OpenAI(base_url=cinder.base_url + "/v1", api_key="unused", max_retries=0)
    sdk.chat.completions.create(model="openai:gpt-4o-mini", messages=[{"role": "system", "content": "Be terse."},
                                                                      {"role": "user", "content": marker}], temperature=0.3)
    span = None
    for _ in range(150):
        spans = cinder.get("/v1/projects/playground/spans", params={"limit": 1000}).json()["data"]
        found = [s for s in spans if s["attributes"].get("llm.input_messages.1.message.content") == marker]
        if found:
            span = found[0]
            break
        time.sleep(0.2)
    assert span is not None
    span_id = span["context"]["span_id"]
    # As it was: same model, messages and parameters.
    r = requests.post(f"{cinder.base_url}/v1/spans/{span_id}/replay", json={}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == f"echo: {marker}"
    sent = fake.completions[-1].body
    assert sent["model"] == "gpt-4o-mini" and sent["temperature"] == 0.3
    assert sent["messages"] == [{"role": "system", "content": "Be terse."}, {"role": "user", "content": marker}]
    # Edited: another model, message and temperature, streamed.
    r = requests.post(f"{cinder.base_url}/v1/spans/{span_id}/replay", json={
        "model": "anthropic:claude-x", "temperature": 0.9, "stream": True,
        "messages": [{"role": "user", "content": marker + " again"}]}, timeout=30)
    assert r.status_code == 200 and r.text.rstrip().endswith("data: [DONE]")
    assert fake.completions[-1].path.endswith("/v1/messages") and fake.completions[-1].body["temperature"] == 0.9
    # Errors: an unknown span, a span that is not an LLM call.
    assert requests.post(f"{cinder.base_url}/v1/spans/0000000000000001/replay", json={}, timeout=30).status_code == 404
