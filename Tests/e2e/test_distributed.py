"""Distributed ingestion end to end: the real OpenTelemetry SDK → two `cinder-collector`s → a Kafka
cluster (librdkafka's mock cluster in its own process, `cinder-kafka-mock`, speaking the real
protocol) → two `cinder-writer`s in one consumer group → PostgreSQL (a private server this module
starts) → read back with `arize-phoenix-client` through `cinder-api`.

Also: a writer killed with SIGKILL mid-load, the broker down, a poison message, the database down,
and SIGTERM on a collector with requests in flight. Every check is about what was acknowledged.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from phoenix.client import Client

from conftest import (
    _tail,
    assert_rest_span_matches,
    build_sample_trace,
    free_port,
    hex_span_id,
    make_tracer_provider,
    sdk_by_name,
    spans_by_name,
    unique_name,
)

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("CINDER_BIN", str(REPO / ".build" / "debug" / "cinder"))).parent
TOPIC = "cinder.spans.v1"
DLQ = "cinder.spans.v1.dlq"
PARTITIONS = 4
# The collector's bounded wait for Kafka's acknowledgement.
ACK_TIMEOUT_MS = 3000


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "CINDER_", "OTEL_"))}


class Process:
    """A Cinder service process with its log, health-checked over HTTP."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], work: Path, ready_url: str):
        self.name, self.argv, self.env, self.ready_url = name, argv, env, ready_url
        self.log_path = work / f"{name}.log"
        self.proc: Optional[subprocess.Popen] = None

    def start(self, wait: bool = True) -> "Process":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"{self.name} exited ({self.proc.returncode}):\n{_tail(self.log_path)}"
            try:
                if requests.get(self.ready_url, timeout=3).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} not ready after {timeout}s:\n{_tail(self.log_path)}")

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metric(self, name: str) -> float:
        base = self.ready_url.rsplit("/", 1)[0]
        total = 0.0
        for line in requests.get(base + "/metrics", timeout=10).text.splitlines():
            if not line.startswith("#") and line.split("{", 1)[0].split(" ", 1)[0] == name:
                total += float(line.rsplit(" ", 1)[1])
        return total


class Collector(Process):
    def __init__(self, name: str, brokers: str, work: Path):
        self.http_port, self.grpc_port = free_port(), free_port()
        env = _clean_env() | {
            "CINDER_KAFKA_BROKERS": brokers,
            "CINDER_COLLECTOR_HTTP_PORT": str(self.http_port),
            "PHOENIX_GRPC_PORT": str(self.grpc_port),
            "PHOENIX_HOST": "127.0.0.1",
            "CINDER_COLLECTOR_ACK_TIMEOUT_MS": str(ACK_TIMEOUT_MS),
        }
        super().__init__(name, [str(BIN_DIR / "cinder-collector")], env, work, f"http://127.0.0.1:{self.http_port}/readyz")

    # The attributes conftest's exporters use.
    @property
    def traces_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1/traces"

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


class Writer(Process):
    def __init__(self, name: str, brokers: str, database_url: str, owner_url: str, work: Path):
        port = free_port()
        env = _clean_env() | {
            "CINDER_KAFKA_BROKERS": brokers,
            "PHOENIX_SQL_DATABASE_URL": database_url,
            "CINDER_MIGRATION_DATABASE_URL": owner_url,
            "CINDER_WRITER_ADMIN_PORT": str(port),
            "PHOENIX_HOST": "127.0.0.1",
            "CINDER_WRITER_BATCH_MS": "50",
            "CINDER_WRITER_WRITE_TIMEOUT_MS": "3000",
            # Pass-through librdkafka properties: a killed member leaves the group within seconds.
            "CINDER_KAFKA_CONSUMER_SESSION_TIMEOUT_MS": "6000",
            "CINDER_KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS": "1000",
        }
        super().__init__(name, [str(BIN_DIR / "cinder-writer")], env, work, f"http://127.0.0.1:{port}/readyz")


class Postgres:
    """A private PostgreSQL server (scripts/test-postgres.sh), stoppable to test the writer's retries."""

    def __init__(self, work: Path):
        self.dir, self.port = work / "pg", free_port()
        self.script = str(REPO / "scripts" / "test-postgres.sh")

    def start(self, fresh: bool = True) -> str:
        if fresh:
            out = subprocess.run([self.script, "start", str(self.dir), str(self.port)], check=True, capture_output=True, text=True)
            return out.stdout.strip()
        as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        # The options scripts/test-postgres.sh starts it with (they are not in postgresql.conf).
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} -c fsync=off"
        subprocess.run(as_pg + [self._pg_ctl(), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-o", options, "start"],
                       check=True, capture_output=True)
        return ""

    def stop(self) -> None:
        subprocess.run([self.script, "stop", str(self.dir)], check=False, capture_output=True)

    def start_for_cinder(self) -> tuple[str, str]:
        """Starts a fresh server with the two roles of the tenancy design: the superuser owns and migrates
        the `cinder` database, the services connect as `cinder_service`, which row-level security holds.
        Returns (owner URL, service URL)."""
        base_url = self.start()
        subprocess.run(["psql", base_url, "-qc", "CREATE DATABASE cinder"], check=True, capture_output=True)
        subprocess.run(["psql", base_url, "-qc", "CREATE ROLE cinder_service LOGIN"], check=True, capture_output=True)
        owner_url = base_url.rsplit("/", 1)[0] + "/cinder"
        return owner_url, owner_url.replace("postgres@", "cinder_service@", 1)

    @staticmethod
    def _pg_ctl() -> str:
        versions = sorted((int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit()), reverse=True)
        return f"/usr/lib/postgresql/{versions[0]}/bin/pg_ctl"

    def query(self, sql: str) -> list[str]:
        out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "cinder", "-tAc", sql],
                             check=True, capture_output=True, text=True)
        return [line for line in out.stdout.splitlines() if line]


class Cluster:
    def __init__(self, work: Path):
        self.work = work
        self.pg = Postgres(work)
        self.mock: Optional[subprocess.Popen] = None
        self.brokers = ""
        self.collectors: list[Collector] = []
        self.writers: list[Writer] = []
        self.api: Optional[Process] = None

    def start(self) -> None:
        self.owner_url, self.database_url = self.pg.start_for_cinder()
        mock_log = open(self.work / "kafka-mock.log", "ab")
        self.mock = subprocess.Popen(
            [str(BIN_DIR / "cinder-kafka-mock"), "--topic", f"{TOPIC}:{PARTITIONS}", "--topic", f"{DLQ}:1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=mock_log, text=True)
        mock_log.close()
        self.brokers = self.mock.stdout.readline().strip()
        assert self.brokers, "cinder-kafka-mock printed no bootstrap address"
        self.collectors = [Collector(f"collector-{i}", self.brokers, self.work).start() for i in range(2)]
        self.writers = [Writer(f"writer-{i}", self.brokers, self.database_url, self.owner_url, self.work).start() for i in range(2)]
        api_port = free_port()
        self.api = Process(
            "cinder-api", [str(BIN_DIR / "cinder-api")],
            _clean_env() | {"PHOENIX_SQL_DATABASE_URL": self.database_url, "CINDER_MIGRATION_DATABASE_URL": self.owner_url,
                            "PHOENIX_PORT": str(api_port), "PHOENIX_HOST": "127.0.0.1"},
            self.work, f"http://127.0.0.1:{api_port}/readyz").start()
        self.api_url = f"http://127.0.0.1:{api_port}"

    def broker(self, command: str) -> None:
        self.mock.stdin.write(command + "\n")
        self.mock.stdin.flush()

    def stop(self) -> None:
        for p in [*self.collectors, *self.writers, self.api]:
            if p is not None and p.running():
                try:
                    p.terminate(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        if self.mock is not None:
            self.mock.terminate()
            self.mock.wait(10)
        self.pg.stop()

    def stored_span_ids(self, project: str) -> list[str]:
        return self.pg.query(
            "SELECT s.span_id FROM spans s JOIN projects p ON p.id = s.project_id "
            f"WHERE p.name = '{project}'")

    def wait_stored(self, project: str, expected: set[str], timeout: float = 60) -> list[str]:
        """Waits until every expected span id is stored; returns the stored ids (duplicates kept)."""
        deadline = time.monotonic() + timeout
        while True:
            stored = self.stored_span_ids(project)
            if expected <= set(stored) or time.monotonic() > deadline:
                return stored
            time.sleep(0.25)

    def wait_written_equals_stored(self, timeout: float = 10) -> None:
        """Waits until the writers' cinder_spans_written_total adds up to every span in the database (no
        writer restarted in between): the counters have caught up with the commits."""
        deadline = time.monotonic() + timeout
        while True:
            written = sum(w.metric("cinder_spans_written_total") for w in self.writers)
            stored = int(self.pg.query("SELECT count(*) FROM spans")[0])
            if written == stored:
                return
            assert time.monotonic() < deadline, f"cinder_spans_written_total {written} != {stored} spans stored"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster():
    work = Path(tempfile.mkdtemp(prefix="cinder-dist-", dir="/tmp"))
    os.chmod(work, 0o755)
    c = Cluster(work)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        if not os.environ.get("CINDER_E2E_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


def otlp_request(project: str, spans: int, rng: random.Random) -> tuple[bytes, set[str]]:
    """An OTLP protobuf body with `spans` spans in traces of four, and their span ids."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="openinference.project.name", value=AnyValue(string_value=project)))
    ss = rs.scope_spans.add()
    ids: set[str] = set()
    now = time.time_ns()
    trace_id = b""
    for i in range(spans):
        if i % 4 == 0:
            trace_id = rng.randbytes(16)
        span_id = rng.randbytes(8)
        s = ss.spans.add(trace_id=trace_id, span_id=span_id, name=f"span-{i}",
                         start_time_unix_nano=now, end_time_unix_nano=now + 1000)
        s.attributes.append(KeyValue(key="openinference.span.kind", value=AnyValue(string_value="CHAIN")))
        s.attributes.append(KeyValue(key="input.value", value=AnyValue(string_value="x" * 200)))
        ids.add(span_id.hex())
    return request.SerializeToString(), ids


def post(url: str, body: bytes, timeout: float = 30) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=timeout)


# --------------------------------------------------------------------------------------------------


def test_sdk_http_and_grpc_through_two_collectors_and_two_writers(cluster):
    project = unique_name("dist")
    # One trace per collector and protocol: HTTP to the first collector, gRPC to the second.
    http = make_tracer_provider(cluster.collectors[0], project, "http")
    build_sample_trace(http.tracer, session_id="dist-session", seed="-http")
    grpc = make_tracer_provider(cluster.collectors[1], project, "grpc")
    build_sample_trace(grpc.tracer, session_id="dist-session", seed="-grpc")
    sent = http.finish() + grpc.finish()
    assert len(sent) == 6

    stored = cluster.wait_stored(project, {hex_span_id(s) for s in sent})
    assert sorted(stored) == sorted(hex_span_id(s) for s in sent)

    client = Client(base_url=cluster.api_url)
    spans = client.spans.get_spans(project_identifier=project, limit=100)
    got, want = spans_by_name(spans), sdk_by_name(sent)
    assert got.keys() == want.keys()
    for name, sdk in want.items():
        assert_rest_span_matches(got[name], sdk)
    sessions = client.sessions.list(project_name=project)
    assert [s["session_id"] for s in sessions] == ["dist-session"]
    # The collectors priced the LLM spans (gpt-4o-mini, 12 prompt and 7 completion tokens) before Kafka.
    costs = cluster.pg.query(
        "SELECT s.llm_cost_prompt || ' ' || s.llm_cost_completion || ' ' || s.llm_cost_total FROM spans s JOIN projects p ON p.id = s.project_id "
        f"WHERE p.name = '{project}' AND s.span_kind = 'LLM'")
    assert len(costs) == 2
    for row in costs:
        prompt, completion, total = map(float, row.split())
        assert (prompt, completion) == pytest.approx((12 * 0.15 / 1e6, 7 * 0.60 / 1e6)) and total == pytest.approx(prompt + completion)


def test_consumer_group_spreads_partitions_over_both_writers(cluster):
    project = unique_name("spread")
    rng = random.Random(1)
    cluster.wait_written_equals_stored()
    before = [w.metric("cinder_spans_written_total") for w in cluster.writers]
    expected: set[str] = set()
    for i in range(40):
        body, ids = otlp_request(project, 20, rng)
        assert post(cluster.collectors[i % 2].traces_url, body).status_code == 200
        expected |= ids
    stored = cluster.wait_stored(project, expected)
    assert sorted(stored) == sorted(expected)
    cluster.wait_written_equals_stored()
    after = [w.metric("cinder_spans_written_total") for w in cluster.writers]
    assert sum(after) - sum(before) == len(expected)
    assert all(a > b for a, b in zip(after, before)), f"one writer wrote nothing: {before} → {after}"
    accepted = sum(c.metric("cinder_receiver_spans_accepted_total") for c in cluster.collectors)
    assert accepted >= len(expected)


def test_writer_killed_mid_load_loses_and_duplicates_nothing(cluster):
    project = unique_name("crash")
    rng = random.Random(2)
    bodies = [otlp_request(project, 20, rng) for _ in range(150)]
    acked: set[str] = set()
    lock = threading.Lock()
    sent = threading.Event()

    def send(i: int) -> None:
        body, ids = bodies[i]
        r = post(cluster.collectors[i % 2].traces_url, body)
        if r.status_code == 200:
            with lock:
                acked.update(ids)
        if i == 60:
            sent.set()

    victim = cluster.writers[0]
    with cf.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(send, i) for i in range(len(bodies))]
        assert sent.wait(60)
        victim.kill()  # SIGKILL: no flush, no commit, no goodbye to the group
        for f in futures:
            f.result()
    assert len(acked) == 150 * 20, "the collectors refused requests although Kafka was up"
    # The survivor takes over the victim's partitions once the group notices (session timeout).
    victim.start()
    stored = cluster.wait_stored(project, acked, timeout=90)
    assert len(stored) == len(set(stored)), "a span was stored twice"
    assert set(stored) == acked
    # Leave the group settled for the next test: the restarted writer has partitions and writes (the
    # rebalance its return started is over), so no broker outage lands in the middle of it.
    before = [w.metric("cinder_spans_written_total") for w in cluster.writers]
    deadline = time.monotonic() + 90
    while not all(w.metric("cinder_spans_written_total") > b for w, b in zip(cluster.writers, before)):
        assert time.monotonic() < deadline, "the restarted writer never got partitions"
        for i in range(8):
            body, _ = otlp_request(project, 5, rng)
            post(cluster.collectors[i % 2].traces_url, body)
        time.sleep(0.5)


def test_broker_down_is_back_pressure_and_nothing_acknowledged_is_lost(cluster):
    import grpc as grpclib

    project = unique_name("broker")
    rng = random.Random(3)
    collector = cluster.collectors[0]
    body, ids = otlp_request(project, 8, rng)
    assert post(collector.traces_url, body).status_code == 200
    acked = set(ids)

    cluster.broker("down")
    try:
        refused: list[tuple[bytes, set[str]]] = []
        started = time.monotonic()
        body, ids = otlp_request(project, 8, rng)
        r = post(collector.traces_url, body)
        elapsed = time.monotonic() - started
        assert r.status_code == 503, r.text
        assert r.headers.get("Retry-After") == "1"
        assert elapsed < ACK_TIMEOUT_MS / 1000 + 3, f"refusal took {elapsed:.1f}s"
        refused.append((body, ids))

        body, ids = otlp_request(project, 8, rng)
        with grpclib.insecure_channel(collector.grpc_endpoint) as channel:
            call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            with pytest.raises(grpclib.RpcError) as info:
                call(body, timeout=30)
        assert info.value.code() == grpclib.StatusCode.RESOURCE_EXHAUSTED
        refused.append((body, ids))

        deadline = time.monotonic() + 20
        while requests.get(collector.ready_url, timeout=10).status_code != 503:
            assert time.monotonic() < deadline, "collector stayed ready with the broker down"
            time.sleep(0.5)
    finally:
        cluster.broker("up")

    # Exporters retry what was refused; once the broker is back it is accepted and stored once.
    deadline = time.monotonic() + 60
    for body, ids in refused:
        while post(collector.traces_url, body).status_code != 200:
            assert time.monotonic() < deadline, "collector did not recover after the broker came back"
            time.sleep(0.5)
        acked |= ids
    stored = cluster.wait_stored(project, acked)
    assert sorted(stored) == sorted(acked)
    collector.wait_ready()
    assert collector.metric("cinder_collector_requests_refused_total") >= 2


def test_poison_message_goes_to_the_dead_letter_topic(cluster):
    from confluent_kafka import Consumer, Producer

    project = unique_name("poison")
    poison = b"\x08\x01this is not a SpanBatch \xff\xfe"
    dead_before = sum(w.metric("cinder_writer_dead_letters_total") for w in cluster.writers)
    producer = Producer({"bootstrap.servers": cluster.brokers})
    producer.produce(TOPIC, key=b"poison-key", value=poison)
    assert producer.flush(30) == 0

    body, ids = otlp_request(project, 12, random.Random(4))
    assert post(cluster.collectors[1].traces_url, body).status_code == 200
    stored = cluster.wait_stored(project, ids)
    assert sorted(stored) == sorted(ids)

    consumer = Consumer({"bootstrap.servers": cluster.brokers, "group.id": unique_name("dlq-reader"),
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([DLQ])
    try:
        found = None
        deadline = time.monotonic() + 30
        while found is None and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None and message.value() == poison:
                found = message
        assert found is not None, "poison message not in the dead-letter topic"
        headers = dict(found.headers())
        assert found.key() == b"poison-key"
        assert b"not a SpanBatch" in headers["cinder.error"]
        assert headers["cinder.source.topic"] == TOPIC.encode()
    finally:
        consumer.close()
    assert sum(w.metric("cinder_writer_dead_letters_total") for w in cluster.writers) == dead_before + 1


def test_database_down_writers_retry_and_store_everything_after(cluster):
    project = unique_name("dbdown")
    rng = random.Random(5)
    cluster.pg.stop()
    acked: set[str] = set()
    try:
        for i in range(10):
            body, ids = otlp_request(project, 10, rng)
            # Kafka holds the spans: the collectors do not depend on the database.
            assert post(cluster.collectors[i % 2].traces_url, body).status_code == 200
            acked |= ids
        deadline = time.monotonic() + 30
        while sum(w.metric("cinder_writer_write_retries_total") for w in cluster.writers) == 0:
            assert time.monotonic() < deadline, "no writer retried while the database was down"
            time.sleep(0.3)
        assert all(requests.get(w.ready_url, timeout=10).status_code == 503 for w in cluster.writers)
    finally:
        cluster.pg.start(fresh=False)
    stored = cluster.wait_stored(project, acked, timeout=60)
    assert sorted(stored) == sorted(acked)
    for w in cluster.writers:
        w.wait_ready()


def test_sigterm_on_a_collector_with_requests_in_flight(cluster):
    project = unique_name("sigterm")
    rng = random.Random(6)
    collector = Collector("collector-sigterm", cluster.brokers, cluster.work).start()
    bodies = [otlp_request(project, 20, rng) for _ in range(120)]
    results: list[tuple[Optional[int], set[str]]] = []
    lock = threading.Lock()
    started = threading.Event()

    def send(i: int) -> None:
        body, ids = bodies[i]
        started.set()
        try:
            status: Optional[int] = post(collector.traces_url, body, timeout=30).status_code
        except requests.RequestException:
            status = None
        with lock:
            results.append((status, ids))

    with cf.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(send, i) for i in range(len(bodies))]
        assert started.wait(30)
        time.sleep(0.3)
        assert collector.terminate(60) == 0, _tail(collector.log_path)
        for f in futures:
            f.result()
    ok = set().union(*(ids for status, ids in results if status == 200))
    assert ok, "SIGTERM came before any request was answered; the test proves nothing"
    assert all(status in (200, 503, None) for status, _ in results), {s for s, _ in results}
    stored = cluster.wait_stored(project, ok)
    assert ok <= set(stored), f"{len(ok - set(stored))} acknowledged spans missing"
    assert len(stored) == len(set(stored))


def test_collector_is_unready_until_its_topic_exists(cluster):
    """A collector whose topic cannot be ensured (the mock cluster has no such topic and does not
    implement CreateTopics) keeps retrying and answers /readyz with 503 saying why."""
    collector = Collector("collector-no-topic", cluster.brokers, cluster.work)
    collector.env["CINDER_KAFKA_TOPIC"] = unique_name("missing.topic")
    collector.start(wait=False)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert collector.running(), _tail(collector.log_path)
            try:
                r = requests.get(collector.ready_url, timeout=10)
                if r.status_code == 503:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "collector never answered /readyz"
            time.sleep(0.3)
        assert "topics not ensured" in r.text
        # Each attempt waits for the admin request to time out (5 s) before it logs and retries.
        deadline = time.monotonic() + 30
        while "cannot ensure Kafka topic yet, retrying" not in collector.log_path.read_text():
            assert time.monotonic() < deadline, _tail(collector.log_path)
            time.sleep(0.5)
        assert requests.get(collector.ready_url, timeout=10).status_code == 503
    finally:
        assert collector.terminate(30) == 0
