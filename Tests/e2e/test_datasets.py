"""Datasets through arize-phoenix-client 3.5.0 (and raw HTTP where the client has no call).

Covers POST /v1/datasets/upload (JSON, multipart CSV and JSONL; actions create, append and update),
listing, versions, examples (version and split filters), the four export formats, splits, dataset
labels, deletes and bad input. Reference: Phoenix 20.26.1 (openapi.json) and Phoenix's own router
tests. Every test works on datasets, splits and labels with unique names, so tests are independent.

Notes on what the official client sends (phoenix/client/resources/datasets/__init__.py):
- create_dataset() posts action="update" (declarative: create the dataset, or make it match the
  upload), add_examples_to_dataset() posts action="append"; both with ?sync=true and then read the
  dataset back with GET /v1/datasets/{id} and GET /v1/datasets/{id}/examples?version_id=...
- DataFrames and CSV files go as multipart: a gzip-compressed "file" part (Content-Type text/csv,
  part header Content-Encoding: gzip) plus the fields action, name, description, input_keys[],
  output_keys[], metadata_keys[] (an empty key list sends no field at all) and split_keys[].
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import time
from datetime import datetime
from typing import Any, Optional

import httpx
import pandas as pd
import pytest
import requests

from conftest import unique_name

# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------

DATASET_KEYS = {"id", "name", "description", "metadata", "created_at", "updated_at", "example_count"}
UPLOAD_DATA_KEYS = {"dataset_id", "version_id", "num_created_examples", "num_updated_examples",
                    "num_deleted_examples"}
EXAMPLE_KEYS = {"id", "node_id", "input", "output", "metadata", "updated_at"}
VERSION_KEYS = {"version_id", "description", "metadata", "created_at"}
SPLIT_KEYS = {"id", "name", "description", "color", "metadata", "example_count", "created_at", "updated_at"}
LABEL_KEYS = {"id", "name", "description", "color"}


def gid(type_name: str, rowid: int) -> str:
    return base64.b64encode(f"{type_name}:{rowid}".encode()).decode()


def rowid_of(global_id: str, type_name: str) -> int:
    """Asserts that global_id is base64("<type_name>:<int>") and returns the int."""
    assert isinstance(global_id, str), global_id
    decoded = base64.b64decode(global_id, validate=True).decode()
    prefix, _, rowid = decoded.partition(":")
    assert prefix == type_name, f"{global_id!r} decodes to {decoded!r}, expected a {type_name} id"
    assert rowid.isdigit(), decoded
    return int(rowid)


def assert_utc_iso(value: Any) -> datetime:
    assert isinstance(value, str), value
    assert value.endswith("+00:00"), f"timestamp not in +00:00 form: {value!r}"
    return datetime.fromisoformat(value)


def upload_json(cinder, body: Any, sync: bool = True) -> requests.Response:
    params = {"sync": "true"} if sync else None
    return cinder.post("/v1/datasets/upload", params=params, json=body)


def upload_file(cinder, *, name: Optional[str], content: bytes, content_type: str, input_keys=(),
                output_keys=(), metadata_keys=(), action: str = "create", gzipped: bool = False,
                description: Optional[str] = None) -> requests.Response:
    """Multipart upload as the official clients build it (one field per key, `[]` suffix)."""
    part_headers = {"Content-Encoding": "gzip"} if gzipped else {}
    payload = gzip.compress(content) if gzipped else content
    form: dict[str, Any] = {
        "action": action,
        "input_keys[]": list(input_keys),
        "output_keys[]": list(output_keys),
        "metadata_keys[]": list(metadata_keys),
    }
    if name is not None:
        form["name"] = name
    if description is not None:
        form["description"] = description
    return cinder.post(
        "/v1/datasets/upload",
        params={"sync": "true"},
        files={"file": ("upload", payload, content_type, part_headers)},
        data=form,
    )


def upload_ok(r: requests.Response) -> dict:
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"data"}, body
    data = body["data"]
    assert UPLOAD_DATA_KEYS <= set(data), data
    rowid_of(data["dataset_id"], "Dataset")
    rowid_of(data["version_id"], "DatasetVersion")
    return data


def get_examples(cinder, dataset_id: str, **params) -> dict:
    r = cinder.get(f"/v1/datasets/{dataset_id}/examples", params=params)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["dataset_id"] == dataset_id
    rowid_of(data["version_id"], "DatasetVersion")
    for ex in data["examples"]:
        assert EXAMPLE_KEYS <= set(ex), ex
    return data


def all_pages(cinder, path: str, limit: int = 100, **params) -> list[dict]:
    out: list[dict] = []
    cursor = None
    for _ in range(100_000):
        query = {"limit": limit, **params}
        if cursor:
            query["cursor"] = cursor
        r = cinder.get(path, params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"data", "next_cursor"}, body
        assert len(body["data"]) <= limit
        out.extend(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return out
        assert len(body["data"]) == limit, "a page before the last one must be full"
    raise AssertionError("pagination did not end")


def dataset_ids(cinder) -> list[str]:
    return [d["id"] for d in all_pages(cinder, "/v1/datasets")]


def by_name(cinder, name: str) -> list[dict]:
    r = cinder.get("/v1/datasets", params={"name": name})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def versions_of(cinder, dataset_id: str) -> list[dict]:
    return all_pages(cinder, f"/v1/datasets/{dataset_id}/versions")


def patch(cinder, path: str, **kw) -> requests.Response:
    return requests.patch(cinder.base_url + path, timeout=30, **kw)


def put(cinder, path: str, **kw) -> requests.Response:
    return requests.put(cinder.base_url + path, timeout=30, **kw)


def _status(excinfo) -> int:
    return excinfo.value.response.status_code


def contents(examples) -> list[tuple]:
    return [(e["input"], e["output"], e["metadata"]) for e in examples]


# Values that must survive the round trip exactly: nesting, unicode, escapes, every JSON type.
RICH_INPUTS = [
    {
        "question": "What is 2+2?",
        "n": 2,
        "neg": -7,
        "zero": 0,
        "pi": 3.14159,
        "tiny": 1.5e-07,
        "tenth": 0.1,
        "max_safe": 9007199254740991,
        "not_a_double": 9007199254740993,  # 2**53 + 1: wrong if the server goes through a Double
        "flag": True,
        "off": False,
        "nothing": None,
        "mixed_list": ["a", 1, 2.5, False, None, {"k": "v"}, [1, [2, [3]]]],
        "nested": {"deep": {"deeper": {"x": [1, {"y": "z"}]}}, "empty_obj": {}, "empty_list": []},
    },
    {
        "question": "Grüße aus Zürich — 你好, мир! 🚀👩‍💻",
        "escapes": "quote \" backslash \\ slash / newline \n tab \t cr \r",
        "combining": "e\u0301 vs \u00e9",
        "rtl": "مرحبا بالعالم",
        "ключ": "non-ASCII key",
    },
    {"question": ""},
]
RICH_OUTPUTS = [
    {"answer": "4", "confidence": 0.99},
    {"answer": {"text": "Hallo", "alternatives": ["Hi", "Hey", "👋"]}},
    {},
]
RICH_METADATA = [
    {"source": "unit", "difficulty": 1, "tags": []},
    {"source": "i18n", "langs": ["de", "zh", "ru", "ar"]},
    {},
]


# --------------------------------------------------------------------------------------------------
# Create and read through the official client
# --------------------------------------------------------------------------------------------------


def test_create_from_lists_round_trips_exactly(client, cinder):
    name = unique_name("ds-rich")
    description = "rich — ünïcode description"
    ds = client.datasets.create_dataset(
        name=name, inputs=RICH_INPUTS, outputs=RICH_OUTPUTS, metadata=RICH_METADATA,
        dataset_description=description,
    )
    rowid_of(ds.id, "Dataset")
    rowid_of(ds.version_id, "DatasetVersion")
    assert ds.name == name
    assert ds.description == description
    assert ds.metadata == {}
    assert len(ds) == 3
    # Same order as uploaded (ascending example id), values unchanged.
    assert contents(ds.examples) == list(zip(RICH_INPUTS, RICH_OUTPUTS, RICH_METADATA))
    node_ids = [rowid_of(e["node_id"], "DatasetExample") for e in ds.examples]
    assert node_ids == sorted(node_ids) and len(set(node_ids)) == 3
    for e in ds.examples:
        assert e["id"] == e["node_id"], "without an example_id the public id is the GlobalID"
        assert_utc_iso(e["updated_at"])
    assert ds.created_at is not None and ds.created_at.utcoffset().total_seconds() == 0

    # The same dataset by name, by id, by Dataset object and by dict.
    for ident in (name, ds.id, ds, {"id": ds.id, "name": name}):
        again = client.datasets.get_dataset(dataset=ident)
        assert again.id == ds.id and again.name == name
        assert again.version_id == ds.version_id
        assert again.examples == ds.examples

    # The raw shapes behind it.
    r = cinder.get(f"/v1/datasets/{ds.id}")
    assert r.status_code == 200, r.text
    info = r.json()["data"]
    assert set(info) == DATASET_KEYS
    assert info["id"] == ds.id and info["name"] == name and info["description"] == description
    assert info["metadata"] == {} and info["example_count"] == 3
    assert assert_utc_iso(info["created_at"]) <= assert_utc_iso(info["updated_at"])
    data = get_examples(cinder, ds.id)
    assert data["version_id"] == ds.version_id
    assert contents(data["examples"]) == contents(ds.examples)
    # The raw JSON keeps 2**53 + 1 as an integer literal (no float rounding on the way out).
    assert "9007199254740993" in cinder.get(f"/v1/datasets/{ds.id}/examples").text

    # DataFrame conversion (client side) over what the server returned.
    df = ds.to_dataframe()
    assert df.index.name == "example_id"
    assert list(df.index) == [e["id"] for e in ds.examples]
    assert list(df.columns) == ["input", "output", "metadata"]
    assert df["input"].tolist() == RICH_INPUTS
    assert df["output"].tolist() == RICH_OUTPUTS
    assert df["metadata"].tolist() == RICH_METADATA


def test_get_dataset_by_unusual_name(client, cinder):
    """Name lookup is GET /v1/datasets?name=... with exact matching (spaces, unicode, symbols)."""
    name = f"my dataset / ünï {unique_name('x')} & co?"
    ds = client.datasets.create_dataset(name=name, inputs=[{"q": 1}], outputs=[{"a": 2}])
    got = client.datasets.get_dataset(dataset=name)
    assert got.id == ds.id and got.name == name
    assert contents(got) == [({"q": 1}, {"a": 2}, {})]
    listed = by_name(cinder, name)
    assert [d["id"] for d in listed] == [ds.id]
    assert by_name(cinder, name.upper()) == []
    assert by_name(cinder, name[:-1]) == []
    with pytest.raises(ValueError):
        client.datasets.get_dataset(dataset=name + "-missing")


def test_create_from_dataframe_and_append_dataframe(client, cinder):
    name = unique_name("ds-df")
    df = pd.DataFrame(
        {
            "question": ["What is 2+2?", "Ça va? 你好 🚀", 'Comma, "quotes" and\na newline'],
            "answer": ["4", "Très bien, merci", "ok"],
            "score": [0.9, 0.25, 1.5],
            "n": [1, 22, 333],
            "tag": ["math", "i18n", "csv"],
            "unused": ["x", "y", "z"],
        }
    )
    ds = client.datasets.create_dataset(
        name=name, dataframe=df, input_keys=["question"], output_keys=["answer"],
        metadata_keys=["score", "n", "tag"], dataset_description="from a dataframe",
    )
    assert ds.name == name and ds.description == "from a dataframe"
    # CSV carries text: every value comes back as the string pandas wrote.
    assert contents(ds) == [
        ({"question": "What is 2+2?"}, {"answer": "4"}, {"score": "0.9", "n": "1", "tag": "math"}),
        ({"question": "Ça va? 你好 🚀"}, {"answer": "Très bien, merci"},
         {"score": "0.25", "n": "22", "tag": "i18n"}),
        ({"question": 'Comma, "quotes" and\na newline'}, {"answer": "ok"},
         {"score": "1.5", "n": "333", "tag": "csv"}),
    ]
    first_version = ds.version_id

    more = pd.DataFrame({"question": ["Q4"], "answer": ["A4"], "tag": ["extra"]})
    ds2 = client.datasets.add_examples_to_dataset(
        dataset=name, dataframe=more, input_keys=["question"], output_keys=["answer"], metadata_keys=["tag"],
    )
    assert ds2.id == ds.id and ds2.version_id != first_version
    assert len(ds2) == 4
    assert ds2.examples[:3] == ds.examples
    assert contents(ds2)[3] == ({"question": "Q4"}, {"answer": "A4"}, {"tag": "extra"})
    assert len(client.datasets.get_dataset(dataset=ds.id, version_id=first_version)) == 3


def test_create_from_csv_file_and_append_csv_file(client, tmp_path):
    name = unique_name("ds-csv")
    path = tmp_path / "qa.csv"
    path.write_text(
        "question,context,answer,source\n"
        "Who wrote Hamlet?,literature,Shakespeare,wiki\n"
        '"Capital of France, please",geo,Paris,atlas\n',
        encoding="utf-8",
    )
    # No keys given: the client infers inputs before the first *answer* column, metadata after it.
    ds = client.datasets.create_dataset(name=name, csv_file_path=path)
    assert contents(ds) == [
        ({"question": "Who wrote Hamlet?", "context": "literature"}, {"answer": "Shakespeare"},
         {"source": "wiki"}),
        ({"question": "Capital of France, please", "context": "geo"}, {"answer": "Paris"},
         {"source": "atlas"}),
    ]
    path2 = tmp_path / "more.csv"
    # ASCII only: the client reads the file's first rows with the locale's default encoding.
    path2.write_text("q,a,junk\nWhy?,Because,ignored\n", encoding="utf-8")
    ds2 = client.datasets.add_examples_to_dataset(
        dataset=ds.id, csv_file_path=path2, input_keys=["q"], output_keys=["a"],
    )
    assert ds2.id == ds.id and len(ds2) == 3
    assert contents(ds2)[2] == ({"q": "Why?"}, {"a": "Because"}, {})


# --------------------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------------------


def test_append_creates_versions_and_old_versions_are_immutable(client, cinder):
    name = unique_name("ds-ver")
    v1_ds = client.datasets.create_dataset(
        name=name, inputs=[{"i": 1}, {"i": 2}], outputs=[{"o": 1}, {"o": 2}],
    )
    v2_ds = client.datasets.add_examples_to_dataset(
        dataset=name, inputs=[{"i": 3}], outputs=[{"o": 3}], metadata=[{"batch": 2}],
    )
    v3_ds = client.datasets.add_examples_to_dataset(
        dataset=v1_ds.id, examples=[{"input": {"i": 4}, "output": {"o": 4}},
                                   {"input": {"i": 5}, "output": {"o": 5}, "metadata": {"batch": 3}}],
    )
    v1, v2, v3 = v1_ds.version_id, v2_ds.version_id, v3_ds.version_id
    assert len({v1, v2, v3}) == 3
    assert v1_ds.id == v2_ds.id == v3_ds.id
    assert rowid_of(v1, "DatasetVersion") < rowid_of(v2, "DatasetVersion") < rowid_of(v3, "DatasetVersion")
    assert [len(v1_ds), len(v2_ds), len(v3_ds)] == [2, 3, 5]
    # Appending keeps the earlier examples as they were (same ids, same content).
    assert v2_ds.examples[:2] == v1_ds.examples
    assert v3_ds.examples[:3] == v2_ds.examples
    assert contents(v3_ds)[3:] == [({"i": 4}, {"o": 4}, {}), ({"i": 5}, {"o": 5}, {"batch": 3})]

    # Newest first.
    versions = client.datasets.get_dataset_versions(dataset=name)
    assert [v["version_id"] for v in versions] == [v3, v2, v1]
    stamps = [v["created_at"] for v in versions]
    assert all(isinstance(t, datetime) and t.utcoffset().total_seconds() == 0 for t in stamps)
    assert stamps == sorted(stamps, reverse=True)

    # Reading an old version returns only what it contained.
    assert client.datasets.get_dataset(dataset=name, version_id=v1).examples == v1_ds.examples
    assert client.datasets.get_dataset(dataset=name, version_id=v2).examples == v2_ds.examples
    latest = client.datasets.get_dataset(dataset=name)
    assert latest.version_id == v3 and latest.examples == v3_ds.examples
    assert cinder.get(f"/v1/datasets/{v1_ds.id}").json()["data"]["example_count"] == 5

    # Raw versions endpoint: shape and cursor pagination (one extra row decides next_cursor).
    r = cinder.get(f"/v1/datasets/{v1_ds.id}/versions", params={"limit": 1})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [v["version_id"] for v in page["data"]] == [v3]
    assert set(page["data"][0]) == VERSION_KEYS
    assert page["data"][0]["metadata"] == {}
    assert_utc_iso(page["data"][0]["created_at"])
    seen, cursor = [v3], page["next_cursor"]
    while cursor is not None:
        page = cinder.get(f"/v1/datasets/{v1_ds.id}/versions", params={"limit": 1, "cursor": cursor}).json()
        seen += [v["version_id"] for v in page["data"]]
        cursor = page["next_cursor"]
    assert seen == [v3, v2, v1]
    whole = cinder.get(f"/v1/datasets/{v1_ds.id}/versions", params={"limit": 3}).json()
    assert [v["version_id"] for v in whole["data"]] == [v3, v2, v1] and whole["next_cursor"] is None

    # Unknown version and another dataset's version: 404 on the examples endpoint.
    r = cinder.get(f"/v1/datasets/{v1_ds.id}/examples", params={"version_id": gid("DatasetVersion", 2_000_000_000)})
    assert r.status_code == 404, r.text
    other = client.datasets.create_dataset(name=unique_name("ds-ver-other"), inputs=[{"x": 1}])
    r = cinder.get(f"/v1/datasets/{v1_ds.id}/examples", params={"version_id": other.version_id})
    assert r.status_code == 404, r.text


# --------------------------------------------------------------------------------------------------
# Raw uploads: response shape, multipart formats, 409
# --------------------------------------------------------------------------------------------------


def test_json_upload_response_shape_append_and_409(cinder):
    name = unique_name("ds-raw")
    body = {
        "action": "create", "name": name, "description": "raw upload",
        "inputs": [{"a": 1}, {"a": 2}], "outputs": [{"b": "x"}, {"b": "y"}],
        "metadata": [{"m": True}, {"m": False}],
    }
    first = upload_ok(upload_json(cinder, body))
    assert (first["num_created_examples"], first["num_updated_examples"], first["num_deleted_examples"]) == (2, 0, 0)
    dataset_id = first["dataset_id"]

    # Append without outputs/metadata: those default to {}.
    second = upload_ok(upload_json(cinder, {"action": "append", "name": name, "inputs": [{"a": 3}]}))
    assert second["dataset_id"] == dataset_id and second["version_id"] != first["version_id"]
    assert (second["num_created_examples"], second["num_updated_examples"], second["num_deleted_examples"]) == (1, 0, 0)
    data = get_examples(cinder, dataset_id)
    assert data["version_id"] == second["version_id"]
    assert contents(data["examples"]) == [
        ({"a": 1}, {"b": "x"}, {"m": True}), ({"a": 2}, {"b": "y"}, {"m": False}), ({"a": 3}, {}, {})]
    assert len(get_examples(cinder, dataset_id, version_id=first["version_id"])["examples"]) == 2

    # action=create on an existing name: 409 (openapi: "Dataset with the given name already exists
    # (action=create)"), plain-text body naming the dataset, and nothing written.
    r = upload_json(cinder, body)
    assert r.status_code == 409, r.text
    assert name in r.text
    assert len(get_examples(cinder, dataset_id)["examples"]) == 3
    assert [v["version_id"] for v in versions_of(cinder, dataset_id)] == [second["version_id"], first["version_id"]]
    info = cinder.get(f"/v1/datasets/{dataset_id}").json()["data"]
    assert info["name"] == name and info["description"] == "raw upload" and info["example_count"] == 3

    # Without sync the request is accepted (200, JSON null body) and applied asynchronously.
    async_name = unique_name("ds-async")
    r = upload_json(cinder, {"action": "create", "name": async_name, "inputs": [{"z": 1}]}, sync=False)
    assert r.status_code == 200, r.text
    assert r.json() is None
    deadline = time.monotonic() + 15
    while not by_name(cinder, async_name) and time.monotonic() < deadline:
        time.sleep(0.1)
    [created] = by_name(cinder, async_name)
    assert contents(get_examples(cinder, created["id"])["examples"]) == [({"z": 1}, {}, {})]


def test_multipart_csv_upload_gzip_and_plain(cinder):
    name = unique_name("ds-mcsv")
    content = (
        "question,answer,source,ignored\n"
        "Q1,A1,s1,zzz\n"
        '"Comma, ""quote"" and\nnewline",A2 ✓,s2,zzz\n'
    ).encode("utf-8")
    first = upload_ok(upload_file(
        cinder, name=name, content=content, content_type="text/csv", input_keys=["question"],
        output_keys=["answer"], metadata_keys=["source"], gzipped=True, description="csv upload",
    ))
    assert first["num_created_examples"] == 2
    dataset_id = first["dataset_id"]
    # Plain (no Content-Encoding) append; the unlisted column is dropped.
    second = upload_ok(upload_file(
        cinder, name=name, content="question,answer,source,ignored\nQ3,A3,s3,x\n".encode(),
        content_type="text/csv", input_keys=["question"], output_keys=["answer"],
        metadata_keys=["source"], action="append",
    ))
    assert second["dataset_id"] == dataset_id and second["num_created_examples"] == 1
    data = get_examples(cinder, dataset_id)
    assert contents(data["examples"]) == [
        ({"question": "Q1"}, {"answer": "A1"}, {"source": "s1"}),
        ({"question": 'Comma, "quote" and\nnewline'}, {"answer": "A2 ✓"}, {"source": "s2"}),
        ({"question": "Q3"}, {"answer": "A3"}, {"source": "s3"}),
    ]
    assert cinder.get(f"/v1/datasets/{dataset_id}").json()["data"]["description"] == "csv upload"

    # 409 for action=create on the same name through multipart as well; nothing written.
    r = upload_file(cinder, name=name, content=content, content_type="text/csv",
                    input_keys=["question"], output_keys=["answer"], gzipped=True)
    assert r.status_code == 409, r.text
    assert len(get_examples(cinder, dataset_id)["examples"]) == 3
    assert len(versions_of(cinder, dataset_id)) == 2


def test_multipart_jsonl_upload_keeps_json_types(cinder):
    name = unique_name("ds-jsonl")
    rows = [
        {"question": "Q1", "context": {"docs": ["d1", "d2"], "k": 2}, "answer": "A1", "score": 0.5, "extra": 1},
        {"question": "Q2 ü 🚀", "context": {"docs": [], "k": 0}, "answer": {"text": "A2", "refs": [1, 2]},
         "score": 1, "extra": 2},
        {"question": "Q3", "context": None, "answer": [1, "two", None], "score": -3.25, "extra": 3},
    ]
    content = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    first = upload_ok(upload_file(
        cinder, name=name, content=content, content_type="application/jsonl",
        input_keys=["question", "context"], output_keys=["answer"], metadata_keys=["score"], gzipped=True,
    ))
    assert first["num_created_examples"] == 3
    data = get_examples(cinder, first["dataset_id"])
    assert contents(data["examples"]) == [
        ({"question": r["question"], "context": r["context"]}, {"answer": r["answer"]}, {"score": r["score"]})
        for r in rows
    ]
    # Uncompressed JSONL append.
    second = upload_ok(upload_file(
        cinder, name=name, content=b'{"question": "Q4", "context": {}, "answer": true}\n',
        content_type="application/jsonl", input_keys=["question", "context"], output_keys=["answer"],
        action="append",
    ))
    assert second["dataset_id"] == first["dataset_id"]
    last = get_examples(cinder, first["dataset_id"])["examples"][-1]
    assert (last["input"], last["output"], last["metadata"]) == ({"question": "Q4", "context": {}}, {"answer": True}, {})


# --------------------------------------------------------------------------------------------------
# action=update (what create_dataset sends)
# --------------------------------------------------------------------------------------------------


def test_create_dataset_twice_is_a_no_op_then_converges(client, cinder):
    """create_dataset posts action=update: identical content → same version; changed content → the
    dataset is made to match the upload (unchanged examples keep their identity)."""
    name = unique_name("ds-upd")
    first = client.datasets.create_dataset(name=name, inputs=[{"q": "a"}, {"q": "b"}], outputs=[{"r": 1}, {"r": 2}])
    again = client.datasets.create_dataset(name=name, inputs=[{"q": "a"}, {"q": "b"}], outputs=[{"r": 1}, {"r": 2}])
    assert again.id == first.id
    assert again.version_id == first.version_id
    assert again.examples == first.examples
    assert len(client.datasets.get_dataset_versions(dataset=name)) == 1

    third = client.datasets.create_dataset(name=name, inputs=[{"q": "a"}, {"q": "c"}], outputs=[{"r": 1}, {"r": 3}])
    assert third.id == first.id and third.version_id != first.version_id
    assert contents(third) == [({"q": "a"}, {"r": 1}, {}), ({"q": "c"}, {"r": 3}, {})]
    assert third.examples[0]["node_id"] == first.examples[0]["node_id"]
    assert third.examples[1]["node_id"] not in {e["node_id"] for e in first.examples}
    assert [v["version_id"] for v in client.datasets.get_dataset_versions(dataset=name)] == [
        third.version_id, first.version_id]
    # The first version still reads as it was.
    assert client.datasets.get_dataset(dataset=name, version_id=first.version_id).examples == first.examples
    assert len(by_name(cinder, name)) == 1


def test_update_with_example_ids_creates_patches_and_deletes(client, cinder):
    name = unique_name("ds-ids")
    body = {
        "action": "update", "name": name,
        "inputs": [{"q": "x"}, {"q": "y"}, {"q": "z"}],
        "outputs": [{"a": 1}, {"a": 2}, {"a": 3}],
        "example_ids": ["ex-x", "ex-y", "ex-z"],
    }
    first = upload_ok(upload_json(cinder, body))
    assert (first["num_created_examples"], first["num_updated_examples"], first["num_deleted_examples"]) == (3, 0, 0)
    v1 = client.datasets.get_dataset(dataset=first["dataset_id"])
    assert [e["id"] for e in v1] == ["ex-x", "ex-y", "ex-z"]
    node_ids = [e["node_id"] for e in v1]
    assert all(rowid_of(n, "DatasetExample") for n in node_ids) and len(set(node_ids)) == 3

    # The same payload again changes nothing: same version, all counts zero.
    noop = upload_ok(upload_json(cinder, body))
    assert noop["dataset_id"] == first["dataset_id"] and noop["version_id"] == first["version_id"]
    assert (noop["num_created_examples"], noop["num_updated_examples"], noop["num_deleted_examples"]) == (0, 0, 0)

    # y changes, z disappears, w is new.
    mixed = upload_ok(upload_json(cinder, {
        **body, "inputs": [{"q": "x"}, {"q": "y"}, {"q": "w"}], "outputs": [{"a": 1}, {"a": 22}, {"a": 4}],
        "example_ids": ["ex-x", "ex-y", "ex-w"],
    }))
    assert mixed["version_id"] != first["version_id"]
    assert (mixed["num_created_examples"], mixed["num_updated_examples"], mixed["num_deleted_examples"]) == (1, 1, 1)
    v2 = client.datasets.get_dataset(dataset=name)
    assert v2.version_id == mixed["version_id"]
    assert [(e["id"], e["input"], e["output"]) for e in v2] == [
        ("ex-x", {"q": "x"}, {"a": 1}), ("ex-y", {"q": "y"}, {"a": 22}), ("ex-w", {"q": "w"}, {"a": 4})]
    assert [e["node_id"] for e in v2][:2] == node_ids[:2], "patched examples keep their identity"
    old = client.datasets.get_dataset(dataset=name, version_id=first["version_id"])
    assert [(e["id"], e["output"]) for e in old] == [("ex-x", {"a": 1}), ("ex-y", {"a": 2}), ("ex-z", {"a": 3})]

    # The client sends example "id"s as example_ids; the current content → no new version.
    same = client.datasets.create_dataset(name=name, examples=[
        {"input": {"q": "x"}, "output": {"a": 1}, "id": "ex-x"},
        {"input": {"q": "y"}, "output": {"a": 22}, "id": "ex-y"},
        {"input": {"q": "w"}, "output": {"a": 4}, "id": "ex-w"},
    ])
    assert same.version_id == mixed["version_id"]
    assert len(versions_of(cinder, first["dataset_id"])) == 2


# --------------------------------------------------------------------------------------------------
# Listing, deleting, unknown ids
# --------------------------------------------------------------------------------------------------


def test_list_datasets_filter_and_pagination(client, cinder):
    names = [unique_name(f"ds-list{i}") for i in range(3)]
    ids = []
    for i, n in enumerate(names):
        data = upload_ok(upload_json(cinder, {"action": "create", "name": n, "inputs": [{"i": k} for k in range(i + 1)]}))
        ids.append(data["dataset_id"])

    # Newest first; one extra row decides next_cursor.
    r = cinder.get("/v1/datasets", params={"limit": 2})
    assert r.status_code == 200, r.text
    page = r.json()
    assert set(page) == {"data", "next_cursor"}
    assert [d["id"] for d in page["data"]] == [ids[2], ids[1]]
    assert page["next_cursor"]
    for d, n, count in zip(page["data"], [names[2], names[1]], [3, 2]):
        assert set(d) == DATASET_KEYS
        assert d["name"] == n and d["example_count"] == count and d["metadata"] == {}
        assert_utc_iso(d["created_at"]) and assert_utc_iso(d["updated_at"])
    page2 = cinder.get("/v1/datasets", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert page2["data"][0]["id"] == ids[0]

    listed = all_pages(cinder, "/v1/datasets", limit=3)
    listed_ids = [d["id"] for d in listed]
    assert len(listed_ids) == len(set(listed_ids))
    assert listed_ids[:3] == [ids[2], ids[1], ids[0]]
    rowids = [rowid_of(i, "Dataset") for i in listed_ids]
    assert rowids == sorted(rowids, reverse=True)

    # Exact name filter.
    r = cinder.get("/v1/datasets", params={"name": names[1]})
    assert r.json() == {"data": [next(d for d in listed if d["id"] == ids[1])], "next_cursor": None}
    assert by_name(cinder, unique_name("no-such")) == []

    # Through the client.
    assert [d["id"] for d in client.datasets.list(limit=2)] == [ids[2], ids[1]]
    everything = client.datasets.list()
    assert {d["id"] for d in everything} >= set(ids)
    assert next(d for d in everything if d["id"] == ids[0])["example_count"] == 1

    # Bad paging parameters are validation errors.
    r = cinder.get("/v1/datasets", params={"limit": "0"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "limit"]
    assert r.json()["detail"][0]["type"] == "greater_than"
    r = cinder.get("/v1/datasets", params={"cursor": "not a cursor!"})
    assert r.status_code == 422, r.text


def test_delete_dataset(client, cinder):
    keep = client.datasets.create_dataset(name=unique_name("ds-keep"), inputs=[{"k": 1}])
    name = unique_name("ds-del")
    ds = client.datasets.create_dataset(name=name, inputs=[{"q": 1}, {"q": 2}], outputs=[{"a": 1}, {"a": 2}])
    r = cinder.delete(f"/v1/datasets/{ds.id}")
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert cinder.get(f"/v1/datasets/{ds.id}").status_code == 404
    assert cinder.get(f"/v1/datasets/{ds.id}/examples").status_code == 404
    assert cinder.delete(f"/v1/datasets/{ds.id}").status_code == 404
    assert by_name(cinder, name) == []
    assert ds.id not in dataset_ids(cinder)
    with pytest.raises(ValueError):
        client.datasets.get_dataset(dataset=name)
    # Others are untouched; the name can be used again (a new dataset with a new id).
    assert client.datasets.get_dataset(dataset=keep.id).examples == keep.examples
    reborn = upload_ok(upload_json(cinder, {"action": "create", "name": name, "inputs": [{"q": 3}]}))
    assert reborn["dataset_id"] != ds.id
    assert contents(get_examples(cinder, reborn["dataset_id"])["examples"]) == [({"q": 3}, {}, {})]


def test_unknown_dataset_ids(client, cinder):
    missing = gid("Dataset", 2_000_000_000)
    assert cinder.get(f"/v1/datasets/{missing}").status_code == 404
    assert cinder.delete(f"/v1/datasets/{missing}").status_code == 404
    assert cinder.get(f"/v1/datasets/{missing}/examples").status_code == 404
    assert cinder.get(f"/v1/datasets/{missing}/splits").status_code == 404
    assert cinder.get(f"/v1/datasets/{missing}/labels").status_code == 404
    # A GlobalID of another type is not a dataset.
    assert cinder.get(f"/v1/datasets/{gid('Project', 1)}").status_code == 404
    assert cinder.get(f"/v1/datasets/{gid('Project', 1)}/examples").status_code == 404
    # Not a GlobalID at all: "Invalid dataset ID" (openapi 422 on DELETE).
    assert cinder.delete("/v1/datasets/not-a-global-id").status_code == 422
    # The exports document only 422 ("Invalid dataset or version ID") for a dataset that is not there.
    for suffix in ("csv", "jsonl", "jsonl/openai_ft", "jsonl/openai_evals"):
        r = cinder.get(f"/v1/datasets/{missing}/{suffix}")
        assert r.status_code == 422, (suffix, r.status_code, r.text)

    with pytest.raises(httpx.HTTPStatusError) as e:
        client.datasets.get_dataset(dataset=missing)
    assert _status(e) == 404
    with pytest.raises(httpx.HTTPStatusError) as e:
        client.datasets.add_examples_to_dataset(dataset=missing, inputs=[{"q": 1}])
    assert _status(e) == 404
    with pytest.raises(ValueError):
        client.datasets.get_dataset(dataset=unique_name("no-such-dataset"))


# --------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------

BAD_JSON_BODIES = {
    "missing-name": lambda n: {"action": "create", "inputs": [{"a": 1}]},
    "empty-name": lambda n: {"action": "create", "name": "", "inputs": [{"a": 1}]},
    "missing-inputs": lambda n: {"action": "create", "name": n},
    "inputs-not-a-list": lambda n: {"action": "create", "name": n, "inputs": {"a": 1}},
    "inputs-not-objects": lambda n: {"action": "create", "name": n, "inputs": ["x", "y"]},
    "outputs-length-mismatch": lambda n: {"action": "create", "name": n, "inputs": [{"a": 1}, {"a": 2}],
                                          "outputs": [{"b": 1}]},
    "metadata-length-mismatch": lambda n: {"action": "create", "name": n, "inputs": [{"a": 1}, {"a": 2}],
                                           "metadata": [{"m": 1}, {"m": 2}, {"m": 3}]},
    "outputs-not-objects": lambda n: {"action": "create", "name": n, "inputs": [{"a": 1}, {"a": 2}],
                                      "outputs": [{"b": 1}, 5]},
    "example-ids-length-mismatch": lambda n: {"action": "create", "name": n, "inputs": [{"a": 1}, {"a": 2}],
                                              "example_ids": ["e1"]},
    "duplicate-example-ids": lambda n: {"action": "create", "name": n, "inputs": [{"a": 1}, {"a": 2}],
                                        "example_ids": ["same", "same"]},
    "split-not-a-string": lambda n: {"action": "create", "name": n, "inputs": [{"a": 1}], "splits": [123]},
    "append-missing-name": lambda n: {"action": "append", "inputs": [{"a": 1}]},
}


@pytest.mark.parametrize("case", sorted(BAD_JSON_BODIES))
def test_invalid_json_upload_is_422_and_writes_nothing(cinder, case):
    before = dataset_ids(cinder)
    name = unique_name("ds-bad")
    r = upload_json(cinder, BAD_JSON_BODIES[case](name))
    assert r.status_code == 422, (case, r.status_code, r.text)
    assert r.text.strip(), "the 422 body says what is wrong"
    assert by_name(cinder, name) == []
    assert dataset_ids(cinder) == before


def test_invalid_action_is_422_with_the_message_the_client_checks(cinder):
    before = dataset_ids(cinder)
    name = unique_name("ds-bad-action")
    r = upload_json(cinder, {"action": "upsert-please", "name": name, "inputs": [{"a": 1}]})
    assert r.status_code == 422, r.text
    # arize-phoenix-client's _is_unsupported_update_action_response() keys on this text.
    assert "Invalid dateset action" in r.text or "Invalid dataset action" in r.text, r.text
    r = upload_file(cinder, name=name, content=b"a\n1\n", content_type="text/csv", input_keys=["a"],
                    action="upsert-please")
    assert r.status_code == 422, r.text
    assert by_name(cinder, name) == []
    assert dataset_ids(cinder) == before


def test_invalid_multipart_upload_is_422_and_writes_nothing(cinder):
    before = dataset_ids(cinder)
    name = unique_name("ds-bad-mp")
    csv_bytes = b"question,answer\nQ1,A1\n"
    cases = {
        "input key not a column": dict(content=csv_bytes, content_type="text/csv",
                                       input_keys=["question", "nope"], output_keys=["answer"]),
        "output key not a column": dict(content=csv_bytes, content_type="text/csv",
                                        input_keys=["question"], output_keys=["missing"]),
        "unsupported file type": dict(content=csv_bytes, content_type="application/xml",
                                      input_keys=["question"], output_keys=["answer"]),
        "duplicate column header": dict(content=b"q,q,a\n1,2,3\n", content_type="text/csv",
                                        input_keys=["q"], output_keys=["a"]),
        "jsonl key not present": dict(content=b'{"question": "Q1"}\n', content_type="application/jsonl",
                                      input_keys=["question"], output_keys=["answer"]),
    }
    for label, kw in cases.items():
        r = upload_file(cinder, name=name, **kw)
        assert r.status_code == 422, (label, r.status_code, r.text)
    r = upload_file(cinder, name=None, content=csv_bytes, content_type="text/csv",
                    input_keys=["question"], output_keys=["answer"])
    assert r.status_code == 422, ("missing name", r.status_code, r.text)
    assert by_name(cinder, name) == []
    assert dataset_ids(cinder) == before


# --------------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------------


def test_splits_from_upload_filter_examples(client, cinder):
    train, test = unique_name("train"), unique_name("test")
    name = unique_name("ds-splits")
    ds = client.datasets.create_dataset(name=name, examples=[
        {"input": {"q": 1}, "output": {"a": 1}, "splits": train},
        {"input": {"q": 2}, "output": {"a": 2}, "splits": [train, test]},
        {"input": {"q": 3}, "output": {"a": 3}, "splits": None},
        {"input": {"q": 4}, "output": {"a": 4}},
    ])
    assert len(ds) == 4
    ex = ds.examples

    only_train = client.datasets.get_dataset(dataset=name, splits=[train])
    assert only_train.examples == ex[:2]
    assert only_train.to_dict()["filtered_splits"] == [train]
    only_test = client.datasets.get_dataset(dataset=ds.id, splits=[test])
    assert only_test.examples == [ex[1]]
    both = client.datasets.get_dataset(dataset=ds.id, splits=[train, test])
    assert both.examples == ex[:2], "an example in two requested splits is listed once"
    assert sorted(both.to_dict()["filtered_splits"]) == sorted([train, test])
    unfiltered = client.datasets.get_dataset(dataset=ds.id)
    assert unfiltered.examples == ex and "filtered_splits" not in unfiltered.to_dict()

    # The splits exist (by name, globally) and count their examples.
    splits = {s["name"]: s for s in all_pages(cinder, f"/v1/datasets/{ds.id}/splits")}
    assert splits[train]["example_count"] == 2 and splits[test]["example_count"] == 1
    for s in (splits[train], splits[test]):
        assert set(s) == SPLIT_KEYS
        rowid_of(s["id"], "DatasetSplit")
    # Filtering by the split's GlobalID works like filtering by its name.
    data = get_examples(cinder, ds.id, split=[splits[test]["id"]])
    assert [e["id"] for e in data["examples"]] == [ex[1]["id"]]
    # An unknown split name is a 404.
    r = cinder.get(f"/v1/datasets/{ds.id}/examples", params={"split": unique_name("no-such-split")})
    assert r.status_code == 404, r.text


def test_split_crud(client, cinder):
    ds = client.datasets.create_dataset(name=unique_name("ds-split-crud"),
                                        inputs=[{"i": 0}, {"i": 1}, {"i": 2}])
    e0, e1, e2 = (e["id"] for e in ds.examples)
    split_name = unique_name("hard")
    r = cinder.post(f"/v1/datasets/{ds.id}/splits", json={
        "name": split_name, "description": "hard ones", "color": "#33c5e8",
        "metadata": {"owner": "e2e", "n": [1, 2]}, "example_ids": [e0, e1],
    })
    assert r.status_code == 201, r.text
    split = r.json()["data"]
    assert set(split) == SPLIT_KEYS
    split_id = split["id"]
    rowid_of(split_id, "DatasetSplit")
    assert (split["name"], split["description"], split["color"]) == (split_name, "hard ones", "#33c5e8")
    assert split["metadata"] == {"owner": "e2e", "n": [1, 2]}
    assert split["example_count"] == 2
    assert_utc_iso(split["created_at"]) and assert_utc_iso(split["updated_at"])

    # The name is taken: 409. Listing works with the dataset's name as identifier too.
    r = cinder.post(f"/v1/datasets/{ds.id}/splits", json={"name": split_name})
    assert r.status_code == 409, r.text
    listed = [s for s in all_pages(cinder, f"/v1/datasets/{ds.name}/splits") if s["id"] == split_id]
    assert listed == [split]
    assert client.datasets.get_dataset(dataset=ds.id, splits=[split_name]).examples == ds.examples[:2]

    # PATCH: rename, clear the description, move membership; color and metadata stay.
    new_name = unique_name("harder")
    r = patch(cinder, f"/v1/datasets/{ds.id}/splits/{split_id}", json={
        "name": new_name, "description": None, "add_example_ids": [e2], "remove_example_ids": [e0],
    })
    assert r.status_code == 200, r.text
    updated = r.json()["data"]
    assert updated["id"] == split_id and updated["name"] == new_name and updated["description"] is None
    assert updated["color"] == "#33c5e8" and updated["metadata"] == {"owner": "e2e", "n": [1, 2]}
    assert updated["example_count"] == 2
    assert [e["id"] for e in client.datasets.get_dataset(dataset=ds.id, splits=[new_name])] == [e1, e2]
    # Adding a member twice is a no-op.
    r = patch(cinder, f"/v1/datasets/{ds.id}/splits/{split_id}", json={"add_example_ids": [e1]})
    assert r.status_code == 200 and r.json()["data"]["example_count"] == 2, r.text

    # An example of another dataset cannot join ("Dataset or example not found").
    other = client.datasets.create_dataset(name=unique_name("ds-split-other"), inputs=[{"o": 1}])
    r = patch(cinder, f"/v1/datasets/{ds.id}/splits/{split_id}", json={"add_example_ids": [other.examples[0]["id"]]})
    assert r.status_code == 404, r.text
    assert [e["id"] for e in client.datasets.get_dataset(dataset=ds.id, splits=[new_name])] == [e1, e2]

    # DELETE: the split goes, the examples stay.
    r = cinder.delete(f"/v1/datasets/{ds.id}/splits/{split_id}")
    assert r.status_code == 204, r.text
    assert all(s["id"] != split_id for s in all_pages(cinder, f"/v1/datasets/{ds.id}/splits"))
    assert cinder.delete(f"/v1/datasets/{ds.id}/splits/{split_id}").status_code == 404
    assert patch(cinder, f"/v1/datasets/{ds.id}/splits/{split_id}", json={"name": "x"}).status_code == 404
    assert cinder.get(f"/v1/datasets/{ds.id}/examples", params={"split": new_name}).status_code == 404
    assert client.datasets.get_dataset(dataset=ds.id).examples == ds.examples
    # Splits on a dataset that is not there: 404.
    r = cinder.post(f"/v1/datasets/{gid('Dataset', 2_000_000_000)}/splits", json={"name": unique_name("orphan")})
    assert r.status_code == 404, r.text


# --------------------------------------------------------------------------------------------------
# Exports
# --------------------------------------------------------------------------------------------------

# Phoenix has used two CSV layouts; either is accepted, but one of them exactly.
CSV_LAYOUTS = {
    "dotted": ("id", "node_id", "."),        # id,node_id,input.<k>,output.<k>,metadata.<k>
    "underscore": ("example_id", None, "_"),  # example_id,input_<k>,output_<k>,metadata_<k>
}


def _csv_rows(r: requests.Response) -> tuple[list[str], list[dict]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv"), r.headers
    reader = csv.DictReader(io.StringIO(r.content.decode("utf-8")))
    return list(reader.fieldnames or []), list(reader)


def _jsonl(r: requests.Response) -> list[dict]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain"), r.headers
    return [json.loads(line) for line in r.content.decode("utf-8").splitlines() if line.strip()]


def test_export_csv_and_jsonl(client, cinder):
    name = unique_name("ds-export")
    ds = client.datasets.create_dataset(
        name=name,
        inputs=[{"question": "Q1", "lang": "en"}, {"question": 'Grüße, "zitiert"\nzweite Zeile', "lang": "de"}],
        outputs=[{"answer": "A1"}, {"answer": "Antwort ✓"}],
        metadata=[{"src": "a"}, {"src": "b"}],
    )
    v1 = ds.version_id
    ds2 = client.datasets.add_examples_to_dataset(
        dataset=name, inputs=[{"question": "Q3", "lang": "fr"}], outputs=[{"answer": "A3"}], metadata=[{"src": "c"}],
    )
    examples = ds2.examples

    r = cinder.get(f"/v1/datasets/{ds.id}/csv")
    assert "attachment" in r.headers.get("content-disposition", "") and name in r.headers["content-disposition"]
    fields, rows = _csv_rows(r)
    layout = "dotted" if "input.question" in fields else "underscore"
    id_col, node_col, sep = CSV_LAYOUTS[layout]
    data_cols = {f"input{sep}question", f"input{sep}lang", f"output{sep}answer", f"metadata{sep}src"}
    assert set(fields) == data_cols | {id_col} | ({node_col} if node_col else set()), fields
    assert len(rows) == 3
    for row, ex in zip(rows, examples):
        assert row[id_col] == ex["id"]
        if node_col:
            assert row[node_col] == ex["node_id"]
        assert row[f"input{sep}question"] == ex["input"]["question"]
        assert row[f"input{sep}lang"] == ex["input"]["lang"]
        assert row[f"output{sep}answer"] == ex["output"]["answer"]
        assert row[f"metadata{sep}src"] == ex["metadata"]["src"]
    _, old_rows = _csv_rows(cinder.get(f"/v1/datasets/{ds.id}/csv", params={"version_id": v1}))
    assert [row[id_col] for row in old_rows] == [e["id"] for e in examples[:2]]

    r = cinder.get(f"/v1/datasets/{ds.id}/jsonl")
    assert "attachment" in r.headers.get("content-disposition", "") and name in r.headers["content-disposition"]
    lines = _jsonl(r)
    assert lines == [
        {"id": e["id"], "node_id": e["node_id"], "input": e["input"], "output": e["output"],
         "metadata": e["metadata"], "splits": []}
        for e in examples
    ]
    old_lines = _jsonl(cinder.get(f"/v1/datasets/{ds.id}/jsonl", params={"version_id": v1}))
    assert [line["id"] for line in old_lines] == [e["id"] for e in examples[:2]]


def test_jsonl_export_lists_splits(client, cinder):
    s1, s2 = unique_name("sp-a"), unique_name("sp-b")
    ds = client.datasets.create_dataset(name=unique_name("ds-export-splits"), examples=[
        {"input": {"q": 1}, "output": {}, "splits": [s1, s2]},
        {"input": {"q": 2}, "output": {}, "splits": s2},
        {"input": {"q": 3}, "output": {}},
    ])
    lines = _jsonl(cinder.get(f"/v1/datasets/{ds.id}/jsonl"))
    assert [line["id"] for line in lines] == [e["id"] for e in ds.examples]
    assert [sorted(line["splits"]) for line in lines] == [sorted([s1, s2]), [s2], []]


def test_export_openai_ft_and_evals(client, cinder):
    system = {"role": "system", "content": "Be terse."}
    inputs = [
        {"messages": [system, {"role": "user", "content": "2+2?"}]},
        {"messages": [{"role": "user", "content": "Sag hallo 👋"}]},
        {"prompt": "no messages here"},
        {"messages": [{"role": "user", "content": "parts?"}]},
        {"messages": "not a list"},
    ]
    outputs = [
        {"messages": [{"role": "assistant", "content": "4"}]},
        {"messages": [{"role": "assistant", "content": "Hallo! 👋"}]},
        {"text": "none"},
        {"messages": [{"role": "assistant", "content": [{"type": "text", "text": "a part"}]}]},
        {"messages": []},
    ]
    name = unique_name("ds-openai")
    ds = client.datasets.create_dataset(name=name, inputs=inputs, outputs=outputs)
    assert len(ds) == 5

    ft = _jsonl(cinder.get(f"/v1/datasets/{ds.id}/jsonl/openai_ft"))
    # messages = input.messages + output.messages (each only when it is a list).
    assert ft == [
        {"messages": [system, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
        {"messages": [{"role": "user", "content": "Sag hallo 👋"}, {"role": "assistant", "content": "Hallo! 👋"}]},
        {"messages": []},
        {"messages": [{"role": "user", "content": "parts?"},
                      {"role": "assistant", "content": [{"type": "text", "text": "a part"}]}]},
        {"messages": []},
    ]
    evals = _jsonl(cinder.get(f"/v1/datasets/{ds.id}/jsonl/openai_evals"))
    # messages = input.messages; ideal = the last output message's content when it is a string, else "".
    assert evals == [
        {"messages": [system, {"role": "user", "content": "2+2?"}], "ideal": "4"},
        {"messages": [{"role": "user", "content": "Sag hallo 👋"}], "ideal": "Hallo! 👋"},
        {"messages": [], "ideal": ""},
        {"messages": [{"role": "user", "content": "parts?"}], "ideal": ""},
        {"messages": [], "ideal": ""},
    ]
    # version_id applies to these exports too.
    ds2 = client.datasets.add_examples_to_dataset(dataset=ds.id, inputs=[{"messages": []}], outputs=[{"messages": []}])
    assert len(_jsonl(cinder.get(f"/v1/datasets/{ds.id}/jsonl/openai_ft"))) == 6
    assert len(_jsonl(cinder.get(f"/v1/datasets/{ds.id}/jsonl/openai_evals", params={"version_id": ds.version_id}))) == 5
    assert ds2.version_id != ds.version_id


# --------------------------------------------------------------------------------------------------
# Dataset labels
# --------------------------------------------------------------------------------------------------


def _label_ids(cinder, dataset_ident: str) -> set[str]:
    r = cinder.get(f"/v1/datasets/{dataset_ident}/labels")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"data"}
    for label in body["data"]:
        assert set(label) == LABEL_KEYS
    return {label["id"] for label in body["data"]}


def test_dataset_labels(client, cinder):
    name1, name2 = unique_name("label"), unique_name("label")
    r = cinder.post("/v1/dataset_labels", json={"name": name1, "color": "#00cc88", "description": "first"})
    assert r.status_code == 201, r.text
    l1 = r.json()["data"]
    assert set(l1) == LABEL_KEYS
    rowid_of(l1["id"], "DatasetLabel")
    assert (l1["name"], l1["color"], l1["description"]) == (name1, "#00cc88", "first")
    r = cinder.post("/v1/dataset_labels", json={"name": name2, "color": "#112233"})
    assert r.status_code == 201, r.text
    l2 = r.json()["data"]
    assert l2["description"] is None

    # Bad bodies and duplicates.
    assert cinder.post("/v1/dataset_labels", json={"name": name1, "color": "#00cc88"}).status_code == 409
    for bad in ({"name": unique_name("l"), "color": "#00CC88"}, {"name": unique_name("l"), "color": "red"},
                {"name": unique_name("l")}, {"name": "", "color": "#00cc88"}, {"color": "#00cc88"}):
        r = cinder.post("/v1/dataset_labels", json=bad)
        assert r.status_code == 422, (bad, r.status_code, r.text)

    # Read back, one and all (paginated).
    assert cinder.get(f"/v1/dataset_labels/{l1['id']}").json() == {"data": l1}
    listed = all_pages(cinder, "/v1/dataset_labels", limit=2)
    assert l1 in listed and l2 in listed
    assert len({label["id"] for label in listed}) == len(listed)

    # PATCH changes only what is sent; null clears the description.
    r = patch(cinder, f"/v1/dataset_labels/{l1['id']}", json={"description": None})
    assert r.status_code == 200, r.text
    l1 = r.json()["data"]
    assert (l1["name"], l1["color"], l1["description"]) == (name1, "#00cc88", None)
    renamed = unique_name("label-renamed")
    r = patch(cinder, f"/v1/dataset_labels/{l1['id']}", json={"name": renamed, "color": "#abcdef"})
    assert r.status_code == 200, r.text
    l1 = r.json()["data"]
    assert (l1["name"], l1["color"], l1["description"]) == (renamed, "#abcdef", None)
    assert patch(cinder, f"/v1/dataset_labels/{l1['id']}", json={"name": name2}).status_code == 409

    # Apply to datasets (by id or by name).
    ds1 = client.datasets.create_dataset(name=unique_name("ds-lab1"), inputs=[{"x": 1}])
    ds2 = client.datasets.create_dataset(name=unique_name("ds-lab2"), inputs=[{"x": 2}])
    assert _label_ids(cinder, ds1.id) == set()
    r = put(cinder, f"/v1/datasets/{ds1.id}/labels/{l1['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"data": l1}
    assert put(cinder, f"/v1/datasets/{ds1.name}/labels/{l1['id']}").status_code == 200  # idempotent
    assert _label_ids(cinder, ds1.name) == {l1["id"]}

    # Replace the whole set.
    r = put(cinder, f"/v1/datasets/{ds1.id}/labels", json={"dataset_label_ids": [l2["id"]]})
    assert r.status_code == 200, r.text
    assert [label["id"] for label in r.json()["data"]] == [l2["id"]]
    assert _label_ids(cinder, ds1.id) == {l2["id"]}
    r = put(cinder, f"/v1/datasets/{ds1.id}/labels", json={"dataset_label_ids": [l1["id"], l2["id"]]})
    assert r.status_code == 200, r.text
    assert {label["id"] for label in r.json()["data"]} == {l1["id"], l2["id"]}
    assert put(cinder, f"/v1/datasets/{ds2.id}/labels/{l2['id']}").status_code == 200

    # Remove one (idempotent).
    assert cinder.delete(f"/v1/datasets/{ds1.id}/labels/{l2['id']}").status_code == 204
    assert cinder.delete(f"/v1/datasets/{ds1.id}/labels/{l2['id']}").status_code == 204
    assert _label_ids(cinder, ds1.id) == {l1["id"]}
    assert _label_ids(cinder, ds2.id) == {l2["id"]}

    # Unknown label or dataset: 404, and nothing changes.
    missing_label = gid("DatasetLabel", 2_000_000_000)
    assert put(cinder, f"/v1/datasets/{ds1.id}/labels/{missing_label}").status_code == 404
    assert put(cinder, f"/v1/datasets/{ds1.id}/labels",
               json={"dataset_label_ids": [l2["id"], missing_label]}).status_code == 404
    assert _label_ids(cinder, ds1.id) == {l1["id"]}
    assert put(cinder, f"/v1/datasets/{gid('Dataset', 2_000_000_000)}/labels/{l1['id']}").status_code == 404
    assert cinder.get(f"/v1/dataset_labels/{missing_label}").status_code == 404

    # An empty list removes all labels.
    r = put(cinder, f"/v1/datasets/{ds2.id}/labels", json={"dataset_label_ids": []})
    assert r.status_code == 200 and r.json() == {"data": []}, r.text
    assert _label_ids(cinder, ds2.id) == set()

    # Deleting a label removes it from every dataset; deleting a dataset keeps its labels.
    assert cinder.delete(f"/v1/dataset_labels/{l1['id']}").status_code == 204
    assert cinder.get(f"/v1/dataset_labels/{l1['id']}").status_code == 404
    assert cinder.delete(f"/v1/dataset_labels/{l1['id']}").status_code == 404
    assert _label_ids(cinder, ds1.id) == set()
    assert put(cinder, f"/v1/datasets/{ds2.id}/labels/{l2['id']}").status_code == 200
    assert cinder.delete(f"/v1/datasets/{ds2.id}").status_code == 204
    assert cinder.get(f"/v1/dataset_labels/{l2['id']}").json() == {"data": l2}
    assert cinder.delete(f"/v1/dataset_labels/{l2['id']}").status_code == 204
