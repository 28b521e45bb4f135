"""Hostile or racy input to the dataset, experiment and prompt endpoints: clear 4xx answers, the server
stays up, and nothing is half-written."""

from __future__ import annotations

import gzip
import threading

import requests

from conftest import unique_name


def _dataset_with_split(cinder, split: str) -> tuple[str, list[str]]:
    r = cinder.post("/v1/datasets/upload", params={"sync": "true"}, json={
        "name": unique_name("hard"), "inputs": [{"q": 1}, {"q": 2}, {"q": 3}], "splits": [split, split, None]})
    assert r.status_code == 200, r.text
    dataset_id = r.json()["data"]["dataset_id"]
    examples = cinder.get(f"/v1/datasets/{dataset_id}/examples").json()["data"]["examples"]
    return dataset_id, [e["node_id"] for e in examples]


def test_file_part_without_a_media_type_is_read_as_csv(cinder):
    # A part whose Content-Type header is empty used to index an empty list; it must be answered.
    boundary = "cinderboundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n{unique_name('noct')}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"input_keys[]\"\r\n\r\nq\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.csv\"\r\nContent-Type: ;\r\n\r\n"
        f"q\r\nhello\r\n--{boundary}--\r\n"
    ).encode()
    r = requests.post(cinder.base_url + "/v1/datasets/upload?sync=true", data=body,
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout=30)
    assert r.status_code == 200, r.text
    examples = cinder.get(f"/v1/datasets/{r.json()['data']['dataset_id']}/examples").json()["data"]["examples"]
    assert [e["input"] for e in examples] == [{"q": "hello"}]
    assert cinder.get("/healthz").status_code == 200


def test_gzip_part_larger_than_the_upload_limit_is_refused(cinder):
    # 80 MB of CSV compresses to well under the 64 MB request limit; inflated, it exceeds it.
    name = unique_name("bomb")
    payload = gzip.compress(b"q\n" + b"a" * (80 << 20) + b"\n")
    r = requests.post(cinder.base_url + "/v1/datasets/upload?sync=true",
                      files={"file": ("f.csv", payload, "text/csv", {"Content-Encoding": "gzip"})},
                      data={"name": name, "input_keys[]": ["q"]}, timeout=60)
    assert r.status_code == 413, r.text
    assert cinder.get("/v1/datasets", params={"name": name}).json()["data"] == []


def test_split_used_by_an_experiment_cannot_be_deleted(cinder):
    split = unique_name("train")
    dataset_id, _ = _dataset_with_split(cinder, split)
    r = cinder.post(f"/v1/datasets/{dataset_id}/experiments", json={"repetitions": 1, "splits": [split]})
    assert r.status_code == 200, r.text
    experiment = r.json()["data"]
    assert experiment["example_count"] == 2
    split_id = next(s["id"] for s in cinder.get(f"/v1/datasets/{dataset_id}/splits", params={"limit": 1000}).json()["data"]
                    if s["name"] == split)
    r = cinder.delete(f"/v1/datasets/{dataset_id}/splits/{split_id}")
    assert r.status_code == 409, r.text
    # The experiment still covers exactly the split's examples.
    assert cinder.get(f"/v1/experiments/{experiment['id']}").json()["data"]["example_count"] == 2
    # Once the experiment is gone, the split can go.
    assert cinder.delete(f"/v1/experiments/{experiment['id']}").status_code == 204
    assert cinder.delete(f"/v1/datasets/{dataset_id}/splits/{split_id}").status_code == 204


def test_repetitions_are_bounded(cinder):
    dataset_id, _ = _dataset_with_split(cinder, unique_name("s"))
    r = cinder.post(f"/v1/datasets/{dataset_id}/experiments", json={"repetitions": 2_000_000_000})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "repetitions"]
    assert cinder.get(f"/v1/datasets/{dataset_id}/experiments").json()["data"] == []


def test_concurrent_first_runs_never_replace_a_success(cinder):
    dataset_id, examples = _dataset_with_split(cinder, unique_name("s"))
    experiment_id = cinder.post(f"/v1/datasets/{dataset_id}/experiments", json={"repetitions": 1}).json()["data"]["id"]
    run = {"dataset_example_id": examples[0], "repetition_number": 1,
           "start_time": "2026-01-01T00:00:00+00:00", "end_time": "2026-01-01T00:00:01+00:00"}
    statuses: list[int] = []

    def post(output, error):
        r = requests.post(f"{cinder.base_url}/v1/experiments/{experiment_id}/runs",
                          json={**run, "output": output, "error": error}, timeout=30)
        statuses.append(r.status_code)

    threads = [threading.Thread(target=post, args=({"ok": i}, None) if i % 2 == 0 else (None, "boom"))
               for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses) <= {200, 409}, statuses
    runs = cinder.get(f"/v1/experiments/{experiment_id}/runs").json()["data"]
    assert len(runs) == 1
    # Eight successes were posted; once one landed, no failure may replace it.
    assert runs[0]["error"] is None and runs[0]["output"]["ok"] % 2 == 0


def test_source_prompt_must_exist_in_the_organization(cinder):
    body = {"model_provider": "OPENAI", "model_name": "gpt-4o-mini", "template_type": "CHAT", "template_format": "MUSTACHE",
            "template": {"type": "chat", "messages": [{"role": "user", "content": "hi"}]},
            "invocation_parameters": {"type": "openai", "openai": {}}}
    missing = "UHJvbXB0Ojk5OTk5OTk5OQ=="  # Prompt:999999999
    name = unique_name("copy").lower()
    r = cinder.post("/v1/prompts", json={"prompt": {"name": name, "source_prompt_id": missing}, "version": body})
    assert r.status_code == 404, r.text
    assert cinder.get(f"/v1/prompts/{name}/latest").status_code == 404
