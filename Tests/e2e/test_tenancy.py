"""Nothing crosses organizations. Two organizations hold identically named projects, datasets,
prompts and annotation configs, and spans with the same trace and span ids; every object of the first
carries a unique marker string. Every principal of the second (admin, member, viewer, user key,
system key) then asks for the first's objects through every REST route of /openapi.json and every
GraphQL node type: each answer is exactly what a nonexistent id of the same type gets (so nothing
can be detected), the marker appears in no body, and every write aimed at the first's objects leaves
them unchanged."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from conftest import PROJECT_ATTR, unique_name
from tenancy import Caller, Organization, global_id, populated_organization, row_id

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_IDS = ["b7ad6b7169203331", "00f067aa0ba902b7"]
SESSION_ID = "shared-session-id"


def otlp_json(project: str, content: str) -> dict:
    now = time.time_ns()
    span = lambda span_id, parent, name: {  # noqa: E731
        "traceId": TRACE_ID, "spanId": span_id, "parentSpanId": parent, "name": name, "kind": 1,
        "startTimeUnixNano": str(now - 2_000_000), "endTimeUnixNano": str(now),
        "attributes": [
            {"key": "openinference.span.kind", "value": {"stringValue": "LLM"}},
            {"key": "input.value", "value": {"stringValue": content}},
            {"key": "session.id", "value": {"stringValue": SESSION_ID}},
            {"key": "llm.token_count.prompt", "value": {"intValue": "7"}},
        ],
        "status": {"code": 1},
    }
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": PROJECT_ATTR, "value": {"stringValue": project}}]},
        "scopeSpans": [{"spans": [span(SPAN_IDS[0], "", "root " + content), span(SPAN_IDS[1], SPAN_IDS[0], "child " + content)]}],
    }]}


def iso(delta: float = 0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=delta)).isoformat()


def seed(org: Organization, names: dict[str, str], content: str) -> dict[str, str]:
    """Creates the shared set of objects in `org`, with `content` in every one; returns their ids."""
    member, admin = org.member, org.admin
    ids: dict[str, str] = {}
    r = org.user_key.post("/v1/traces", json=otlp_json(names["project"], content))
    assert r.status_code == 200, r.text
    for _ in range(100):
        spans = member.get(f"/v1/projects/{names['project']}/spans").json().get("data", [])
        if len(spans) == 2:
            break
        time.sleep(0.1)
    assert len(spans) == 2, spans
    project = member.ok("get", f"/v1/projects/{names['project']}")["data"]
    ids["project"] = project["id"]
    by_name = {s["name"].split(" ")[0]: s for s in spans}
    ids["span"] = by_name["root"]["id"]
    traces = member.ok("get", f"/v1/projects/{project['id']}/traces")["data"]
    ids["trace"] = traces[0]["id"]
    sessions = member.ok("get", f"/v1/projects/{project['id']}/sessions")["data"]
    ids["session"] = sessions[0]["id"]

    config = admin.ok("post", "/v1/annotation_configs", json={
        "name": names["config"], "type": "CATEGORICAL", "description": content, "optimization_direction": "MAXIMIZE",
        "values": [{"label": content, "score": 1}]})["data"]
    ids["config"] = config["id"]
    admin.ok("put", f"/v1/projects/{project['id']}/annotation_configs/{config['id']}")
    annotated = member.ok("post", "/v1/span_annotations", params={"sync": "true"}, json={"data": [
        {"span_id": SPAN_IDS[0], "name": "quality", "annotator_kind": "HUMAN", "result": {"label": content, "score": 0.5},
         "identifier": content}]})["data"]
    ids["span_annotation"] = annotated[0]["id"]
    member.ok("post", "/v1/trace_annotations", params={"sync": "true"}, json={"data": [
        {"trace_id": TRACE_ID, "name": "overall", "annotator_kind": "LLM", "result": {"label": content}}]})
    member.ok("post", "/v1/session_annotations", params={"sync": "true"}, json={"data": [
        {"session_id": SESSION_ID, "name": "mood", "annotator_kind": "CODE", "result": {"label": content}}]})
    member.ok("post", "/v1/span_notes", json={"data": {"span_id": SPAN_IDS[0], "note": content}})

    upload = member.ok("post", "/v1/datasets/upload", params={"sync": "true"}, json={
        "action": "create", "name": names["dataset"], "description": content,
        "inputs": [{"q": content}], "outputs": [{"a": content}], "metadata": [{"m": content}]})["data"]
    ids["dataset"] = upload["dataset_id"]
    ids["dataset_version"] = upload["version_id"]
    examples = member.ok("get", f"/v1/datasets/{ids['dataset']}/examples")["data"]
    ids["example"] = examples["examples"][0]["id"]
    split = member.ok("post", f"/v1/datasets/{ids['dataset']}/splits", json={
        "name": names["split"], "description": content, "example_ids": [ids["example"]]})["data"]
    ids["split"] = split["id"]
    label = member.ok("post", "/v1/dataset_labels", json={"name": names["label"], "description": content, "color": "#00cc88"})["data"]
    ids["label"] = label["id"]
    member.ok("put", f"/v1/datasets/{ids['dataset']}/labels/{label['id']}")

    experiment = member.ok("post", f"/v1/datasets/{ids['dataset']}/experiments", json={
        "name": names["experiment"], "description": content, "metadata": {"m": content}})["data"]
    ids["experiment"] = experiment["id"]
    run = member.ok("post", f"/v1/experiments/{experiment['id']}/runs", json={
        "dataset_example_id": ids["example"], "output": {"answer": content}, "repetition_number": 1,
        "start_time": iso(-1), "end_time": iso()})["data"]
    ids["experiment_run"] = run["id"]
    member.ok("post", "/v1/experiment_evaluations", json={
        "experiment_run_id": run["id"], "name": "correct", "annotator_kind": "CODE", "start_time": iso(-1), "end_time": iso(),
        "result": {"label": content, "score": 1, "explanation": content}})
    member.ok("post", f"/v1/experiments/{experiment['id']}/tags", json={"name": names["tag"], "description": content})

    version = member.ok("post", "/v1/prompts", json={
        "prompt": {"name": names["prompt"], "description": content},
        "version": {"model_provider": "OPENAI", "model_name": "gpt-4o-mini", "template_type": "CHAT", "template_format": "MUSTACHE",
                    "description": content, "invocation_parameters": {"type": "openai", "openai": {}},
                    "template": {"type": "chat", "messages": [{"role": "user", "content": content}]}}})["data"]
    ids["prompt_version"] = version["id"]
    member.ok("post", f"/v1/prompt_versions/{version['id']}/tags", json={"name": names["tag"], "description": content})
    prompts = member.ok("get", "/v1/prompts")["data"]
    ids["prompt"] = next(p["id"] for p in prompts if p["name"] == names["prompt"])

    ids["user"] = member.ok("get", "/v1/user")["data"]["id"]
    keys = org.admin.ok("get", "/v1/system/api_keys")["data"]
    ids["system_api_key"] = keys[0]["id"]
    ids["user_api_key"] = member.ok("get", "/v1/user/api_keys")["data"][0]["id"]
    ids["organization"] = org.id
    return ids


def snapshot(org: Organization, ids: dict[str, str], names: dict[str, str]) -> dict[str, Any]:
    """What the organization's own admin reads of its objects (compared before and after)."""
    a = org.admin
    paths = [
        "/v1/projects?include_experiment_projects=true",
        f"/v1/projects/{ids['project']}",
        f"/v1/projects/{ids['project']}/spans",
        f"/v1/projects/{ids['project']}/traces?include_spans=true",
        f"/v1/projects/{ids['project']}/sessions",
        f"/v1/projects/{ids['project']}/span_annotations?span_ids={SPAN_IDS[0]}&span_ids={SPAN_IDS[1]}",
        f"/v1/projects/{ids['project']}/trace_annotations?trace_ids={TRACE_ID}",
        f"/v1/projects/{ids['project']}/session_annotations?session_ids={SESSION_ID}",
        f"/v1/projects/{ids['project']}/annotation_configs",
        "/v1/annotation_configs",
        "/v1/datasets",
        f"/v1/datasets/{ids['dataset']}",
        f"/v1/datasets/{ids['dataset']}/versions",
        f"/v1/datasets/{ids['dataset']}/examples",
        f"/v1/datasets/{ids['dataset']}/splits",
        f"/v1/datasets/{ids['dataset']}/labels",
        "/v1/dataset_labels",
        f"/v1/datasets/{ids['dataset']}/experiments",
        f"/v1/experiments/{ids['experiment']}",
        f"/v1/experiments/{ids['experiment']}/runs",
        f"/v1/experiments/{ids['experiment']}/tags",
        "/v1/prompts",
        f"/v1/prompts/{ids['prompt']}/versions",
        f"/v1/prompt_versions/{ids['prompt_version']}/tags",
        "/v1/users",
        "/v1/system/api_keys",
        "/v1/users/api_keys",
    ]
    out = {}
    for path in paths:
        r = a.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text)
        out[path] = r.json()
    return out


@pytest.fixture(scope="module")
def tenants(auth_cinder):
    suffix = uuid.uuid4().hex[:8]
    names = {kind: f"shared-{kind}-{suffix}" for kind in
             ["project", "config", "dataset", "split", "label", "experiment", "tag", "prompt"]}
    names["tag"] = f"shared-tag-{suffix}"
    first = populated_organization(auth_cinder, f"first-{suffix}")
    second = populated_organization(auth_cinder, f"second-{suffix}")
    marker = f"MARKER-{uuid.uuid4().hex}"
    first_ids = seed(first, names, marker)
    second_ids = seed(second, names, f"second-org-content-{suffix}")
    before = snapshot(first, first_ids, names)
    return first, second, first_ids, second_ids, names, marker, before


# Placeholders for the path parameters of every documented route: the first organization's ids (and
# a nonexistent id of the same type, to compare the answers against).
PARAMETER_KINDS = [
    ("prompt_version", "prompt_version"), ("project", "project"), ("span", "span"), ("trace", "trace"),
    ("session", "session"), ("config", "config"), ("experiment", "experiment"), ("prompt", "prompt"),
    ("split", "split"), ("label", "label"), ("tag", "tag"), ("user", "user"), ("organization", "organization"),
    ("dataset", "dataset"), ("id", "dataset"),
]


def kind_of(parameter: str, path: str) -> str:
    if parameter == "api_key_id":
        return "system_api_key" if "/system/" in path else "user_api_key"
    for word, kind in PARAMETER_KINDS:
        if word in parameter:
            return kind
    raise AssertionError(f"no placeholder for {{{parameter}}} in {path}")


def missing_like(value: str) -> str:
    """A nonexistent id of the same type (global ids) or an unused name."""
    try:
        decoded = base64.b64decode(value, validate=True).decode()
        type_name, _, number = decoded.rpartition(":")
        if type_name and number.isdigit():
            return global_id(type_name, 987_654_321)
    except Exception:
        pass
    return "no-such-" + value


def normalized(r: requests.Response, *values: str) -> tuple[int, Any]:
    """Status and body with the ids asked for replaced (messages echo them) and timestamps masked;
    JSON bodies compared as values (key order is not part of the answer)."""
    text = r.text
    for value in values:
        text = text.replace(value, "<id>")
    text = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", "<time>", text)
    try:
        return r.status_code, json.loads(text)
    except ValueError:
        return r.status_code, text


def documented_operations(caller: Caller) -> list[tuple[str, str]]:
    document = caller.ok("get", "/openapi.json")
    methods = ("get", "put", "post", "delete", "patch")
    return sorted((m, p) for p, item in document["paths"].items() for m in item if m in methods)


def test_every_route_answers_the_first_organizations_ids_as_it_answers_missing_ones(tenants):
    first, second, first_ids, _, names, marker, before = tenants
    operations = documented_operations(second.admin)
    assert len(operations) > 100
    checked = 0
    for caller in second.principals:
        for method, path in operations:
            parameters = re.findall(r"\{([^}]*)\}", path)
            if not parameters or path in ("/v1/traces",):
                continue
            ours = path
            missing = path
            substituted = []
            for parameter in parameters:
                kind = kind_of(parameter, path)
                value = names["tag"] if kind == "tag" else first_ids[kind]
                substituted.append(value)
                ours = ours.replace("{" + parameter + "}", value)
                missing = missing.replace("{" + parameter + "}", missing_like(value))
            body = {} if method in ("post", "put", "patch") else None
            got = caller.request(method, ours, json=body)
            control = caller.request(method, missing, json=body)
            assert marker not in got.text, (caller.name, method, ours, got.text[:300])
            assert method == "get" or got.status_code >= 400, (caller.name, method, ours, got.status_code, got.text[:300])
            replaced = [*substituted, *(missing_like(v) for v in substituted)]
            assert normalized(got, *replaced) == normalized(control, *replaced), (
                caller.name, method, path, got.status_code, got.text[:200], control.status_code, control.text[:200])
            checked += 1
    assert checked > 300
    assert snapshot(first, first_ids, names) == before


def test_names_and_otel_ids_resolve_to_the_callers_own_objects(tenants):
    first, second, first_ids, second_ids, names, marker, _ = tenants
    for caller in second.principals:
        by_name = [
            f"/v1/projects/{names['project']}",
            f"/v1/projects/{names['project']}/spans",
            f"/v1/projects/{names['project']}/traces?include_spans=true",
            f"/v1/projects/{names['project']}/sessions",
            f"/v1/sessions/{SESSION_ID}",
            f"/v1/projects/{names['project']}/span_annotations?span_ids={SPAN_IDS[0]}",
            f"/v1/projects/{names['project']}/trace_annotations?trace_ids={TRACE_ID}",
            f"/v1/annotation_configs/{names['config']}",
            f"/v1/prompts/{names['prompt']}/versions",
            f"/v1/prompts/{names['prompt']}/latest",
            f"/v1/prompts/{names['prompt']}/tags/{names['tag']}",
            f"/v1/datasets?name={names['dataset']}",
        ]
        for path in by_name:
            r = caller.get(path)
            assert r.status_code == 200, (caller.name, path, r.status_code, r.text)
            assert marker not in r.text, (caller.name, path)
            assert "second-org-content" in r.text or "id" in r.text, (caller.name, path, r.text[:200])
        # Every list and query of the caller's own organization is free of the marker too.
        for path in ["/v1/projects", "/v1/datasets", "/v1/prompts", "/v1/annotation_configs", "/v1/dataset_labels",
                     "/v1/organizations", "/v1/user"]:
            r = caller.get(path)
            assert r.status_code in (200, 403) and marker not in r.text, (caller.name, path, r.status_code)
        # Cursors of the first organization's pages select nothing of it.
        for path in ["/v1/projects", "/v1/datasets", "/v1/prompts"]:
            r = caller.get(path, params={"cursor": first_ids[{"/v1/projects": "project", "/v1/datasets": "dataset",
                                                             "/v1/prompts": "prompt"}[path]]})
            assert marker not in r.text, (caller.name, path)
        # The span data-frame query and the client's span query.
        r = caller.post("/v1/spans", params={"project_name": names["project"]},
                        json={"queries": [{"select": {"input": {"key": "input.value"}}}], "limit": 100})
        assert r.status_code == 200 and marker not in r.text and "second-org-content" in r.text, (caller.name, r.text[:300])


def test_graphql_sees_only_the_callers_organization(tenants):
    first, second, first_ids, second_ids, names, marker, _ = tenants
    node_kinds = ["project", "trace", "span", "session", "dataset", "dataset_version", "example", "experiment",
                  "experiment_run", "prompt", "prompt_version", "span_annotation"]
    for caller in second.principals:
        for kind in node_kinds:
            query = "query($id: ID!) { node(id: $id) { id __typename } }"
            got = caller.graphql(query, id=first_ids[kind])
            control = caller.graphql(query, id=missing_like(first_ids[kind]))
            assert got.status_code == 200 and marker not in got.text
            assert normalized(got, first_ids[kind], missing_like(first_ids[kind])) == normalized(
                control, first_ids[kind], missing_like(first_ids[kind])), (caller.name, kind, got.text, control.text)
            assert got.json()["data"] is None or got.json()["data"]["node"] is None, (caller.name, kind, got.text)
        wide = """{
          projects { edges { node { name spans(first: 50) { edges { node { name input { value } spanAnnotations { label } } } } } } }
          datasets { edges { node { name description } } }
          prompts { edges { node { name description } } }
          getSpanByOtelId(spanId: "%s") { name input { value } }
          getTraceByOtelId(traceId: "%s") { traceId numSpans }
          getProjectSessionById(sessionId: "%s") { sessionId }
          getProjectByName(name: "%s") { name traceCount }
          projectCount datasetCount promptCount
        }""" % (SPAN_IDS[0], TRACE_ID, SESSION_ID, names["project"])
        r = caller.post("/graphql", json={"query": wide})
        assert r.status_code == 200 and marker not in r.text, (caller.name, r.text[:500])
        data = r.json()["data"]
        assert "second-org-content" in data["getSpanByOtelId"]["name"], data
        assert data["getTraceByOtelId"]["numSpans"] == 2


def test_writes_aimed_at_the_first_organization_change_nothing(tenants):
    first, second, first_ids, second_ids, names, marker, before = tenants
    writes = [
        ("delete", f"/v1/projects/{first_ids['project']}", None),
        ("put", f"/v1/projects/{first_ids['project']}", {"description": "hijacked"}),
        ("delete", f"/v1/spans/{first_ids['span']}", None),
        ("delete", f"/v1/traces/{first_ids['trace']}", None),
        ("delete", f"/v1/sessions/{first_ids['session']}", None),
        ("post", "/v1/sessions/delete", {"session_identifiers": [first_ids["session"]]}),
        ("post", "/v1/traces/transfer", {"trace_ids": [first_ids["trace"]], "destination_project": second_ids["project"]}),
        ("post", "/v1/traces/transfer", {"trace_ids": [second_ids["trace"]], "destination_project": first_ids["project"]}),
        ("delete", f"/v1/annotation_configs/{first_ids['config']}", None),
        ("put", f"/v1/annotation_configs/{first_ids['config']}", {"name": "x", "type": "FREEFORM"}),
        ("put", f"/v1/projects/{second_ids['project']}/annotation_configs/{first_ids['config']}", None),
        ("put", f"/v1/projects/{first_ids['project']}/annotation_configs/{second_ids['config']}", None),
        ("delete", f"/v1/datasets/{first_ids['dataset']}", None),
        ("post", "/v1/datasets/upload", {"action": "append", "name": first_ids["dataset"], "inputs": [{"q": 1}]}),
        ("patch", f"/v1/datasets/{first_ids['dataset']}/splits/{first_ids['split']}", {"name": "x"}),
        ("patch", f"/v1/datasets/{second_ids['dataset']}/splits/{first_ids['split']}", {"name": "x"}),
        ("post", f"/v1/datasets/{second_ids['dataset']}/splits", {"name": "s", "example_ids": [first_ids["example"]]}),
        ("delete", f"/v1/datasets/{second_ids['dataset']}/splits/{first_ids['split']}", None),
        ("put", f"/v1/datasets/{second_ids['dataset']}/labels/{first_ids['label']}", None),
        ("delete", f"/v1/dataset_labels/{first_ids['label']}", None),
        ("post", f"/v1/datasets/{first_ids['dataset']}/experiments", {"name": "x"}),
        ("post", f"/v1/datasets/{second_ids['dataset']}/experiments", {"name": "x", "version_id": first_ids["dataset_version"]}),
        ("post", f"/v1/datasets/{second_ids['dataset']}/experiments", {"name": "x", "splits": [first_ids["split"]]}),
        ("delete", f"/v1/experiments/{first_ids['experiment']}", None),
        ("patch", f"/v1/experiments/{first_ids['experiment']}", {"name": "x"}),
        ("post", f"/v1/experiments/{first_ids['experiment']}/runs",
         {"dataset_example_id": first_ids["example"], "output": 1, "repetition_number": 2, "start_time": iso(), "end_time": iso()}),
        ("post", f"/v1/experiments/{second_ids['experiment']}/runs",
         {"dataset_example_id": first_ids["example"], "output": 1, "repetition_number": 2, "start_time": iso(), "end_time": iso()}),
        ("post", "/v1/experiment_evaluations", {"experiment_run_id": first_ids["experiment_run"], "name": "correct",
                                                "annotator_kind": "CODE", "start_time": iso(), "end_time": iso(),
                                                "result": {"label": "x"}}),
        ("post", f"/v1/experiments/{first_ids['experiment']}/tags", {"name": "x"}),
        ("delete", f"/v1/experiments/{first_ids['experiment']}/tags/{names['tag']}", None),
        ("delete", f"/v1/prompts/{first_ids['prompt']}", None),
        ("patch", f"/v1/prompts/{first_ids['prompt']}", {"description": "x"}),
        ("post", f"/v1/prompts/{first_ids['prompt']}/versions", {"version": {}}),
        ("post", f"/v1/prompt_versions/{first_ids['prompt_version']}/tags", {"name": "x"}),
        ("delete", f"/v1/prompt_versions/{first_ids['prompt_version']}/tags/{names['tag']}", None),
        ("delete", f"/v1/users/{first_ids['user']}", None),
        ("delete", f"/v1/user/api_keys/{first_ids['user_api_key']}", None),
        ("delete", f"/v1/system/api_keys/{first_ids['system_api_key']}", None),
        ("post", f"/v1/organizations/{first_ids['organization']}/members", {"email": "x@example.com", "role": "ADMIN"}),
        ("delete", f"/v1/organizations/{first_ids['organization']}/members/{first_ids['user']}", None),
        ("patch", f"/v1/organizations/{first_ids['organization']}", {"name": "hijacked"}),
        ("delete", f"/v1/organizations/{first_ids['organization']}", None),
        ("post", "/v1/span_annotations?sync=true", {"data": [{"span_id": SPAN_IDS[0], "name": "quality",
                                                              "annotator_kind": "HUMAN", "result": {"label": "b"}}]}),
    ]
    first_values = set(first_ids.values())
    for caller in second.principals:
        for method, path, body in writes:
            r = caller.request(method, path, json=body)
            assert marker not in r.text, (caller.name, method, path)
            # Aimed at the first organization's object by id: refused, as for a missing object. (The
            # others name the caller's own objects and may succeed there; the first must not change.)
            if any(value in path for value in first_values):
                assert r.status_code in (403, 404, 422), (caller.name, method, path, r.status_code, r.text[:200])
    assert snapshot(first, first_ids, names) == before


def test_provider_secrets_and_server_experiments_stay_in_their_organization(tenants):
    from fake_llm import FakeLLM
    from test_models import prompt

    first, second, first_ids, second_ids, _, _, _ = tenants
    fake = FakeLLM(api_keys=("sk-first-org",)).start()
    try:
        first.admin.ok("put", "/v1/secrets", json={"secrets": [
            {"key": "OPENAI_API_KEY", "value": "sk-first-org"}, {"key": "OPENAI_BASE_URL", "value": fake.url + "/v1"}]})
        second.admin.ok("put", "/v1/secrets", json={"secrets": [{"key": "OPENAI_BASE_URL", "value": fake.url + "/v1"}]})
        # Secrets are an admin's to set; members and viewers cannot.
        assert first.member.put("/v1/secrets", json={"secrets": [{"key": "OPENAI_API_KEY", "value": "x"}]}).status_code == 403
        body = {"model": "openai:gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        assert first.member.post("/v1/chat/completions", json=body).status_code == 200
        # The second organization has no key of its own, and never borrows the first's (nor, with auth on,
        # the server's environment).
        r = second.member.post("/v1/chat/completions", json=body)
        assert r.status_code == 400 and "OPENAI_API_KEY" in r.json()["error"]["message"]
        assert [c.headers["authorization"] for c in fake.completions] == ["Bearer sk-first-org"]

        fake.latency = 0.5
        job = first.member.ok("post", "/v1/experiment_jobs", json={
            "dataset_id": first_ids["dataset"], "prompt": prompt(text="{{q}}"), "max_concurrency": 1})["data"]
        experiment = job["experiment_id"]
        for caller in second.principals:
            for method, path in [("get", f"/v1/experiment_jobs/{experiment}"), ("post", f"/v1/experiment_jobs/{experiment}/stop"),
                                 ("post", f"/v1/experiment_jobs/{experiment}/resume")]:
                assert caller.request(method, path).status_code in (403, 404), (caller.name, method, path)
            r = caller.post("/graphql", json={"query": "mutation($id: ID!) { stopExperiment(experimentId: $id) { job { status } } }",
                                              "variables": {"id": experiment}})
            assert r.status_code in (200, 403) and not (r.json().get("data") or {}).get("stopExperiment"), r.text
        # A viewer of the organization itself may look but not start, stop or resume.
        assert first.viewer.get(f"/v1/experiment_jobs/{experiment}").status_code == 200
        assert first.viewer.post(f"/v1/experiment_jobs/{experiment}/stop").status_code == 403
        deadline = time.monotonic() + 60
        while first.member.ok("get", f"/v1/experiment_jobs/{experiment}")["data"]["status"] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        done = first.member.ok("get", f"/v1/experiment_jobs/{experiment}")["data"]
        assert done["status"] == "COMPLETED" and done["progress"]["successful_runs"] == 1, done
    finally:
        fake.stop()


def test_custom_providers_and_playground_subscriptions_stay_in_their_organization(tenants):
    from fake_llm import FakeLLM
    from test_playground import CHAT, MULTIPART, multipart_payloads, prompt_version

    first, second, _, _, _, _, _ = tenants
    fake = FakeLLM(api_keys=("sk-custom-first",)).start()
    try:
        create = """mutation($input: CreateGenerativeModelCustomProviderMutationInput!) {
            createGenerativeModelCustomProvider(input: $input) { provider { id } } }"""
        config = {"openai": {"openaiAuthenticationMethod": {"apiKey": "sk-custom-first"}, "openaiClientKwargs": {"baseUrl": fake.url + "/v1"}}}
        variables = {"input": {"name": "shared-name", "provider": "vllm", "clientConfig": config}}
        # Custom providers hold keys: admins create them, members and viewers cannot.
        for caller in (first.member, first.viewer):
            r = caller.post("/graphql", json={"query": create, "variables": variables})
            assert r.status_code in (200, 403) and not (r.json().get("data") or {}).get("createGenerativeModelCustomProvider"), r.text
        provider = first.admin.ok("post", "/graphql", json={"query": create, "variables": variables})["data"]["createGenerativeModelCustomProvider"]["provider"]["id"]
        # The same name is free in another organization, and neither sees the other's.
        second.admin.ok("post", "/graphql", json={"query": create, "variables": variables})
        body = {"model": f"custom:{provider}:m", "messages": [{"role": "user", "content": "hi"}]}
        assert first.member.post("/v1/chat/completions", json=body).status_code == 200
        for caller in second.principals:
            assert caller.post("/v1/chat/completions", json=body).status_code in (403, 404), caller.name
            listed = caller.get("/v1/custom_model_providers")
            assert listed.status_code in (200, 403) and provider not in listed.text
            r = caller.post("/graphql", json={"query": "query($id: ID!) { node(id: $id) { id } }", "variables": {"id": provider}})
            assert not (r.json().get("data") or {}).get("node")
        # A member may use the playground; a viewer may not; nobody may reach another organization's provider.
        sub = {"query": CHAT, "variables": {"input": {"promptVersion": prompt_version("hi", model="m", customProviderId=provider), "repetitions": 1}}}
        r = first.member.post("/graphql", json=sub, headers={"Accept": MULTIPART})
        assert [m["payload"]["data"]["chatCompletion"]["__typename"] for m in multipart_payloads(r)][-1] == "ChatCompletionSubscriptionResult"
        r = first.viewer.post("/graphql", json=sub, headers={"Accept": MULTIPART})
        assert "Viewers cannot" in r.text
        r = second.member.post("/graphql", json=sub, headers={"Accept": MULTIPART})
        assert "Custom model provider not found" in r.text
        assert [c.headers["authorization"] for c in fake.completions] == ["Bearer sk-custom-first"] * 2
    finally:
        fake.stop()


def test_an_organizations_model_prices_price_only_its_own_spans(tenants):
    first, second, _, _, _, _, _ = tenants
    create = """mutation($input: CreateModelMutationInput!) { createModel(input: $input) { model { id } } }"""
    price = {"name": "tenant-house", "namePattern": "tenant-house-model",
             "costs": [{"tokenType": "input", "kind": "PROMPT", "costPerMillionTokens": 1000.0}]}
    model = first.member.ok("post", "/graphql", json={"query": create, "variables": {"input": price}})["data"]["createModel"]["model"]["id"]
    r = first.viewer.post("/graphql", json={"query": create, "variables": {"input": price | {"name": "viewer-price"}}})
    assert not (r.json().get("data") or {}).get("createModel"), r.text

    def send(org, project: str) -> float | None:
        body = otlp_json(project, "priced")
        # Fresh ids: span ids are unique per organization, and the seeded spans use the fixed ones.
        trace_id, root_id, child_id = uuid.uuid4().hex, uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
        for span, span_id, parent in zip(body["resourceSpans"][0]["scopeSpans"][0]["spans"], (root_id, child_id), ("", root_id)):
            span.update(traceId=trace_id, spanId=span_id, parentSpanId=parent)
            span["attributes"].append({"key": "llm.model_name", "value": {"stringValue": "tenant-house-model"}})
        assert org.user_key.post("/v1/traces", json=body).status_code == 200
        query = "query($n: String!) { getProjectByName(name: $n) { costSummary { total { cost } } spans(first: 5) { edges { node { id } } } } }"
        for _ in range(100):
            data = org.member.ok("post", "/graphql", json={"query": query, "variables": {"n": project}})["data"]["getProjectByName"]
            if data and len(data["spans"]["edges"]) == 2:
                return data["costSummary"]["total"]["cost"]
            time.sleep(0.1)
        raise AssertionError("the spans never appeared")

    assert send(first, unique_name("priced-first")) == pytest.approx(2 * 7 * 1000.0 / 1e6)
    assert send(second, unique_name("priced-second")) in (None, 0, 0.0)  # the first organization's price is not the second's
    for caller in second.principals:
        r = caller.post("/graphql", json={"query": "query($id: ID!) { node(id: $id) { id } }", "variables": {"id": model}})
        assert not (r.json().get("data") or {}).get("node")
        listed = caller.post("/graphql", json={"query": "{ generativeModels(first: 500) { edges { node { name } } } }"})
        assert "tenant-house" not in listed.text


def test_evaluators_and_online_rules_stay_in_their_organization(tenants):
    first, second, first_ids, second_ids, _, _, _ = tenants
    builtins = first.member.ok("post", "/graphql", json={"query": "{ builtInEvaluators { id name } }"})["data"]["builtInEvaluators"]
    contains = next(e["id"] for e in builtins if e["name"] == "contains")
    attach = """mutation($input: CreateDatasetBuiltinEvaluatorInput!) { createDatasetBuiltinEvaluator(input: $input) { evaluator { id } } }"""
    create_code = """mutation($input: CreateCodeEvaluatorInput!) { createCodeEvaluator(input: $input) { evaluator { id name } } }"""
    attach_code = """mutation($input: CreateDatasetCodeEvaluatorInput!) { createDatasetCodeEvaluator(input: $input) { evaluator { id } } }"""
    create_rule = """mutation($input: OnlineEvaluationRuleInput!) { createOnlineEvaluationRule(input: $input) { rule { id } } }"""
    code_name = f"tenant-code-{uuid.uuid4().hex[:8]}"

    def data(r: requests.Response, field: str) -> Any:
        return (r.json().get("data") or {}).get(field)

    attached = data(first.member.graphql(attach, input={"datasetId": first_ids["dataset"], "evaluatorId": contains, "name": "first-contains",
                                                        "inputMapping": {"pathMapping": {}, "literalMapping": {"words": "x"}}}), "createDatasetBuiltinEvaluator")
    code = data(first.member.graphql(create_code, input={"name": code_name, "sourceCode": "def evaluate(output):\n    return True\n",
                                                         "language": "PYTHON"}), "createCodeEvaluator")
    rule = data(first.member.graphql(create_rule, input={"projectId": first_ids["project"], "name": "first-rule",
                                                         "evaluator": {"builtInEvaluatorId": contains}}), "createOnlineEvaluationRule")
    assert attached and code and rule
    # Viewers read, and never write.
    assert not data(first.viewer.graphql(create_code, input={"name": "viewer-code", "sourceCode": "def evaluate():\n    return 1\n",
                                                            "language": "PYTHON"}), "createCodeEvaluator")
    for caller in second.principals:
        for node in (attached["evaluator"]["id"], code["evaluator"]["id"], rule["rule"]["id"]):
            assert not data(caller.graphql("query($id: ID!) { node(id: $id) { id } }", id=node), "node"), (caller.name, node)
        listed = caller.graphql("{ evaluators(first: 100) { edges { node { name } } } }")
        assert code_name not in listed.text
        # The first organization's dataset, code evaluator and project are not there to use.
        assert not data(caller.graphql(attach, input={"datasetId": first_ids["dataset"], "evaluatorId": contains, "name": "intruder",
                                                      "inputMapping": {"pathMapping": {}, "literalMapping": {"words": "x"}}}), "createDatasetBuiltinEvaluator")
        assert not data(caller.graphql(attach_code, input={"datasetId": second_ids["dataset"], "evaluatorId": code["evaluator"]["id"],
                                                           "name": "borrowed"}), "createDatasetCodeEvaluator")
        assert not data(caller.graphql(create_rule, input={"projectId": first_ids["project"], "name": "intruder-rule",
                                                           "evaluator": {"builtInEvaluatorId": contains}}), "createOnlineEvaluationRule")
    mine = first.member.ok("post", "/graphql", json={"query": "{ evaluators(first: 100) { edges { node { name } } } }"})
    assert code_name in json.dumps(mine)
