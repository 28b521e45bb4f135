"""End-to-end fixtures: a real `cinder serve` process (with its private PostgreSQL cluster), the real
OpenTelemetry SDK exporters and the official `arize-phoenix-client`.

Run with:
    .venv/bin/python -m pytest -q Tests/e2e -p no:cacheprovider      (scripts/test.sh does this)

Environment:
    CINDER_BIN                     the binary (default .build/debug/cinder in this repository)
    CINDER_E2E_KEEP=1              keep the temporary working directories (logs: <dir>/cinder.log)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import httpx
import pytest
import requests

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

DEFAULT_BIN = str(Path(__file__).resolve().parents[2] / ".build" / "debug" / "cinder")
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 60.0
# Small enough that a 2.5 MB body is "oversize" in test_malformed.
MAX_REQUEST_BYTES = 2_000_000
# Compression-bomb guard, lowered so a 10 MB gzip bomb is rejected.
MAX_DECOMPRESSED_BYTES = 8_000_000

PROJECT_ATTR = "openinference.project.name"


# --------------------------------------------------------------------------------------------------
# Server process
# --------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 80) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError as e:  # pragma: no cover - diagnostics only
        return f"<no log: {e}>"


class CinderServer:
    """One `cinder serve` process; restart() keeps the working directory and ports."""

    def __init__(self, binary: str, working_dir: Path, extra_env: dict[str, str]):
        self.binary = binary
        self.working_dir = working_dir
        self.http_port = free_port()
        self.grpc_port = free_port()
        while self.grpc_port == self.http_port:
            self.grpc_port = free_port()
        self.host = "127.0.0.1"
        self.log_path = working_dir / "cinder.log"
        self.extra_env = extra_env
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0

    # -- addresses -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        """host:port for the OTLP gRPC exporter (use insecure=True)."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def traces_url(self) -> str:
        return self.base_url + "/v1/traces"

    @property
    def postmaster_pid_file(self) -> Path:
        return self.working_dir / "postgres" / "data" / "postmaster.pid"

    # -- lifecycle -------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        # Only the settings given here: nothing inherited (database URL, limits, ports...).
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "CINDER_", "OTEL_"))}
        env.update(
            {
                "PHOENIX_PORT": str(self.http_port),
                "PHOENIX_GRPC_PORT": str(self.grpc_port),
                "PHOENIX_WORKING_DIR": str(self.working_dir),
            }
        )
        # Keep the server's scratch files (its child-process output files) inside the working dir.
        tmp = self.working_dir / "tmp"
        tmp.mkdir(exist_ok=True)
        os.chmod(tmp, 0o1777)
        env["TMPDIR"] = str(tmp)
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts} at {datetime.now().isoformat()} =====\n".encode())
        log.flush()
        binary = self.binary
        # The binary may be replaced by a concurrent rebuild; wait briefly for it to reappear.
        deadline = time.monotonic() + 60
        while not os.access(binary, os.X_OK) and time.monotonic() < deadline:
            time.sleep(0.5)
        self.proc = subprocess.Popen(
            [
                binary,
                "serve",
                "--host",
                self.host,
                "--port",
                str(self.http_port),
                "--grpc-port",
                str(self.grpc_port),
                "--working-dir",
                str(self.working_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self._env(),
            cwd=str(self.working_dir),
            start_new_session=True,
        )
        log.close()
        self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"cinder exited with status {self.proc.returncode} during startup.\n"
                    f"--- log tail ({self.log_path}) ---\n{_tail(self.log_path)}"
                )
            try:
                r = requests.get(self.base_url + "/readyz", timeout=2)
                if r.status_code == 200 and r.text.strip() == "ready":
                    return
                last_error = f"HTTP {r.status_code}: {r.text[:200]!r}"
            except requests.RequestException as e:
                last_error = repr(e)
            time.sleep(0.25)
        # Leave nothing behind: the caller's teardown will not run when setup fails.
        self.stop()
        raise RuntimeError(
            f"cinder not ready after {timeout:.0f}s (last: {last_error}).\n"
            f"--- log tail ({self.log_path}) ---\n{_tail(self.log_path)}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> Optional[int]:
        """SIGTERM and wait; returns the exit status (SIGKILL as a last resort)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
                raise RuntimeError(
                    f"cinder did not exit within {timeout:.0f}s of SIGTERM (killed).\n"
                    f"--- log tail ---\n{_tail(self.log_path)}"
                )
        return proc.returncode

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- convenience -----------------------------------------------------------------------------
    def get(self, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 30)
        return requests.get(self.base_url + path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 30)
        return requests.post(self.base_url + path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 30)
        return requests.delete(self.base_url + path, **kw)

    def metric(self, name: str) -> float:
        """Sum of all samples of a Prometheus metric (all label sets)."""
        text = self.get("/metrics").text
        total, found = 0.0, False
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            metric_name = line.split("{", 1)[0].split(" ", 1)[0]
            if metric_name == name:
                total += float(line.rsplit(" ", 1)[1])
                found = True
        assert found, f"metric {name} not in /metrics:\n{text[:3000]}"
        return total


def _stop_leftover_postgres(working_dir: Path) -> None:
    """If the server could not stop its cluster (a failure the tests report), don't leak it."""
    data = working_dir / "postgres" / "data"
    if not (data / "postmaster.pid").exists():
        return
    versions = sorted((int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit()), reverse=True)
    pg_ctl = f"/usr/lib/postgresql/{versions[0]}/bin/pg_ctl"
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(as_pg + [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


def pytest_collection_modifyitems(session, config, items):
    """The restart test goes last: if the server does not come back, nothing else is affected."""
    items.sort(key=lambda item: item.nodeid.split("::")[0].endswith("test_restart.py"))


_startup_failures: list[str] = []


@contextlib.contextmanager
def running_server(extra_env: dict[str, str], prefix: str = "cinder-e2e-"):
    """Starts `cinder serve` in a fresh working dir; SIGTERM and cleanup afterwards."""
    if _startup_failures:
        # Don't spend another READY_TIMEOUT_S on a server that already failed to start once.
        raise RuntimeError("not attempted: an earlier cinder start failed:\n" + _startup_failures[0])
    binary = os.environ.get("CINDER_BIN", DEFAULT_BIN)
    assert os.path.exists(binary), f"CINDER_BIN {binary} does not exist"
    working_dir = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(working_dir, 0o755)
    server = CinderServer(binary, working_dir, extra_env)
    try:
        try:
            server.start()
        except Exception as e:
            _startup_failures.append(str(e))
            raise
        yield server
    finally:
        try:
            server.stop()
        finally:
            _stop_leftover_postgres(working_dir)
            if not os.environ.get("CINDER_E2E_KEEP"):
                shutil.rmtree(working_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def cinder() -> CinderServer:
    with running_server(
        {
            "CINDER_MAX_REQUEST_BYTES": str(MAX_REQUEST_BYTES),
            "CINDER_MAX_DECOMPRESSED_BYTES": str(MAX_DECOMPRESSED_BYTES),
            "CINDER_LOG_LEVEL": "info",
        }
    ) as server:
        yield server


@pytest.fixture(scope="session")
def client(cinder: CinderServer):
    from phoenix.client import Client

    return Client(base_url=cinder.base_url)


def unique_name(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def project_name() -> str:
    return unique_name("proj")


# --------------------------------------------------------------------------------------------------
# OpenTelemetry helpers
# --------------------------------------------------------------------------------------------------


class RecordingExporter(SpanExporter):
    """Wraps an exporter and remembers each export's result, so a failed export fails the test."""

    def __init__(self, inner: SpanExporter):
        self.inner = inner
        self.results: list[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def http_exporter(server: CinderServer, **kw: Any) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=server.traces_url, timeout=30, **kw)


def grpc_exporter(server: CinderServer, **kw: Any) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=server.grpc_endpoint, insecure=True, timeout=30, **kw)


@dataclass
class Pipeline:
    provider: TracerProvider
    memory: InMemorySpanExporter
    recorder: Optional[RecordingExporter]

    @property
    def tracer(self):
        return self.provider.get_tracer("cinder-e2e")

    def finish(self) -> list[ReadableSpan]:
        """Flush, shut down and return the spans the SDK produced (as exported)."""
        assert self.provider.force_flush(30_000)
        self.provider.shutdown()
        if self.recorder is not None:
            assert self.recorder.results, "exporter was never called"
            assert all(r == SpanExportResult.SUCCESS for r in self.recorder.results), self.recorder.results
        return list(self.memory.get_finished_spans())


def make_tracer_provider(
    server: Optional[CinderServer], project: Optional[str], protocol: Optional[str] = "http", **exporter_kw: Any
) -> Pipeline:
    """A TracerProvider whose spans go (synchronously, SimpleSpanProcessor) to the server over
    protocol "http" (OTLP/HTTP protobuf) or "grpc"; protocol None exports nowhere (in memory only)."""
    attrs = {"service.name": "cinder-e2e"}
    if project is not None:
        attrs[PROJECT_ATTR] = project
    provider = TracerProvider(resource=Resource.create(attrs))
    memory = InMemorySpanExporter()
    recorder = None
    if protocol == "http":
        recorder = RecordingExporter(http_exporter(server, **exporter_kw))
    elif protocol == "grpc":
        recorder = RecordingExporter(grpc_exporter(server, **exporter_kw))
    elif protocol is not None:
        raise ValueError(protocol)
    if recorder is not None:
        provider.add_span_processor(SimpleSpanProcessor(recorder))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return Pipeline(provider, memory, recorder)


METADATA = {"user": "alice", "tier": 2, "nested": {"deep": True}}


def build_sample_trace(tracer, session_id: str = "session-1", seed: str = "") -> None:
    """Root CHAIN span with a child LLM span and a child TOOL span that raises (exception event,
    ERROR status). Attributes cover strings, ints, a float, a bool, a list and JSON metadata."""
    with tracer.start_as_current_span(
        "agent-run" + seed,
        attributes={
            "openinference.span.kind": "CHAIN",
            "input.value": "What is the weather in Paris?",
            "input.mime_type": "text/plain",
            "output.value": "It is sunny.",
            "session.id": session_id,
            "user.id": "user-42",
            "metadata": json.dumps(METADATA),
            "tag.tags": ["alpha", "beta", "gamma"],
            "retry.enabled": True,
            "temperature.ratio": 0.25,
        },
    ) as root:
        with tracer.start_as_current_span(
            "llm-call" + seed,
            attributes={
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.token_count.prompt": 12,
                "llm.token_count.completion": 7,
                "input.value": "weather Paris",
                "output.value": "sunny",
                "llm.invocation_parameters": '{"temperature": 0.1}',
            },
        ):
            pass
        with tracer.start_as_current_span(
            "weather-tool" + seed,
            attributes={"openinference.span.kind": "TOOL", "tool.name": "get_weather", "tool.attempts": 3},
            record_exception=False,
            set_status_on_exception=False,
        ) as tool:
            try:
                raise RuntimeError("weather service unavailable")
            except RuntimeError as e:
                tool.record_exception(e, attributes={"custom.attempt": 1})
                tool.set_status(Status(StatusCode.ERROR, "tool failed: unavailable"))
        root.add_event("retrieval-started", attributes={"doc.count": 3, "doc.source": "web"})
        root.add_event("checkpoint")
        root.set_status(Status(StatusCode.OK))


# --------------------------------------------------------------------------------------------------
# Expected-value helpers (what Phoenix's REST API returns for an SDK span)
# --------------------------------------------------------------------------------------------------


def hex_trace_id(span: ReadableSpan) -> str:
    return format(span.context.trace_id, "032x")


def hex_span_id(span: ReadableSpan) -> str:
    return format(span.context.span_id, "016x")


def hex_parent_id(span: ReadableSpan) -> Optional[str]:
    return format(span.parent.span_id, "016x") if span.parent is not None else None


def iso_to_us(value: str) -> int:
    """Microseconds since the epoch of an ISO timestamp as the REST API prints it."""
    assert isinstance(value, str), value
    assert value.endswith("+00:00"), f"timestamp not in +00:00 form: {value!r}"
    dt = datetime.fromisoformat(value)
    frac = value[len("YYYY-MM-DDTHH:MM:SS"):-len("+00:00")]
    if frac:
        assert len(frac) == 7 and frac[0] == "." and frac[1:].isdigit(), f"bad fraction in {value!r}"
        assert frac != ".000000", f"zero fraction should be omitted: {value!r}"
    epoch = datetime(1970, 1, 1, tzinfo=dt.tzinfo)
    delta = dt - epoch
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _flatten_json(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten_json(f"{prefix}.{k}", v, out)
    else:
        out[prefix] = value


JSON_STRING_ATTRIBUTES = ("metadata",)


def expected_attributes(span: ReadableSpan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (span.attributes or {}).items():
        if key == "openinference.span.kind":
            continue
        if key in JSON_STRING_ATTRIBUTES and isinstance(value, str):
            _flatten_json(key, json.loads(value), out)
            continue
        if isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


EXCEPTION_EVENT_KEYS = ("exception.type", "exception.message", "exception.escaped", "exception.stacktrace")


def expected_event_attributes(event) -> dict[str, Any]:
    attrs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in (event.attributes or {}).items()}
    if event.name == "exception":
        # Phoenix stores exception events as SpanException: only the exception.* attributes survive.
        return {k: attrs[k] for k in EXCEPTION_EVENT_KEYS if k in attrs}
    return attrs


def expected_status_code(span: ReadableSpan) -> str:
    return {StatusCode.UNSET: "UNSET", StatusCode.OK: "OK", StatusCode.ERROR: "ERROR"}[span.status.status_code]


def assert_rest_span_matches(rest: dict, sdk: ReadableSpan) -> None:
    """Every field the SDK sent, as the Phoenix REST span JSON must show it."""
    where = f"span {sdk.name}"
    assert rest["name"] == sdk.name, where
    assert rest["context"] == {"trace_id": hex_trace_id(sdk), "span_id": hex_span_id(sdk)}, where
    assert rest["parent_id"] == hex_parent_id(sdk), where
    assert rest["span_kind"] == sdk.attributes["openinference.span.kind"], where
    assert rest["status_code"] == expected_status_code(sdk), where
    assert rest["status_message"] == (sdk.status.description or ""), where
    assert iso_to_us(rest["start_time"]) == sdk.start_time // 1000, where
    assert iso_to_us(rest["end_time"]) == sdk.end_time // 1000, where
    assert rest["attributes"] == expected_attributes(sdk), where
    assert isinstance(rest["id"], str) and rest["id"], where
    assert len(rest["events"]) == len(sdk.events), where
    for got, want in zip(rest["events"], sdk.events):
        assert got["name"] == want.name, where
        assert iso_to_us(got["timestamp"]) == want.timestamp // 1000, where
        want_attrs = expected_event_attributes(want)
        if want.name == "exception":
            # Phoenix drops other attributes of exception events; Cinder may keep them.
            assert {k: v for k, v in got["attributes"].items() if k in EXCEPTION_EVENT_KEYS} == want_attrs, where
        else:
            assert got["attributes"] == want_attrs, where


def spans_by_name(spans: list[dict]) -> dict[str, dict]:
    out = {s["name"]: s for s in spans}
    assert len(out) == len(spans), [s["name"] for s in spans]
    return out


def sdk_by_name(spans: Sequence[ReadableSpan]) -> dict[str, ReadableSpan]:
    out = {s.name: s for s in spans}
    assert len(out) == len(spans)
    return out


def encode_request(spans: Sequence[ReadableSpan]) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return encode_spans(spans).SerializeToString()


def project_span_count(server: CinderServer, project: str) -> Optional[int]:
    """Number of spans in a project (None if the project does not exist)."""
    r = server.get(f"/v1/projects/{project}")
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    n, cursor = 0, None
    while True:
        params = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        r = server.get(f"/v1/projects/{project}/spans", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        n += len(body["data"])
        cursor = body.get("next_cursor")
        if not cursor:
            return n


def client_span_count(client, project: str) -> int:
    """Spans in a project as the official client lists them (0 before the project's first span)."""
    try:
        return len(client.spans.get_spans(project_identifier=project, limit=1000))
    except httpx.HTTPStatusError as e:
        if e.response.status_code == 404:  # the project appears with its first span
            return 0
        raise


def session_exists(client, session_id: str) -> bool:
    try:
        client.sessions.get(session_id=session_id)
        return True
    except httpx.HTTPStatusError as e:
        if e.response.status_code == 404:
            return False
        raise


# --------------------------------------------------------------------------------------------------
# Auth on: one server shared by the auth and tenancy modules
# --------------------------------------------------------------------------------------------------

AUTH_SECRET = "e2e-secret-0123456789abcdefghijklmnopq"
ADMIN_SECRET = "e2e-admin-secret-0123456789abcdefghijk"
CREDENTIAL_CACHE_SECONDS = 2


@pytest.fixture(scope="session")
def auth_cinder() -> CinderServer:
    """`cinder serve` with PHOENIX_ENABLE_AUTH: its private cluster, the default admin
    (admin@localhost / admin), cheap password hashing and a short credential cache."""
    with running_server(
        {
            "PHOENIX_ENABLE_AUTH": "true",
            "PHOENIX_SECRET": AUTH_SECRET,
            "PHOENIX_ADMIN_SECRET": ADMIN_SECRET,
            "CINDER_PASSWORD_HASH_COST": "10",
            "CINDER_CREDENTIAL_CACHE_SECONDS": str(CREDENTIAL_CACHE_SECONDS),
            "CINDER_LOG_LEVEL": "info",
        },
        prefix="cinder-auth-e2e-",
    ) as server:
        yield server
