"""The Helm chart (helm/cinder), rendered by the real Helm engine (PyPI `helm-python-sdk`, offline): each
values file of helm/cinder/ci renders, every object passes the Kubernetes schemas strictly
(`kubernetes-validate`), the properties the chart promises hold on the rendered objects, bad combinations
fail to render with a message — and the chart's configuration really runs: the rendered migration Job,
collector, writer and API containers (their command, environment and ports, secrets resolved from a local
stand-in) start as the real binaries against a local PostgreSQL and the Kafka mock cluster; the
OpenTelemetry SDK sends traces and the official client reads them back."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import requests
import yaml
from phoenix.client import Client

from conftest import ADMIN_SECRET, AUTH_SECRET, build_sample_trace, free_port, make_tracer_provider, unique_name

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "cinder"
BIN_DIR = Path(os.environ.get("CINDER_BIN", str(REPO / ".build" / "debug" / "cinder"))).parent
KUBERNETES = "1.32.0"
# Kinds of CRDs the Kubernetes schemas do not know; checked field by field instead.
CUSTOM_KINDS = {"ScaledObject", "ServiceMonitor"}
SECRET_NAMES = ("SECRET", "PASSWORD", "DATABASE_URL", "READ_URLS", "API_KEY")


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    manifests = helm.Chart.load(str(CHART)).render(values=values, name="cinder", namespace="observability")
    return [doc for path, text in sorted(manifests.items()) if not path.endswith("NOTES.txt")
            for doc in yaml.safe_load_all(text) if doc]


def ci_values() -> dict[str, dict[str, Any]]:
    return {Path(f).stem: yaml.safe_load(Path(f).read_text()) for f in sorted(glob.glob(str(CHART / "ci" / "*.yaml")))}


def by_kind(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def containers(obj):
    spec = obj["spec"]["template"]["spec"] if "template" in obj["spec"] else obj["spec"]
    return spec["containers"]


def test_lint_is_clean():
    for name, values in ci_values().items():
        result = helm.lint(str(CHART), values=values)
        messages = result.get("messages", []) if isinstance(result, dict) else result
        # Helm's severities: 1 info, 2 warning, 3 error.
        problems = [m for m in messages or [] if m["severity"] >= 2]
        assert not problems, (name, messages)


@pytest.mark.parametrize("name", sorted(ci_values()))
def test_every_values_file_renders_valid_objects_with_the_promised_properties(name):
    values = ci_values()[name]
    objects = render(values)
    for obj in objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)

    deployments = by_kind(objects, "Deployment")
    runner = values.get("runner", {}).get("enabled", True)
    assert set(deployments) == {"cinder-collector", "cinder-writer", "cinder-api"} | ({"cinder-runner"} if runner else set())
    workloads = list(deployments.values()) + list(by_kind(objects, "Job").values())
    for obj in workloads:
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"] and c["resources"]["limits"]
            for env in c.get("env", []):
                if any(word in env["name"] for word in SECRET_NAMES):
                    assert "valueFrom" in env and "secretKeyRef" in env["valueFrom"], (obj["metadata"]["name"], env)
    for obj in deployments.values():
        pod = obj["spec"]["template"]["spec"]
        c = pod["containers"][0]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["CINDER_MIGRATE_ON_START"] == "false"  # the Job migrates; services wait for the schema
        # Every drain ends inside the grace period: the shutdown deadline, and the waits it bounds.
        grace = pod["terminationGracePeriodSeconds"]
        shutdown = int(env["CINDER_SHUTDOWN_TIMEOUT_SECONDS"])
        assert shutdown < grace
        assert int(env.get("CINDER_WRITER_WRITE_TIMEOUT_MS", 0)) < shutdown * 1000
        assert int(env.get("CINDER_COLLECTOR_ACK_TIMEOUT_MS", 0)) < shutdown * 1000
        assert {t["topologyKey"] for t in pod["topologySpreadConstraints"]} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        assert env["PHOENIX_ENABLE_AUTH"] == str(values.get("auth", {}).get("enabled", True)).lower()

    jobs = by_kind(objects, "Job")
    assert len(jobs) == 1
    job = next(iter(jobs.values()))
    assert containers(job)[0]["command"] == ["/usr/local/bin/cinder", "migrate"]
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert set(hooks) == {"pre-install", "pre-upgrade"}

    # Disruption budgets and autoscalers point at Deployments that exist.
    for pdb in by_kind(objects, "PodDisruptionBudget").values():
        labels = pdb["spec"]["selector"]["matchLabels"]
        assert any(d["spec"]["selector"]["matchLabels"] == labels for d in deployments.values())
    assert len(by_kind(objects, "PodDisruptionBudget")) == len(deployments)
    hpas = by_kind(objects, "HorizontalPodAutoscaler")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()} <= set(deployments)
    for hpa_name in hpas:
        assert "replicas" not in deployments[hpa_name]["spec"], "an autoscaled Deployment must not pin replicas"
    scaled = by_kind(objects, "ScaledObject")
    if values.get("writer", {}).get("keda", {}).get("enabled"):
        assert "cinder-writer" not in hpas
        so = scaled["cinder-writer"]
        assert so["spec"]["scaleTargetRef"]["name"] == "cinder-writer"
        assert so["spec"]["maxReplicaCount"] <= values["kafka"]["topicPartitions"]
        trigger = so["spec"]["triggers"][0]
        assert trigger["type"] == "kafka" and trigger["metadata"]["consumerGroup"] == "cinder-writer"
    else:
        assert not scaled

    for ingress in by_kind(objects, "Ingress").values():
        paths = {p["path"]: p["backend"]["service"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
        assert paths == {"/v1/traces": "cinder-collector", "/": "cinder-api"}
    for monitor in by_kind(objects, "ServiceMonitor").values():
        assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    tests = [o for o in objects if o["kind"] == "Pod"]
    assert len(tests) == 1 and tests[0]["metadata"]["annotations"]["helm.sh/hook"] == "test"


def test_the_runner_is_optional_and_gets_the_secret_store_key_without_auth():
    values = BASE | {"auth": {"enabled": False}}
    runner = containers(by_kind(render(values), "Deployment")["cinder-runner"])[0]
    env = {e["name"]: e for e in runner["env"]}
    assert runner["command"] == ["/usr/local/bin/cinder-runner"]
    # Without auth the key still seals provider credentials, but a Secret without it is no error.
    assert env["PHOENIX_SECRET"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert env["CINDER_PROVIDER_ENV_CREDENTIALS"]["value"] == "false"
    objects = render(values | {"runner": {"enabled": False}})
    assert "cinder-runner" not in by_kind(objects, "Deployment")
    assert all("runner" not in name for kind in ("Service", "PodDisruptionBudget") for name in by_kind(objects, kind))


def test_external_secret_key_names_and_kafka_sasl_are_used():
    objects = render(ci_values()["external-secrets"])
    api = containers(by_kind(objects, "Deployment")["cinder-api"])[0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in api["env"] if "valueFrom" in e}
    assert refs["PHOENIX_SQL_DATABASE_URL"] == {"name": "platform-cinder", "key": "pg-service-url"}
    assert refs["CINDER_DATABASE_READ_URLS"] == {"name": "platform-cinder", "key": "pg-replica-urls"}
    assert refs["PHOENIX_SECRET"] == {"name": "platform-cinder", "key": "token-signing-secret"}
    writer = {e["name"]: e for e in containers(by_kind(objects, "Deployment")["cinder-writer"])[0]["env"]}
    assert writer["CINDER_KAFKA_CLIENT_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
    assert writer["CINDER_KAFKA_CLIENT_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "kafka-password"
    job = containers(next(iter(by_kind(objects, "Job").values())))[0]
    assert {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in job["env"] if "valueFrom" in e} == {
        "CINDER_MIGRATION_DATABASE_URL": "pg-owner-url", "PHOENIX_SQL_DATABASE_URL": "pg-service-url"}


BASE = {"secrets": {"existingSecret": "s"}, "kafka": {"brokers": "kafka:9092"}}


@pytest.mark.parametrize("values,message", [
    ({"kafka": {"brokers": "kafka:9092"}}, "secrets.existingSecret is required"),
    ({"secrets": {"existingSecret": "s"}}, "kafka.brokers is required"),
    ({**BASE, "writer": {"autoscaling": {"enabled": True}, "keda": {"enabled": True}}}, "enable one"),
    ({**BASE, "kafka": {"brokers": "k:9092", "topicPartitions": 4}, "writer": {"keda": {"enabled": True, "maxReplicas": 8}}},
     "exceeds kafka.topicPartitions"),
    ({**BASE, "api": {"port": 70000}}, "port"),
    ({**BASE, "logging": {"level": "loud"}}, "level"),
    ({**BASE, "colector": {"replicas": 2}}, "colector"),
    ({**BASE, "kafka": {"brokers": "k:9092", "extraProperties": {"Bad Name": "x"}}}, "Bad Name"),
    ({**BASE, "terminationGracePeriodSeconds": 5}, "terminationGracePeriodSeconds"),
    ({**BASE, "writer": {"writeTimeoutMs": 40000}}, "writeTimeoutMs"),
])
def test_bad_values_fail_to_render_with_a_message(values, message):
    with pytest.raises(helm.HelmError) as error:
        render(values)
    assert message in str(error.value), str(error.value)


# --- The chart's configuration really runs -------------------------------------------------------------

def resolve_env(container: dict, secrets: dict[str, str]) -> dict[str, str]:
    env = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        else:
            env[e["name"]] = secrets[e["valueFrom"]["secretKeyRef"]["key"]]
    return env


def local_argv(container: dict) -> list[str]:
    command = container["command"]
    assert command[0].startswith("/usr/local/bin/")
    return [str(BIN_DIR / Path(command[0]).name)] + command[1:] + container.get("args", [])


def wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-4000:]
        try:
            if requests.get(url, timeout=3).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready:\n{log.read_text()[-4000:]}")


def test_the_rendered_services_run_and_a_trace_makes_the_round_trip():
    work = Path(tempfile.mkdtemp(prefix="cinder-chart-", dir="/tmp"))
    os.chmod(work, 0o755)
    pg_dir, pg_port = work / "pg", free_port()
    script = str(REPO / "scripts" / "test-postgres.sh")
    processes: list[subprocess.Popen] = []
    mock = None
    try:
        base_url = subprocess.run([script, "start", str(pg_dir), str(pg_port)], check=True, capture_output=True, text=True).stdout.strip()
        subprocess.run(["psql", base_url, "-qc", "CREATE DATABASE cinder"], check=True, capture_output=True)
        subprocess.run(["psql", base_url, "-qc", "CREATE ROLE cinder_service LOGIN"], check=True, capture_output=True)
        owner_url = base_url.rsplit("/", 1)[0] + "/cinder"
        secrets = {
            "database-url": owner_url.replace("postgres@", "cinder_service@", 1), "migration-database-url": owner_url,
            "phoenix-secret": AUTH_SECRET, "admin-secret": ADMIN_SECRET,
        }
        mock_log = open(work / "kafka-mock.log", "ab")
        mock = subprocess.Popen([str(BIN_DIR / "cinder-kafka-mock"), "--topic", "cinder.spans.v1:12", "--topic", "cinder.spans.v1.dlq:1"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=mock_log, text=True)
        brokers = mock.stdout.readline().strip()
        assert brokers, "cinder-kafka-mock printed no bootstrap address"

        # The chart as a user installs it (auth on), with ports that are free on this machine and the
        # broker address of the mock cluster: everything else is the rendered configuration.
        ports = {"http": free_port(), "grpc": free_port(), "admin": free_port(), "api": free_port(), "runner": free_port()}
        objects = render({
            "secrets": {"existingSecret": "cinder-credentials"}, "kafka": {"brokers": brokers},
            "collector": {"httpPort": ports["http"], "grpcPort": ports["grpc"]},
            "writer": {"adminPort": ports["admin"]}, "api": {"port": ports["api"]}, "runner": {"adminPort": ports["runner"]},
        })
        job = containers(next(iter(by_kind(objects, "Job").values())))[0]
        migrated = subprocess.run(local_argv(job), env={"PATH": os.environ["PATH"], **resolve_env(job, secrets)},
                                  capture_output=True, text=True, timeout=120)
        assert migrated.returncode == 0, migrated.stderr + migrated.stdout
        deployments = by_kind(objects, "Deployment")
        urls = {}
        for name, port_name in [("cinder-collector", "http"), ("cinder-writer", "admin"), ("cinder-api", "http"), ("cinder-runner", "admin")]:
            container = containers(deployments[name])[0]
            env = {"PATH": os.environ["PATH"], **resolve_env(container, secrets)}
            port = next(p["containerPort"] for p in container["ports"] if p["name"] == port_name)
            log = work / f"{name}.log"
            proc = subprocess.Popen(local_argv(container), env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
            processes.append(proc)
            url = f"http://127.0.0.1:{port}"
            wait_ready(proc, url + container["readinessProbe"]["httpGet"]["path"], log)
            assert requests.get(url + container["livenessProbe"]["httpGet"]["path"], timeout=5).status_code == 200
            urls[name] = url

        # Phoenix's workflow: the admin secret makes a system key; applications send with it.
        r = requests.post(urls["cinder-api"] + "/v1/system/api_keys", json={"data": {"name": "ingest"}},
                          headers={"authorization": f"Bearer {ADMIN_SECRET}"}, timeout=30)
        assert r.status_code == 201, r.text
        key = r.json()["data"]["key"]

        class Endpoint:  # what conftest's exporters read
            traces_url = urls["cinder-collector"] + "/v1/traces"
            grpc_endpoint = f"127.0.0.1:{ports['grpc']}"

        project = unique_name("chart")
        for protocol in ["http", "grpc"]:
            pipeline = make_tracer_provider(Endpoint, project, protocol, headers={"authorization": f"Bearer {key}"})
            build_sample_trace(pipeline.tracer, session_id=unique_name("s"), seed=protocol)
            sent = pipeline.finish()
        client = Client(base_url=urls["cinder-api"], api_key=key)
        deadline = time.monotonic() + 60
        while True:
            spans = client.spans.get_spans(project_identifier=project, limit=100) if _project_exists(client, project) else []
            if len(spans) >= 6 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert len(spans) == 6, spans
        assert {s["context"]["span_id"] for s in spans} >= {format(s.context.span_id, "016x") for s in sent}
        # Everything stops cleanly on SIGTERM within the chart's grace period.
        grace = deployments["cinder-api"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        for proc in processes:
            proc.terminate()
        for proc in processes:
            assert proc.wait(timeout=grace) == 0
    finally:
        for proc in processes:
            if proc.poll() is None:
                proc.kill()
        if mock is not None:
            mock.terminate()
            mock.wait(10)
        subprocess.run([script, "stop", str(pg_dir)], check=False, capture_output=True)
        if not os.environ.get("CINDER_E2E_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


def _project_exists(client: Client, project: str) -> bool:
    try:
        client.projects.get(project_name=project)
        return True
    except Exception:
        return False


def test_every_setting_the_chart_sets_is_one_cinder_reads():
    """A mistyped name would be ignored silently by the binaries: every environment name of every values
    file must be one the configuration code reads (or a librdkafka pass-through prefix)."""
    import re
    source = "\n".join(p.read_text() for p in (REPO / "Libraries" / "CinderApp").glob("*.swift"))
    known = set(re.findall(r'"((?:PHOENIX|CINDER)_[A-Z0-9_]+)"', source))
    prefixes = tuple(name for name in known if name.endswith("_"))
    assert {"PHOENIX_SQL_DATABASE_URL", "CINDER_MIGRATE_ON_START", "CINDER_KAFKA_CLIENT_"} <= known
    for name, values in ci_values().items():
        for obj in render(values):
            if obj["kind"] not in ("Deployment", "Job"):
                continue
            for container in containers(obj):
                for env in container.get("env", []):
                    assert env["name"] in known or env["name"].startswith(prefixes), (name, obj["metadata"]["name"], env["name"])
