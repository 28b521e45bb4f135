"""Prompts through arize-phoenix-client 3.5.0 (and raw HTTP where the client has no call).

Phoenix behaviours these tests pin (Phoenix 20.26.1, src/phoenix/server/api/routers/v1/prompts.py):
- Prompt names and tag names are identifiers: ^[a-z0-9]([_a-z0-9-]*[a-z0-9])?$ (422 otherwise, also when
  such a name is used as a path identifier).
- POST /v1/prompts creates the prompt on first use and otherwise appends a version (the prompt's
  description/metadata in the body are then ignored). Only CHAT templates are accepted.
- "latest" is the version with the highest id; version lists and prompt lists are newest first (id DESC);
  next_cursor is null on the last page.
- A tag name is unique per prompt: tagging another version of the same prompt moves the tag (upsert on
  (name, prompt_id)); tags of a version are listed newest first; DELETE /v1/prompt_versions/{id}/tags/{name}
  resolves the name within the version's prompt.
- Optional fields that are unset (tools, response_format) are left out of version bodies.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import httpx
import pytest
import requests

from phoenix.client.types.prompts import PromptVersion

from conftest import unique_name

UNKNOWN_ROWID = 999_999_999


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def gid(type_name: str, rowid: int) -> str:
    return base64.b64encode(f"{type_name}:{rowid}".encode()).decode()


def rowid(value: str, expected_type: str) -> int:
    assert isinstance(value, str) and value, value
    type_name, _, n = base64.b64decode(value).decode().partition(":")
    assert type_name == expected_type and n.isdigit(), (value, expected_type)
    return int(n)


def prompt_name(prefix: str = "prompt") -> str:
    return unique_name(prefix)  # "<prefix>-<12 lowercase hex>": a valid identifier


def patch(cinder, path: str, **kw: Any) -> requests.Response:
    kw.setdefault("timeout", 30)
    return requests.patch(cinder.base_url + path, **kw)


def assert_same_version(got: dict, sent: dict) -> None:
    """Every field that was sent comes back unchanged; anything else is the id or an empty value."""
    for key, value in sent.items():
        assert key in got, (key, got)
        assert got[key] == value, (key, got[key], value)
    for key in set(got) - set(sent):
        if key == "id":
            rowid(got["id"], "PromptVersion")
        else:
            assert got[key] in (None, {}, ""), (key, got[key])


def latest_raw(cinder, identifier: str) -> dict:
    r = cinder.get(f"/v1/prompts/{identifier}/latest")
    assert r.status_code == 200, r.text
    return r.json()["data"]


def list_versions(cinder, identifier: str, **params: Any) -> dict:
    r = cinder.get(f"/v1/prompts/{identifier}/versions", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def all_prompts(cinder) -> list[dict]:
    out, cursor = [], None
    for _ in range(1000):
        params = {"limit": 50}
        if cursor:
            params["cursor"] = cursor
        r = cinder.get("/v1/prompts", params=params)
        assert r.status_code == 200, r.text
        out += r.json()["data"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError("prompt pagination does not terminate")


def prompt_record(cinder, name: str) -> dict:
    matches = [p for p in all_prompts(cinder) if p["name"] == name]
    assert len(matches) == 1, matches
    return matches[0]


def tag_names(client, version_id: str) -> list[str]:
    return [t["name"] for t in client.prompts.tags.list(prompt_version_id=version_id)]


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": True,
    },
}
ANSWER_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "schema": {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
        "strict": True,
    },
}


def weather_version(description: str = "weather v1") -> PromptVersion:
    """OpenAI chat prompt with f-string variables, invocation parameters, a tool and a JSON response format."""
    return PromptVersion.from_openai(
        {
            "model": "gpt-4o",
            "temperature": 0.2,
            "max_tokens": 256,
            "top_p": 0.9,
            "seed": 7,
            "stop": ["END"],
            "messages": [
                {"role": "system", "content": "You answer weather questions about {city}."},
                {"role": "user", "content": "{question}"},
            ],
            "tools": [WEATHER_TOOL],
            "tool_choice": "required",
            "parallel_tool_calls": False,
            "response_format": ANSWER_FORMAT,
        },
        template_format="F_STRING",
        description=description,
    )


def translate_version(description: str = "translate", temperature: float = 0.3,
                      model: str = "gpt-4o-mini") -> PromptVersion:
    """OpenAI chat prompt with mustache variables and a multi-part user message."""
    return PromptVersion.from_openai(
        {
            "model": model,
            "temperature": temperature,
            "messages": [
                {"role": "system", "content": "You are {{persona}}."},
                {"role": "user", "content": [{"type": "text", "text": "Translate {{text}}"},
                                             {"type": "text", "text": " into {{lang}}."}]},
                {"role": "assistant", "content": "Sure, {{name}}."},
            ],
        },
        description=description,
    )


def anthropic_body(description: str = "anthropic") -> dict:
    return {
        "description": description,
        "model_provider": "ANTHROPIC",
        "model_name": "claude-sonnet-4",
        "template": {"type": "chat", "messages": [
            {"role": "system", "content": "Be {{tone}}."},
            {"role": "user", "content": [{"type": "text", "text": "Hi, I am {{name}}."}]},
            {"role": "assistant", "content": "Hello {{name}}!"},
            {"role": "user", "content": "Summarise {{topic}}."},
        ]},
        "template_type": "CHAT",
        "template_format": "MUSTACHE",
        "invocation_parameters": {"type": "anthropic", "anthropic": {
            "max_tokens": 512, "temperature": 0.1, "top_p": 0.8, "stop_sequences": ["STOP"]}},
    }


def minimal_body() -> dict:
    return {
        "model_provider": "OPENAI",
        "model_name": "gpt-4o-mini",
        "template": {"type": "chat", "messages": [{"role": "user", "content": "Say {{word}}"}]},
        "template_type": "CHAT",
        "template_format": "MUSTACHE",
        "invocation_parameters": {"type": "openai", "openai": {}},
    }


# --------------------------------------------------------------------------------------------------
# Create and read back
# --------------------------------------------------------------------------------------------------


def test_create_prompt_round_trips_every_field(client, cinder):
    name = prompt_name()
    version = weather_version()
    sent = version._dumps()
    assert set(sent) == {"model_provider", "model_name", "template", "template_type", "template_format",
                         "invocation_parameters", "tools", "response_format", "description"}
    created = client.prompts.create(name=name, version=version, prompt_description="Weather assistant",
                                    prompt_metadata={"team": "ml", "tier": 1})
    rowid(created.id, "PromptVersion")
    assert created._dumps() == sent

    latest = client.prompts.get(prompt_identifier=name)
    assert latest.id == created.id
    assert latest._dumps() == sent
    by_id = client.prompts.get(prompt_version_id=created.id)
    assert by_id.id == created.id and by_id._dumps() == sent

    raw = latest_raw(cinder, name)
    assert raw["id"] == created.id
    assert_same_version(raw, sent)
    assert raw["invocation_parameters"] == {"type": "openai", "openai": {
        "temperature": 0.2, "max_tokens": 256, "top_p": 0.9, "seed": 7, "stop": ["END"]}}
    assert raw["tools"] == {"type": "tools", "tools": [WEATHER_TOOL], "tool_choice": {"type": "one_or_more"},
                            "disable_parallel_tool_calls": True}
    assert raw["response_format"] == ANSWER_FORMAT
    assert (raw["template_type"], raw["template_format"], raw["model_provider"], raw["model_name"],
            raw["description"]) == ("CHAT", "F_STRING", "OPENAI", "gpt-4o", "weather v1")

    prompt = prompt_record(cinder, name)
    rowid(prompt["id"], "Prompt")
    assert (prompt["description"], prompt["metadata"]) == ("Weather assistant", {"team": "ml", "tier": 1})
    assert prompt.get("source_prompt_id") is None
    # The prompt's GlobalID works wherever its name does.
    assert latest_raw(cinder, prompt["id"]) == raw
    assert client.prompts.get(prompt_identifier=prompt["id"]).id == created.id


def test_messages_with_tool_calls_round_trip(client, cinder):
    """Every template/tool shape of the spec, sent raw: tool_call and tool_result parts, a raw tool, a
    specific-function tool choice, parallel tool calls allowed, reasoning effort and extra_body."""
    name = prompt_name("tools")
    version = {
        "description": "agent step",
        "model_provider": "OPENAI",
        "model_name": "o4-mini",
        "template": {"type": "chat", "messages": [
            {"role": "developer", "content": "Use tools for {{task}}."},
            {"role": "user", "content": [{"type": "text", "text": "Weather in {{city}}?"}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_call", "tool_call_id": "call_1",
                 "tool_call": {"type": "function", "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
            {"role": "tool", "content": [
                {"type": "tool_result", "tool_call_id": "call_1", "tool_result": {"temp_c": 21, "rain": False}}]},
            {"role": "assistant", "content": "It is 21 degrees."},
        ]},
        "template_type": "CHAT",
        "template_format": "MUSTACHE",
        "invocation_parameters": {"type": "openai", "openai": {
            "max_completion_tokens": 1000, "reasoning_effort": "low", "frequency_penalty": 0.5,
            "presence_penalty": -0.25, "extra_body": {"service_tier": "flex", "nested": {"a": [1, 2]}}}},
        "tools": {"type": "tools",
                  "tools": [WEATHER_TOOL, {"type": "raw", "raw": {"type": "web_search_preview", "size": "low"}}],
                  "tool_choice": {"type": "specific_function", "function_name": "get_weather"},
                  "disable_parallel_tool_calls": False},
        "response_format": ANSWER_FORMAT,
    }
    r = cinder.post("/v1/prompts", json={"prompt": {"name": name, "description": "tools",
                                                    "metadata": {"owner": "e2e"}},
                                         "version": version})
    assert r.status_code == 200, r.text
    created = r.json()["data"]
    assert_same_version(created, version)
    vid = created["id"]
    r = cinder.get(f"/v1/prompt_versions/{vid}")
    assert r.status_code == 200, r.text
    assert r.json()["data"] == created
    assert latest_raw(cinder, name) == created
    # The client parses it.
    assert client.prompts.get(prompt_version_id=vid)._dumps() == version


def test_versions_latest_by_id_and_order(client, cinder):
    name = prompt_name("versions")
    v1 = client.prompts.create(name=name, version=translate_version("first", 0.1),
                               prompt_description="translation prompt")
    v2 = client.prompts.create(name=name, version=translate_version("second", 0.5, model="gpt-4o"),
                               prompt_description="ignored for an existing prompt")
    r = cinder.post("/v1/prompts", json={"prompt": {"name": name}, "version": anthropic_body("third")})
    assert r.status_code == 200, r.text
    v3_id = r.json()["data"]["id"]
    ids = [v1.id, v2.id, v3_id]
    assert [rowid(i, "PromptVersion") for i in ids] == sorted(rowid(i, "PromptVersion") for i in ids)
    assert len(set(ids)) == 3

    assert client.prompts.get(prompt_identifier=name).id == v3_id
    assert client.prompts.get(prompt_version_id=v1.id)._dumps() == translate_version("first", 0.1)._dumps()
    assert client.prompts.get(prompt_version_id=v2.id)._dumps() == translate_version(
        "second", 0.5, model="gpt-4o")._dumps()
    assert_same_version(latest_raw(cinder, name), anthropic_body("third"))

    # The prompt keeps the description it was created with.
    prompt = prompt_record(cinder, name)
    assert prompt["description"] == "translation prompt"

    body = list_versions(cinder, name)
    assert [v["id"] for v in body["data"]] == [v3_id, v2.id, v1.id]  # newest first
    assert body["next_cursor"] is None
    assert_same_version(body["data"][2], translate_version("first", 0.1)._dumps())
    assert_same_version(body["data"][0], anthropic_body("third"))

    page1 = list_versions(cinder, name, limit=2)
    assert [v["id"] for v in page1["data"]] == [v3_id, v2.id]
    assert page1["next_cursor"]
    page2 = list_versions(cinder, name, limit=2, cursor=page1["next_cursor"])
    assert [v["id"] for v in page2["data"]] == [v1.id]
    assert page2["next_cursor"] is None
    exact = list_versions(cinder, name, limit=3)
    assert len(exact["data"]) == 3 and exact["next_cursor"] is None
    # By the prompt's GlobalID.
    assert [v["id"] for v in list_versions(cinder, prompt["id"])["data"]] == [v3_id, v2.id, v1.id]
    assert cinder.get(f"/v1/prompts/{name}/versions", params={"limit": 0}).status_code == 422


def test_create_version_endpoint_with_tags(client, cinder):
    name = prompt_name("newver")
    v1 = client.prompts.create(name=name, version=translate_version("v1"))
    body = {"version": weather_version("v2")._dumps(), "tags": [{"name": "staging", "description": "qa"},
                                                               {"name": "canary"}]}
    r = cinder.post(f"/v1/prompts/{name}/versions", json=body)
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    assert_same_version(created, body["version"])
    assert rowid(created["id"], "PromptVersion") > rowid(v1.id, "PromptVersion")
    assert client.prompts.get(prompt_identifier=name).id == created["id"]
    assert client.prompts.get(prompt_identifier=name, tag="staging").id == created["id"]
    assert client.prompts.get(prompt_identifier=name, tag="canary").id == created["id"]
    tags = {t["name"]: t for t in client.prompts.tags.list(prompt_version_id=created["id"])}
    assert set(tags) == {"staging", "canary"}
    assert tags["staging"]["description"] == "qa"
    assert tags["canary"].get("description") is None
    assert tag_names(client, v1.id) == []
    assert [v["id"] for v in list_versions(cinder, name)["data"]] == [created["id"], v1.id]

    # Without tags, by the prompt's GlobalID.
    pid = prompt_record(cinder, name)["id"]
    r = cinder.post(f"/v1/prompts/{pid}/versions", json={"version": minimal_body()})
    assert r.status_code == 201, r.text
    assert latest_raw(cinder, name)["id"] == r.json()["data"]["id"]

    assert cinder.post(f"/v1/prompts/{prompt_name('nosuch')}/versions",
                       json={"version": minimal_body()}).status_code == 404
    r = cinder.post(f"/v1/prompts/{name}/versions", json={"version": {**minimal_body(), "model_provider": "NOPE"}})
    assert r.status_code == 422, r.text
    r = cinder.post(f"/v1/prompts/{name}/versions", json={"version": minimal_body(), "tags": [{"name": "Bad Tag"}]})
    assert r.status_code == 422, r.text
    assert len(list_versions(cinder, name)["data"]) == 3


def test_list_prompts(client, cinder):
    names = [prompt_name("listing") for _ in range(3)]
    for i, n in enumerate(names):
        client.prompts.create(name=n, version=translate_version(f"v-{i}"), prompt_description=f"prompt {i}",
                              prompt_metadata={"i": i})
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = cinder.get("/v1/prompts", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += body["data"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(body["data"]) == 2
        assert pages < 500
    by_name = {p["name"]: p for p in seen}
    assert len(by_name) == len(seen)
    for i, n in enumerate(names):
        p = by_name[n]
        rowid(p["id"], "Prompt")
        assert (p["description"], p["metadata"]) == (f"prompt {i}", {"i": i})
    order = [p["name"] for p in seen]
    assert order.index(names[2]) < order.index(names[1]) < order.index(names[0])  # newest first
    ids = [rowid(p["id"], "Prompt") for p in seen]
    assert ids == sorted(ids, reverse=True)
    everything = cinder.get("/v1/prompts", params={"limit": 10000}).json()
    assert [p["id"] for p in everything["data"]] == [p["id"] for p in seen]
    assert everything["next_cursor"] is None


# --------------------------------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------------------------------


def test_tags_move_between_versions_and_delete(client, cinder):
    name = prompt_name("tags")
    v1 = client.prompts.create(name=name, version=translate_version("v1"))
    v2 = client.prompts.create(name=name, version=translate_version("v2"))
    other_name = prompt_name("tags-other")
    other = client.prompts.create(name=other_name, version=translate_version("other"))

    r = cinder.post(f"/v1/prompt_versions/{v1.id}/tags", json={"name": "production", "description": "live"})
    assert r.status_code == 204, r.text
    (tag,) = client.prompts.tags.list(prompt_version_id=v1.id)
    rowid(tag["id"], "PromptVersionTag")
    assert (tag["name"], tag["description"]) == ("production", "live")
    assert client.prompts.get(prompt_identifier=name, tag="production").id == v1.id
    assert latest_raw(cinder, name)["id"] == v2.id  # tags do not change "latest"

    # The same name on another prompt is a different tag.
    client.prompts.tags.create(prompt_version_id=other.id, name="production", description="other live")
    assert client.prompts.get(prompt_identifier=other_name, tag="production").id == other.id
    assert client.prompts.get(prompt_identifier=name, tag="production").id == v1.id

    # Tagging another version of the same prompt moves the tag (one row per (prompt, name)).
    client.prompts.tags.create(prompt_version_id=v2.id, name="production")
    assert tag_names(client, v1.id) == []
    (moved,) = client.prompts.tags.list(prompt_version_id=v2.id)
    assert moved["name"] == "production" and moved.get("description") is None
    assert moved["id"] == tag["id"]
    assert client.prompts.get(prompt_identifier=name, tag="production").id == v2.id
    r = cinder.get(f"/v1/prompts/{name}/tags/production")
    assert r.status_code == 200 and r.json()["data"]["id"] == v2.id

    client.prompts.tags.create(prompt_version_id=v2.id, name="canary", description="5%")
    assert tag_names(client, v2.id) == ["canary", "production"]  # newest first
    r = cinder.get(f"/v1/prompt_versions/{v2.id}/tags", params={"limit": 1})
    assert r.status_code == 200, r.text
    assert [t["name"] for t in r.json()["data"]] == ["canary"]
    assert r.json()["next_cursor"]  # (the next page itself is not checked: Phoenix's tag cursor repeats a row)
    r = cinder.get(f"/v1/prompt_versions/{v2.id}/tags", params={"limit": 2})
    assert [t["name"] for t in r.json()["data"]] == ["canary", "production"]
    assert r.json()["next_cursor"] is None

    # Deleting resolves the name within the version's prompt (canary is on v2, deleted through v1).
    assert cinder.delete(f"/v1/prompt_versions/{v1.id}/tags/canary").status_code == 204
    assert tag_names(client, v2.id) == ["production"]
    assert cinder.delete(f"/v1/prompt_versions/{v2.id}/tags/production").status_code == 204
    assert tag_names(client, v2.id) == []
    with pytest.raises(ValueError):
        client.prompts.get(prompt_identifier=name, tag="production")
    assert cinder.get(f"/v1/prompts/{name}/tags/production").status_code == 404
    assert cinder.delete(f"/v1/prompt_versions/{v2.id}/tags/production").status_code == 404
    # The other prompt's tag is untouched.
    assert client.prompts.get(prompt_identifier=other_name, tag="production").id == other.id
    assert [(t["name"], t["description"]) for t in client.prompts.tags.list(prompt_version_id=other.id)] == [
        ("production", "other live")]


def test_tag_validation(client, cinder):
    name = prompt_name("tagval")
    v = client.prompts.create(name=name, version=translate_version())
    for bad in ("Has Space", "UPPER", "-lead", "trail-", "under_", ""):
        r = cinder.post(f"/v1/prompt_versions/{v.id}/tags", json={"name": bad})
        assert r.status_code == 422, (bad, r.text)
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.prompts.tags.create(prompt_version_id=v.id, name="Bad Tag")
    assert e.value.response.status_code == 422
    assert cinder.post(f"/v1/prompt_versions/{v.id}/tags", json={}).status_code == 422
    assert tag_names(client, v.id) == []
    assert cinder.get(f"/v1/prompts/{name}/tags/Bad%20Tag").status_code == 422
    assert cinder.get(f"/v1/prompts/{name}/tags/never-set").status_code == 404
    assert cinder.delete(f"/v1/prompt_versions/{v.id}/tags/Bad%20Tag").status_code == 422
    assert cinder.delete(f"/v1/prompt_versions/{v.id}/tags/never-set").status_code == 404
    # Valid edge cases.
    for good in ("a", "0", "a-b_c", "v2"):
        client.prompts.tags.create(prompt_version_id=v.id, name=good)
    assert sorted(tag_names(client, v.id)) == ["0", "a", "a-b_c", "v2"]


# --------------------------------------------------------------------------------------------------
# Formatting (client side, from what the server returned)
# --------------------------------------------------------------------------------------------------


def test_format_mustache_prompt(client):
    name = prompt_name("fmt-mustache")
    client.prompts.create(name=name, version=translate_version("mustache", 0.3))
    prompt = client.prompts.get(prompt_identifier=name)
    formatted = prompt.format(variables={"persona": "a translator", "text": "hello", "lang": "French",
                                         "name": "Bob"})
    assert list(formatted.messages) == [
        {"role": "system", "content": "You are a translator."},
        {"role": "user", "content": [{"type": "text", "text": "Translate hello"},
                                     {"type": "text", "text": " into French."}]},
        {"role": "assistant", "content": "Sure, Bob."},
    ]
    assert dict(formatted.kwargs) == {"model": "gpt-4o-mini", "temperature": 0.3}


def test_format_fstring_prompt_with_tools(client):
    name = prompt_name("fmt-fstring")
    client.prompts.create(name=name, version=weather_version())
    prompt = client.prompts.get(prompt_identifier=name)
    formatted = prompt.format(variables={"city": "Paris", "question": "Is it raining?"})
    assert list(formatted.messages) == [
        {"role": "system", "content": "You answer weather questions about Paris."},
        {"role": "user", "content": "Is it raining?"},
    ]
    assert dict(formatted.kwargs) == {
        "model": "gpt-4o", "max_tokens": 256, "temperature": 0.2, "top_p": 0.9, "seed": 7, "stop": ["END"],
        "tools": [WEATHER_TOOL], "tool_choice": "required", "response_format": ANSWER_FORMAT}


def test_format_none_and_anthropic_prompts(client, cinder):
    name = prompt_name("fmt-none")
    client.prompts.create(name=name, version=PromptVersion(
        [{"role": "user", "content": "Keep {{braces}} and {x} as they are"}], model_name="gpt-4o-mini",
        template_format="NONE", description="literal"))
    prompt = client.prompts.get(prompt_identifier=name)
    assert list(prompt.format(variables={"braces": "no", "x": "no"}).messages) == [
        {"role": "user", "content": "Keep {{braces}} and {x} as they are"}]

    name = prompt_name("fmt-anthropic")
    r = cinder.post("/v1/prompts", json={"prompt": {"name": name}, "version": anthropic_body()})
    assert r.status_code == 200, r.text
    assert_same_version(r.json()["data"], anthropic_body())
    prompt = client.prompts.get(prompt_identifier=name)
    assert prompt._dumps() == anthropic_body()
    formatted = prompt.format(variables={"tone": "brief", "name": "Ann", "topic": "rain"})
    assert list(formatted.messages) == [
        {"role": "user", "content": "Hi, I am Ann."},
        {"role": "assistant", "content": "Hello Ann!"},
        {"role": "user", "content": "Summarise rain."},
    ]
    kwargs = dict(formatted.kwargs)
    assert (kwargs["model"], kwargs["max_tokens"], kwargs["stop_sequences"]) == ("claude-sonnet-4", 512, ["STOP"])


def test_version_without_optional_fields(client, cinder):
    name = prompt_name("minimal")
    created = client.prompts.create(name=name, version=PromptVersion(
        [{"role": "user", "content": "Say {{word}}"}], model_name="gpt-4o-mini"))
    raw = latest_raw(cinder, name)
    assert raw["id"] == created.id
    assert_same_version(raw, minimal_body())
    assert raw.get("tools") is None and raw.get("response_format") is None
    assert raw.get("description") in (None, "")
    prompt = client.prompts.get(prompt_identifier=name)
    formatted = prompt.format(variables={"word": "hi"})
    assert list(formatted.messages) == [{"role": "user", "content": "Say hi"}]
    assert dict(formatted.kwargs) == {"model": "gpt-4o-mini"}
    record = prompt_record(cinder, name)
    assert record.get("description") is None
    assert record.get("metadata") in (None, {})


# --------------------------------------------------------------------------------------------------
# PATCH and DELETE
# --------------------------------------------------------------------------------------------------


def test_patch_prompt(client, cinder):
    name = prompt_name("patch")
    v = client.prompts.create(name=name, version=translate_version(), prompt_description="original",
                              prompt_metadata={"a": 1})
    pid = prompt_record(cinder, name)["id"]

    updated = client.prompts.update(prompt_identifier=name, prompt_description="updated")
    assert (updated["id"], updated["name"], updated["description"], updated["metadata"]) == (
        pid, name, "updated", {"a": 1})
    updated = client.prompts.update(prompt_identifier=name, prompt_metadata={"b": [1, 2], "c": {"d": None}})
    assert (updated["description"], updated["metadata"]) == ("updated", {"b": [1, 2], "c": {"d": None}})
    record = prompt_record(cinder, name)
    assert (record["description"], record["metadata"]) == ("updated", {"b": [1, 2], "c": {"d": None}})

    # By GlobalID; null clears the description.
    updated = client.prompts.update(prompt_identifier=pid, prompt_description=None)
    assert updated.get("description") is None and updated["metadata"] == {"b": [1, 2], "c": {"d": None}}
    assert prompt_record(cinder, name).get("description") is None
    r = patch(cinder, f"/v1/prompts/{name}", json={"description": "both", "metadata": {"z": True}})
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["description"], r.json()["data"]["metadata"]) == ("both", {"z": True})
    # Versions are untouched.
    assert latest_raw(cinder, name)["id"] == v.id
    assert [x["id"] for x in list_versions(cinder, name)["data"]] == [v.id]

    assert patch(cinder, f"/v1/prompts/{name}", json={"metadata": None}).status_code == 422
    assert patch(cinder, f"/v1/prompts/{name}", json={"metadata": "text"}).status_code == 422
    assert patch(cinder, f"/v1/prompts/Bad%20Name", json={"description": "x"}).status_code == 422
    record = prompt_record(cinder, name)
    assert (record["description"], record["metadata"]) == ("both", {"z": True})
    with pytest.raises(ValueError):
        client.prompts.update(prompt_identifier=prompt_name("nosuch"), prompt_description="x")
    assert patch(cinder, f"/v1/prompts/{gid('Prompt', UNKNOWN_ROWID)}", json={"description": "x"}).status_code == 404


def test_delete_prompt(client, cinder):
    name = prompt_name("delete")
    v1 = client.prompts.create(name=name, version=translate_version("v1"))
    v2 = client.prompts.create(name=name, version=translate_version("v2"))
    client.prompts.tags.create(prompt_version_id=v2.id, name="production")
    keep = prompt_name("keep")
    kept = client.prompts.create(name=keep, version=translate_version("kept"))

    client.prompts.delete(prompt_identifier=name)
    with pytest.raises(ValueError):
        client.prompts.get(prompt_identifier=name)
    for vid in (v1.id, v2.id):
        assert cinder.get(f"/v1/prompt_versions/{vid}").status_code == 404
        assert cinder.get(f"/v1/prompt_versions/{vid}/tags").status_code == 404
    assert cinder.get(f"/v1/prompts/{name}/tags/production").status_code == 404
    assert all(p["name"] != name for p in all_prompts(cinder))
    with pytest.raises(ValueError):
        client.prompts.delete(prompt_identifier=name)
    assert client.prompts.get(prompt_identifier=keep).id == kept.id

    # The name can be used again; it is a new prompt with a single version.
    again = client.prompts.create(name=name, version=translate_version("again"), prompt_description="reborn")
    assert again.id not in (v1.id, v2.id)
    assert [v["id"] for v in list_versions(cinder, name)["data"]] == [again.id]
    assert tag_names(client, again.id) == []
    record = prompt_record(cinder, name)
    assert record["description"] == "reborn"

    # By GlobalID.
    client.prompts.delete(prompt_identifier=record["id"])
    assert cinder.get(f"/v1/prompts/{name}/latest").status_code == 404
    assert cinder.delete(f"/v1/prompts/{record['id']}").status_code == 404


# --------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------


def test_invalid_prompt_names(client, cinder):
    for bad in ("Has Space", "UPPER", "-leading", "trailing-", "under_", "dot.name", "a/b", "émoji", ""):
        r = cinder.post("/v1/prompts", json={"prompt": {"name": bad}, "version": minimal_body()})
        assert r.status_code == 422, (bad, r.status_code, r.text)
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.prompts.create(name="Not Valid", version=translate_version())
    assert e.value.response.status_code == 422
    names = {p["name"] for p in all_prompts(cinder)}
    assert not names & {"Has Space", "UPPER", "-leading", "trailing-", "under_", "dot.name", "a/b", "Not Valid"}
    # As a path identifier, an invalid name is a 422 (not a 404).
    assert cinder.get("/v1/prompts/Not%20Valid/latest").status_code == 422
    assert cinder.get("/v1/prompts/UPPER/versions").status_code == 422
    assert cinder.delete("/v1/prompts/Not%20Valid").status_code == 422

    # Valid edge cases: digits first, underscores and hyphens inside.
    suffix = prompt_name("x").split("-")[1]
    for good in (f"0{suffix}", f"{suffix}_a-b", f"z{suffix}9"):
        r = cinder.post("/v1/prompts", json={"prompt": {"name": good}, "version": minimal_body()})
        assert r.status_code == 200, (good, r.text)
        assert latest_raw(cinder, good)["id"] == r.json()["data"]["id"]


@pytest.mark.parametrize("case", [
    "string-template", "template-type-mismatch", "bad-temperature", "unknown-invocation-key",
    "invocation-type-key-mismatch", "anthropic-without-max-tokens", "unknown-invocation-type",
    "invocation-not-object", "unknown-provider", "unknown-template-format", "unknown-role", "empty-content-parts",
    "unknown-content-part", "extra-message-key", "empty-tools", "unknown-response-format", "missing-model-name",
    "missing-invocation-parameters", "missing-template",
])
def test_invalid_version_payloads(cinder, case):
    body = minimal_body()
    mutate = {
        "string-template": lambda b: b.update(template={"type": "string", "template": "Say {{word}}"},
                                              template_type="STR"),
        "template-type-mismatch": lambda b: b.update(template={"type": "string", "template": "Say {{word}}"}),
        "bad-temperature": lambda b: b.update(invocation_parameters={"type": "openai",
                                                                     "openai": {"temperature": "hot"}}),
        "unknown-invocation-key": lambda b: b.update(invocation_parameters={"type": "openai",
                                                                            "openai": {"warmth": 1}}),
        "invocation-type-key-mismatch": lambda b: b.update(invocation_parameters={
            "type": "openai", "anthropic": {"max_tokens": 5}}),
        "anthropic-without-max-tokens": lambda b: b.update(model_provider="ANTHROPIC", invocation_parameters={
            "type": "anthropic", "anthropic": {"temperature": 0.5}}),
        "unknown-invocation-type": lambda b: b.update(invocation_parameters={"type": "banana", "banana": {}}),
        "invocation-not-object": lambda b: b.update(invocation_parameters=[0.5]),
        "unknown-provider": lambda b: b.update(model_provider="NOPE"),
        "unknown-template-format": lambda b: b.update(template_format="JINJA"),
        "unknown-role": lambda b: b["template"].update(messages=[{"role": "narrator", "content": "x"}]),
        "empty-content-parts": lambda b: b["template"].update(messages=[{"role": "user", "content": []}]),
        "unknown-content-part": lambda b: b["template"].update(messages=[
            {"role": "user", "content": [{"type": "image", "url": "https://example.com/x.png"}]}]),
        "extra-message-key": lambda b: b["template"].update(messages=[
            {"role": "user", "content": "x", "name": "bob"}]),
        "empty-tools": lambda b: b.update(tools={"type": "tools", "tools": []}),
        "unknown-response-format": lambda b: b.update(response_format={"type": "json_object"}),
        "missing-model-name": lambda b: b.pop("model_name"),
        "missing-invocation-parameters": lambda b: b.pop("invocation_parameters"),
        "missing-template": lambda b: b.pop("template"),
    }[case]
    body = copy.deepcopy(body)
    mutate(body)
    name = prompt_name("invalid")
    r = cinder.post("/v1/prompts", json={"prompt": {"name": name}, "version": body})
    assert r.status_code == 422, (case, r.status_code, r.text)
    assert cinder.get(f"/v1/prompts/{name}/latest").status_code == 404  # nothing was created


def test_unknown_prompt_and_version(client, cinder):
    missing = prompt_name("missing")
    missing_version = gid("PromptVersion", UNKNOWN_ROWID)
    with pytest.raises(ValueError):
        client.prompts.get(prompt_identifier=missing)
    with pytest.raises(ValueError):
        client.prompts.get(prompt_identifier=missing, tag="production")
    with pytest.raises(ValueError):
        client.prompts.get(prompt_version_id=missing_version)
    with pytest.raises(ValueError):
        client.prompts.delete(prompt_identifier=missing)
    with pytest.raises(ValueError):
        client.prompts.update(prompt_identifier=missing, prompt_metadata={"a": 1})
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.prompts.tags.create(prompt_version_id=missing_version, name="production")
    assert e.value.response.status_code == 404
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.prompts.tags.list(prompt_version_id=missing_version)
    assert e.value.response.status_code == 404

    assert cinder.get(f"/v1/prompts/{missing}/latest").status_code == 404
    assert cinder.get(f"/v1/prompts/{gid('Prompt', UNKNOWN_ROWID)}/latest").status_code == 404
    assert cinder.get(f"/v1/prompts/{missing}/tags/production").status_code == 404
    assert cinder.get(f"/v1/prompt_versions/{missing_version}").status_code == 404
    assert cinder.delete(f"/v1/prompt_versions/{missing_version}/tags/production").status_code == 404
    assert cinder.delete(f"/v1/prompts/{gid('Prompt', UNKNOWN_ROWID)}").status_code == 404
    assert cinder.post(f"/v1/prompts/{missing}/versions", json={"version": minimal_body()}).status_code == 404
    # A node id of another type, or no node id at all, is not a prompt version id (422).
    assert cinder.get(f"/v1/prompt_versions/{gid('Prompt', 1)}").status_code == 422
    assert cinder.get("/v1/prompt_versions/not-a-node-id").status_code == 422
