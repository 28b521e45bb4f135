"""Offline checks of the kustomize tree (kustomize/).

Every overlay, and the production overlay with each component, is built with `kubectl kustomize` (the
kustomize built into kubectl; no cluster is contacted). Each object of a built-in kind is validated
against the Kubernetes 1.32 OpenAPI schemas in strict mode (unknown fields rejected) with the
`kubernetes-validate` package's own `validate` function, the one its `--strict` CLI calls: unlike the
CLI, which only warns about a kind it has no schema for (a mistyped apiVersion would pass), an unknown
built-in kind fails here. The custom resources (KEDA ScaledObject, Prometheus Operator ServiceMonitor)
have no schema there; their required fields are checked by hand. Then the properties the deployment
depends on are asserted: hardening, probes, secrets only by reference, the migration step, routing,
scaling, and the dev overlay's shape.

Nothing is skipped: a missing kubectl, PyYAML or kubernetes-validate fails with what to install.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

try:
    import yaml
except ImportError:  # reported by the `tools` fixture, so the failure says what to install
    yaml = None

REPO = Path(__file__).resolve().parents[2]
KUSTOMIZE = REPO / "kustomize"
PRODUCTION = KUSTOMIZE / "overlays" / "production"
DEV = KUSTOMIZE / "overlays" / "dev"
COMPONENTS = ("keda", "network-policy", "service-monitor")

KUBERNETES_VERSION = "1.32.0"
CINDER_IMAGE = "ghcr.io/cinder-dev/cinder"
CINDER_TAG = "0.1.0"
PRODUCTION_NAMESPACE = "cinder"
DEV_NAMESPACE = "cinder-dev"
PRODUCTION_BROKERS = "kafka-0.kafka:9092,kafka-1.kafka:9092,kafka-2.kafka:9092"
# The span topic's partition count (CINDER_KAFKA_TOPIC_PARTITIONS' default): writers beyond it idle.
TOPIC_PARTITIONS = 12
# Defaults of CINDER_KAFKA_GROUP and CINDER_KAFKA_TOPIC (Libraries/CinderApp/KafkaSettings.swift).
DEFAULT_GROUP = "cinder-writer"
DEFAULT_TOPIC = "cinder.spans.v1"

CRD_GROUPS = {"keda.sh", "monitoring.coreos.com"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet"}
LONG_RUNNING_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
CLUSTER_SCOPED_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass"}
DEPRECATED_KUSTOMIZE_FIELDS = ("bases", "patchesStrategicMerge", "patchesJson6902", "commonLabels", "vars")
SENSITIVE_ENV = re.compile(r"SECRET|PASSWORD|DATABASE_URL|DATABASE_READ_URLS")

# The Secret operators create; which keys may be absent (secretKeyRef optional) and which may not.
CREDENTIAL_SECRET = "cinder-credentials"
REQUIRED_KEYS = {"database-url", "migration-database-url", "phoenix-secret", "admin-secret"}
OPTIONAL_KEYS = {"database-read-urls", "kafka-sasl-password"}

SPLIT_SERVICES = {
    # Deployment: (command, {port name: number})
    "cinder-collector": (["cinder-collector"], {"http": 4318, "grpc": 4317}),
    "cinder-writer": (["cinder-writer"], {"metrics": 9464}),
    "cinder-api": (["cinder-api"], {"http": 6006}),
    "cinder-runner": (["cinder-runner"], {"metrics": 9465}),
}
PRODUCTION_REPLICAS = {"cinder-collector": 3, "cinder-writer": 3, "cinder-api": 2, "cinder-runner": 2}

BUILDS = ("dev", "production") + tuple(f"production+{c}" for c in COMPONENTS)
PRODUCTION_BUILDS = tuple(b for b in BUILDS if b.startswith("production"))


# --- tools and builds -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tools():
    """kubectl and the validator, or a failure that says what is missing."""
    if yaml is None:
        pytest.fail("PyYAML is not installed: pip install pyyaml")
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("kubernetes-validate is not installed: pip install kubernetes-validate")
    kubectl = shutil.which("kubectl") or "/usr/bin/kubectl"
    if not os.access(kubectl, os.X_OK):
        pytest.fail("kubectl is not installed (needed for `kubectl kustomize`, v1.27 or later)")
    return kubectl, kubernetes_validate


@pytest.fixture(scope="session")
def built(tools, tmp_path_factory):
    """name -> (objects, stderr) for every build; each is built once."""
    kubectl, _ = tools
    results = {}
    for name in BUILDS:
        if name == "dev":
            directory = DEV
        elif name == "production":
            directory = PRODUCTION
        else:
            directory = _overlay_with_component(tmp_path_factory.mktemp(name.replace("+", "-")), name.split("+", 1)[1])
        results[name] = _kustomize(kubectl, directory)
    return results


def _overlay_with_component(directory: Path, component: str) -> Path:
    # What an operator writes: their own overlay over production, adding a component. kustomize refuses
    # absolute paths to other kustomizations, hence relative ones from the temporary directory.
    text = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": PRODUCTION_NAMESPACE,
        "resources": [os.path.relpath(PRODUCTION, directory)],
        "components": [os.path.relpath(KUSTOMIZE / "components" / component, directory)],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(text, sort_keys=False))
    return directory


def _kustomize(kubectl: str, directory: Path):
    try:
        result = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"kubectl kustomize {directory} did not finish in 60 s")
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    assert objects, f"kubectl kustomize {directory} produced nothing"
    return objects, result.stderr


@pytest.fixture(params=BUILDS)
def build(request, built):
    objects, stderr = built[request.param]
    return request.param, objects, stderr


@pytest.fixture(params=PRODUCTION_BUILDS)
def production_build(request, built):
    return request.param, built[request.param][0]


# --- helpers ----------------------------------------------------------------------------------------


def of_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def named(objects, kind, name):
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def group_of(obj) -> str:
    api_version = obj["apiVersion"]
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def pod_spec(workload):
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return workload["spec"]["template"]["spec"]


def pod_labels(workload):
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]["metadata"].get("labels", {})
    return workload["spec"]["template"]["metadata"].get("labels", {})


def workloads(objects, kinds=WORKLOAD_KINDS):
    return [o for o in objects if o["kind"] in kinds]


def containers(workload):
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def is_cinder(container) -> bool:
    return container["image"].split("@")[0].rsplit(":", 1)[0] == CINDER_IMAGE


def argv(container):
    return list(container.get("command", [])) + list(container.get("args", []))


def selects(selector: dict, labels: dict) -> bool:
    """Whether a label selector (matchLabels and matchExpressions, or a Service's plain map) matches."""
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        return True
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def effective_env(container, objects):
    """The container's environment as the kubelet builds it: envFrom first, then env over it. Literal
    values are strings; references are ("secretKeyRef", ref) and the like."""
    env = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            ref = source["configMapRef"]
            maps = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == ref["name"]]
            assert maps or ref.get("optional"), f"envFrom names ConfigMap {ref['name']}, which the build lacks"
            for config_map in maps:
                env.update({prefix + k: v for k, v in config_map.get("data", {}).items()})
        if "secretRef" in source:
            raise AssertionError("envFrom a whole Secret hides which credentials a container gets; use secretKeyRef")
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            (kind, ref), = variable["valueFrom"].items()
            env[variable["name"]] = (kind, ref)
    return env


def container_port(container, port) -> int:
    """A probe's or a Service's targetPort, by name or number, resolved against the container's ports."""
    declared = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    if isinstance(port, int):
        assert port in declared.values(), f"port {port} is not declared by container {container['name']}"
        return port
    assert port in declared, f"port name {port!r} is not declared by container {container['name']}"
    return declared[port]


def swift_environment_names() -> set[str]:
    names = set()
    for root in ("Libraries", "Services"):
        for path in (REPO / root).rglob("*.swift"):
            names.update(re.findall(r'"((?:CINDER|PHOENIX)_[A-Z0-9_]+)"', path.read_text(errors="replace")))
    return names


# --- every build ------------------------------------------------------------------------------------


def test_builds_validate_against_kubernetes_schemas(build, tools):
    name, objects, _ = build
    _, kubernetes_validate = tools
    problems = []
    for obj in objects:
        if group_of(obj) in CRD_GROUPS:
            continue
        label = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{label}: {'.'.join(map(str, error.path))}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{label}: {error.message} (a built-in kind must have a schema: wrong apiVersion?)")
    assert not problems, f"{name}: objects that Kubernetes {KUBERNETES_VERSION} would reject:\n" + "\n".join(problems)


def test_custom_resources_are_only_the_expected_ones(build):
    name, objects, _ = build
    custom = {(o["apiVersion"], o["kind"]) for o in objects if group_of(o) in CRD_GROUPS}
    assert custom <= {("keda.sh/v1alpha1", "ScaledObject"), ("monitoring.coreos.com/v1", "ServiceMonitor")}, custom
    unknown = {o["apiVersion"] for o in objects if "." in group_of(o) and not group_of(o).endswith("k8s.io")}
    assert unknown <= {"keda.sh/v1alpha1", "monitoring.coreos.com/v1"}, f"{name}: custom resources nobody checks: {unknown}"


def test_kustomize_prints_no_warnings(build):
    # kustomize warns on stderr about deprecated fields it still accepts.
    name, _, stderr = build
    assert "deprecated" not in stderr.lower(), f"{name}: kustomize warned:\n{stderr}"
    assert "warning" not in stderr.lower(), f"{name}: kustomize warned:\n{stderr}"


def test_containers_are_hardened(build):
    name, objects, _ = build
    problems = []
    for workload in workloads(objects):
        spec = pod_spec(workload)
        pod_context = spec.get("securityContext", {})
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: mounts a service account token it never uses")
        if spec.get("enableServiceLinks") is not False:
            problems.append(f"{where}: service links inject *_PORT variables next to Cinder's CINDER_* settings")
        for container in containers(workload):
            context = {**pod_context, **container.get("securityContext", {})}
            label = f"{where} container {container['name']}"
            if context.get("runAsNonRoot") is not True:
                problems.append(f"{label}: runAsNonRoot is not true")
            if not context.get("runAsUser"):
                problems.append(f"{label}: no non-zero runAsUser")
            if is_cinder(container) and context.get("runAsUser") != 10001:
                problems.append(f"{label}: Cinder's image runs as 10001, not {context.get('runAsUser')}")
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{label}: root filesystem is writable")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{label}: allowPrivilegeEscalation is not false")
            if "ALL" not in context.get("capabilities", {}).get("drop", []):
                problems.append(f"{label}: capabilities are not all dropped")
            if context.get("capabilities", {}).get("add"):
                problems.append(f"{label}: adds capabilities")
            if context.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                problems.append(f"{label}: seccompProfile is not RuntimeDefault")
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(part, {}):
                        problems.append(f"{label}: no {resource} in resources.{part}")
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            if is_cinder(container) and "/tmp" not in mounts:
                problems.append(f"{label}: no writable /tmp on the read-only root filesystem")
            image = container["image"]
            if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
                problems.append(f"{label}: image {image} is not pinned to a tag")
            if is_cinder(container) and image != f"{CINDER_IMAGE}:{CINDER_TAG}":
                problems.append(f"{label}: image {image}, expected {CINDER_IMAGE}:{CINDER_TAG}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_long_running_containers_have_probes(build):
    name, objects, _ = build
    problems = []
    for workload in workloads(objects, LONG_RUNNING_KINDS):
        spec = pod_spec(workload)
        for container in spec["containers"]:
            label = f"{workload['kind']}/{workload['metadata']['name']} container {container['name']}"
            liveness, readiness = container.get("livenessProbe"), container.get("readinessProbe")
            if not liveness or not readiness:
                problems.append(f"{label}: needs both a liveness and a readiness probe")
                continue
            if not is_cinder(container):
                continue
            for probe, path in ((liveness, "/healthz"), (readiness, "/readyz")):
                http = probe.get("httpGet")
                if not http or http.get("path") != path:
                    problems.append(f"{label}: expected an HTTP probe on {path}, got {probe}")
                    continue
                container_port(container, http["port"])
                # /readyz answers within 3 s (it times out its own dependency checks); a shorter probe
                # timeout would count a slow-but-correct answer as a failure.
                if probe.get("timeoutSeconds", 1) <= 3:
                    problems.append(f"{label}: {path} probe times out before Cinder's own 3 s readiness timeout")
            # The services wait up to CINDER_SCHEMA_WAIT_SECONDS (300 s) for migrations before serving.
            startup = container.get("startupProbe")
            if not startup:
                problems.append(f"{label}: no startup probe to cover the schema wait")
            else:
                allowed = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
                if allowed < 300:
                    problems.append(f"{label}: startup probe gives up after {allowed} s, before the 300 s schema wait")
            if spec.get("terminationGracePeriodSeconds") != 60:
                problems.append(f"{label}: terminationGracePeriodSeconds is not 60")
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_shutdown_fits_in_the_grace_period(build):
    """A SIGTERM'd service finishes what it holds within CINDER_SHUTDOWN_TIMEOUT_SECONDS (30 s unless set),
    and its writes and acknowledgement waits within that: all under the pod's grace period, so the
    kubelet's SIGKILL never cuts a batch that was being committed."""
    name, objects, _ = build
    problems = []
    for workload in workloads(objects, LONG_RUNNING_KINDS):
        spec = pod_spec(workload)
        grace = spec.get("terminationGracePeriodSeconds", 30)
        for container in spec["containers"]:
            if not is_cinder(container):
                continue
            env = effective_env(container, objects)
            label = f"{workload['kind']}/{workload['metadata']['name']}"
            shutdown = int(env.get("CINDER_SHUTDOWN_TIMEOUT_SECONDS", "30"))
            if shutdown + 5 > grace:
                problems.append(f"{label}: shutdown timeout {shutdown} s leaves under 5 s of the {grace} s grace period")
            write = int(env.get("CINDER_WRITER_WRITE_TIMEOUT_MS", "15000")) / 1000
            ack = int(env.get("CINDER_COLLECTOR_ACK_TIMEOUT_MS", "5000")) / 1000
            if max(write, ack) >= shutdown:
                problems.append(f"{label}: a write or acknowledgement wait ({max(write, ack)} s) outlasts the shutdown timeout")
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_no_credential_is_written_in_plain_text(build):
    name, objects, _ = build
    problems = []
    for workload in workloads(objects):
        for container in containers(workload):
            for variable in container.get("env", []):
                if not SENSITIVE_ENV.search(variable["name"]):
                    continue
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if "value" in variable or not ref:
                    problems.append(
                        f"{workload['metadata']['name']}/{container['name']}: {variable['name']} must come from a secretKeyRef")
    # envFrom a ConfigMap would be a way around the check above.
    for config_map in of_kind(objects, "ConfigMap"):
        for key in config_map.get("data", {}):
            if SENSITIVE_ENV.search(key):
                problems.append(f"ConfigMap/{config_map['metadata']['name']} holds {key}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_secret_references_resolve(build):
    name, objects, _ = build
    secrets = {s["metadata"]["name"]: s for s in of_kind(objects, "Secret")}
    problems = []
    for workload in workloads(objects):
        for container in containers(workload):
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if not ref:
                    continue
                label = f"{workload['metadata']['name']}/{container['name']} {variable['name']}"
                if name == "dev":
                    # The dev overlay's generated Secret: every reference must follow its hashed name.
                    secret = secrets.get(ref["name"])
                    if secret is None:
                        problems.append(f"{label}: Secret {ref['name']} is not in the build")
                    elif ref["key"] not in secret.get("data", {}) and not ref.get("optional"):
                        problems.append(f"{label}: Secret {ref['name']} has no key {ref['key']}")
                    continue
                if ref["name"] != CREDENTIAL_SECRET:
                    problems.append(f"{label}: reads Secret {ref['name']}, not {CREDENTIAL_SECRET}")
                if ref["key"] in REQUIRED_KEYS and ref.get("optional"):
                    problems.append(f"{label}: required key {ref['key']} marked optional")
                elif ref["key"] in OPTIONAL_KEYS and not ref.get("optional"):
                    problems.append(f"{label}: key {ref['key']} is optional for operators but required here")
                elif ref["key"] not in REQUIRED_KEYS | OPTIONAL_KEYS:
                    problems.append(f"{label}: key {ref['key']} is not one of the documented keys")
    if name != "dev":
        # Operators create the credentials; a generated Secret would overwrite theirs on every apply.
        if secrets:
            problems.append(f"the build carries Secrets {sorted(secrets)}; operators create {CREDENTIAL_SECRET}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_environment_names_are_ones_cinder_reads(build):
    # A misspelt variable is silently ignored by the program; compare against the names in its source.
    name, objects, _ = build
    known = swift_environment_names()
    assert known, "found no CINDER_*/PHOENIX_* names in Libraries/ and Services/"
    prefixes = ("CINDER_KAFKA_CLIENT_", "CINDER_KAFKA_PRODUCER_", "CINDER_KAFKA_CONSUMER_")
    unknown = set()
    for workload in workloads(objects):
        for container in containers(workload):
            if not is_cinder(container):
                continue
            for variable in effective_env(container, objects):
                if variable.startswith(prefixes) or variable in known:
                    continue
                unknown.add(f"{workload['metadata']['name']}/{container['name']}: {variable}")
    assert not unknown, f"{name}: variables Cinder does not read:\n" + "\n".join(sorted(unknown))


def test_objects_share_one_namespace(build):
    name, objects, _ = build
    expected = DEV_NAMESPACE if name == "dev" else PRODUCTION_NAMESPACE
    stray = [f"{o['kind']}/{o['metadata']['name']}: {o['metadata'].get('namespace')}" for o in objects
             if o["kind"] not in CLUSTER_SCOPED_KINDS and o["metadata"].get("namespace") != expected]
    assert not stray, f"{name}: objects outside namespace {expected}:\n" + "\n".join(stray)


def test_selectors_match_their_pods(build):
    name, objects, _ = build
    problems = []
    for workload in workloads(objects):
        selector = workload["spec"].get("selector")
        if workload["kind"] != "Job" and not selects(selector, pod_labels(workload)):
            problems.append(f"{workload['kind']}/{workload['metadata']['name']}: selector does not match its template")
    for service in of_kind(objects, "Service"):
        chosen = [w for w in workloads(objects, LONG_RUNNING_KINDS) if selects(service["spec"]["selector"], pod_labels(w))]
        if len(chosen) != 1:
            problems.append(f"Service/{service['metadata']['name']} selects {len(chosen)} workloads")
            continue
        pod_containers = pod_spec(chosen[0])["containers"]
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if not any(target in ({p.get("name") for p in c.get("ports", [])} | {p["containerPort"] for p in c.get("ports", [])})
                       for c in pod_containers):
                problems.append(f"Service/{service['metadata']['name']} port {port['name']}: targetPort {target} is not a container port")
    assert not problems, f"{name}:\n" + "\n".join(problems)


# --- the split deployment (production and production + components) -----------------------------------


def test_split_services_are_wired(production_build):
    name, objects = production_build
    problems = []
    for deployment_name, (command, ports) in SPLIT_SERVICES.items():
        deployment = named(objects, "Deployment", deployment_name)
        (container,) = pod_spec(deployment)["containers"]
        env = effective_env(container, objects)
        label = f"{name} {deployment_name}"
        if argv(container) != command:
            problems.append(f"{label}: runs {argv(container)}, expected {command}")
        declared = {p["name"]: p["containerPort"] for p in container["ports"]}
        if declared != ports:
            problems.append(f"{label}: ports {declared}, expected {ports}")
        # The migration Job owns the schema; a service migrating too would race it.
        if env.get("CINDER_MIGRATE_ON_START") != "false":
            problems.append(f"{label}: CINDER_MIGRATE_ON_START is {env.get('CINDER_MIGRATE_ON_START')!r}, not 'false'")
        if env.get("PHOENIX_ENABLE_AUTH") != "true":
            problems.append(f"{label}: PHOENIX_ENABLE_AUTH is {env.get('PHOENIX_ENABLE_AUTH')!r}, not 'true'")
        if env.get("CINDER_LOG_FORMAT") != "json":
            problems.append(f"{label}: CINDER_LOG_FORMAT is not json")
        if env.get("PHOENIX_SQL_DATABASE_URL") != ("secretKeyRef", {"name": CREDENTIAL_SECRET, "key": "database-url"}):
            problems.append(f"{label}: PHOENIX_SQL_DATABASE_URL does not come from {CREDENTIAL_SECRET}/database-url")
        if deployment_name not in ("cinder-api", "cinder-runner") and env.get("CINDER_KAFKA_BROKERS") != PRODUCTION_BROKERS:
            problems.append(f"{label}: CINDER_KAFKA_BROKERS is {env.get('CINDER_KAFKA_BROKERS')!r}")
        # The runner opens stored provider keys with PHOENIX_SECRET; it makes no admin credential.
        needs = {"cinder-writer": (), "cinder-runner": (("PHOENIX_SECRET", "phoenix-secret"),)}.get(
            deployment_name, (("PHOENIX_SECRET", "phoenix-secret"), ("PHOENIX_ADMIN_SECRET", "admin-secret")))
        if needs:
            for variable, key in needs:
                ref = env.get(variable)
                if not (isinstance(ref, tuple) and ref[1].get("key") == key):
                    problems.append(f"{label}: {variable} does not come from key {key}")
    # The ports each program listens on are the ones its settings name.
    collector_env = effective_env(pod_spec(named(objects, "Deployment", "cinder-collector"))["containers"][0], objects)
    if (collector_env.get("CINDER_COLLECTOR_HTTP_PORT"), collector_env.get("PHOENIX_GRPC_PORT")) != ("4318", "4317"):
        problems.append("collector: CINDER_COLLECTOR_HTTP_PORT/PHOENIX_GRPC_PORT do not match its ports")
    if effective_env(pod_spec(named(objects, "Deployment", "cinder-writer"))["containers"][0], objects).get("CINDER_WRITER_ADMIN_PORT") != "9464":
        problems.append("writer: CINDER_WRITER_ADMIN_PORT does not match its port")
    if effective_env(pod_spec(named(objects, "Deployment", "cinder-runner"))["containers"][0], objects).get("CINDER_RUNNER_ADMIN_PORT") != "9465":
        problems.append("runner: CINDER_RUNNER_ADMIN_PORT does not match its port")
    if effective_env(pod_spec(named(objects, "Deployment", "cinder-api"))["containers"][0], objects).get("PHOENIX_PORT") != "6006":
        problems.append("api: PHOENIX_PORT does not match its port")
    services = {s["metadata"]["name"]: {p["name"]: p["port"] for p in s["spec"]["ports"]} for s in of_kind(objects, "Service")}
    expected_services = {
        "cinder-collector": {"http": 4318, "grpc": 4317}, "cinder-writer": {"metrics": 9464}, "cinder-api": {"http": 6006},
        "cinder-runner": {"metrics": 9465},
    }
    if services != expected_services:
        problems.append(f"Services {services}, expected {expected_services}")
    service_account = named(objects, "ServiceAccount", "cinder")
    if service_account.get("automountServiceAccountToken") is not False:
        problems.append("ServiceAccount cinder mounts tokens")
    for workload in workloads(objects):
        if pod_spec(workload).get("serviceAccountName") != "cinder":
            problems.append(f"{workload['metadata']['name']}: does not run as ServiceAccount cinder")
    assert not problems, "\n".join(problems)


def test_migration_job_runs_cinder_migrate(production_build):
    name, objects = production_build
    jobs = of_kind(objects, "Job")
    assert [j["metadata"]["name"] for j in jobs] == ["cinder-migrate"], f"{name}: jobs {[j['metadata']['name'] for j in jobs]}"
    (container,) = pod_spec(jobs[0])["containers"]
    assert argv(container) == ["cinder", "migrate"], argv(container)
    env = effective_env(container, objects)
    assert env.get("CINDER_MIGRATION_DATABASE_URL") == ("secretKeyRef", {"name": CREDENTIAL_SECRET, "key": "migration-database-url"})
    assert env.get("PHOENIX_SQL_DATABASE_URL") == ("secretKeyRef", {"name": CREDENTIAL_SECRET, "key": "database-url"})
    assert pod_spec(jobs[0])["restartPolicy"] in ("Never", "OnFailure")
    # Only the Job holds the owner's credentials.
    for deployment in of_kind(objects, "Deployment"):
        for c in containers(deployment):
            assert "CINDER_MIGRATION_DATABASE_URL" not in effective_env(c, objects), deployment["metadata"]["name"]


def _ingress_route(ingress, path):
    """The backend Kubernetes' Ingress rules pick for a request path: an Exact match first, then the
    longest Prefix match by path element."""
    best, best_length = None, -1
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            candidate, kind = entry["path"], entry["pathType"]
            if kind == "Exact" and candidate == path:
                return entry["backend"]["service"]
            if kind == "Prefix":
                elements = [e for e in candidate.split("/") if e]
                requested = [e for e in path.split("/") if e]
                if requested[:len(elements)] == elements and len(elements) > best_length:
                    best, best_length = entry["backend"]["service"], len(elements)
    return best


def test_ingress_routes_traces_to_the_collector(production_build):
    name, objects = production_build
    (ingress,) = of_kind(objects, "Ingress")
    services = {s["metadata"]["name"]: s for s in of_kind(objects, "Service")}

    def target(path):
        backend = _ingress_route(ingress, path)
        assert backend, f"{name}: nothing routes {path}"
        service = services[backend["name"]]
        port = backend["port"]
        (matched,) = [p for p in service["spec"]["ports"] if p["name"] == port.get("name") or p["port"] == port.get("number")]
        return backend["name"], matched["port"]

    assert target("/v1/traces") == ("cinder-collector", 4318)
    # API routes under /v1/traces/… must not reach the collector, which does not serve them.
    assert target("/v1/traces/transfer")[0] == "cinder-api"
    assert target("/v1/traces/0123456789abcdef0123456789abcdef")[0] == "cinder-api"
    for path in ("/", "/graphql", "/v1/projects", "/projects/abc"):
        assert target(path) == ("cinder-api", 6006), path


def test_production_replicas_budgets_and_autoscalers(built):
    objects, _ = built["production"]
    problems = []
    deployments = {d["metadata"]["name"]: d for d in of_kind(objects, "Deployment")}
    for deployment_name, count in PRODUCTION_REPLICAS.items():
        if deployments[deployment_name]["spec"].get("replicas") != count:
            problems.append(f"{deployment_name}: replicas {deployments[deployment_name]['spec'].get('replicas')}, expected {count}")
        constraints = pod_spec(deployments[deployment_name]).get("topologySpreadConstraints", [])
        keys = {c["topologyKey"] for c in constraints}
        if not {"topology.kubernetes.io/zone", "kubernetes.io/hostname"} <= keys:
            problems.append(f"{deployment_name}: spread over {keys}, expected zones and nodes")
        for constraint in constraints:
            if not selects(constraint["labelSelector"], pod_labels(deployments[deployment_name])):
                problems.append(f"{deployment_name}: a spread constraint does not select its own pods")

    budgets = of_kind(objects, "PodDisruptionBudget")
    covered = {}
    for budget in budgets:
        chosen = [n for n, d in deployments.items() if selects(budget["spec"]["selector"], pod_labels(d))]
        if len(chosen) != 1:
            problems.append(f"PDB/{budget['metadata']['name']} selects {chosen}")
            continue
        spec = budget["spec"]
        if spec.get("maxUnavailable") != 1 and spec.get("minAvailable") != 1:
            problems.append(f"PDB/{budget['metadata']['name']}: neither maxUnavailable 1 nor minAvailable 1")
        # minAvailable 1 with one replica would block every drain.
        if spec.get("minAvailable") == 1 and PRODUCTION_REPLICAS[chosen[0]] < 2:
            problems.append(f"PDB/{budget['metadata']['name']} blocks drains of a single replica")
        covered[chosen[0]] = budget
    if set(covered) != set(SPLIT_SERVICES):
        problems.append(f"PDBs cover {sorted(covered)}, expected {sorted(SPLIT_SERVICES)}")

    autoscalers = of_kind(objects, "HorizontalPodAutoscaler")
    scaled = {}
    for autoscaler in autoscalers:
        label = f"HPA/{autoscaler['metadata']['name']}"
        if autoscaler["apiVersion"] != "autoscaling/v2":
            problems.append(f"{label}: {autoscaler['apiVersion']}, expected autoscaling/v2")
        target = autoscaler["spec"]["scaleTargetRef"]
        if target["kind"] != "Deployment" or target["name"] not in deployments:
            problems.append(f"{label}: targets {target}, which is not a Deployment of the build")
            continue
        spec = autoscaler["spec"]
        if not spec.get("minReplicas", 1) <= spec["maxReplicas"]:
            problems.append(f"{label}: minReplicas above maxReplicas")
        if deployments[target["name"]]["spec"].get("replicas") != spec.get("minReplicas"):
            problems.append(f"{label}: minReplicas differs from the Deployment's replicas")
        if not any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in spec.get("metrics", [])):
            problems.append(f"{label}: does not scale on CPU")
        scaled[target["name"]] = autoscaler
    if set(scaled) != {"cinder-collector", "cinder-api"}:
        problems.append(f"HPAs scale {sorted(scaled)}, expected the collector and the API")
    assert not problems, "\n".join(problems)


# --- components ---------------------------------------------------------------------------------------


def test_keda_scales_the_writer_on_lag(built):
    objects, _ = built["production+keda"]
    (scaled_object,) = of_kind(objects, "ScaledObject")
    assert scaled_object["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled_object["spec"]
    target = spec["scaleTargetRef"]
    writer = named(objects, "Deployment", target["name"])
    assert target["name"] == "cinder-writer" and target.get("kind", "Deployment") == "Deployment"
    assert 1 <= spec.get("minReplicaCount", 0) <= spec["maxReplicaCount"] <= TOPIC_PARTITIONS, (
        f"replicas {spec.get('minReplicaCount')}..{spec['maxReplicaCount']}: at most {TOPIC_PARTITIONS} partitions")
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    for field in ("bootstrapServers", "consumerGroup", "topic", "lagThreshold"):
        assert isinstance(metadata.get(field), str) and metadata[field], f"trigger metadata.{field} missing or not a string"
    assert int(metadata["lagThreshold"]) > 0
    # KEDA must watch the group and topic the writer actually uses, on the brokers it uses.
    env = effective_env(pod_spec(writer)["containers"][0], objects)
    assert metadata["bootstrapServers"] == env["CINDER_KAFKA_BROKERS"] == PRODUCTION_BROKERS
    assert metadata["consumerGroup"] == env.get("CINDER_KAFKA_GROUP", DEFAULT_GROUP)
    assert metadata["topic"] == env.get("CINDER_KAFKA_TOPIC", DEFAULT_TOPIC)
    # KEDA creates its own HPA for the writer; a second autoscaler would fight it.
    competing = [h["metadata"]["name"] for h in of_kind(objects, "HorizontalPodAutoscaler")
                 if h["spec"]["scaleTargetRef"]["name"] == "cinder-writer"]
    assert not competing, f"HPAs also scale the writer: {competing}"


def test_service_monitors_cover_the_four_metrics_endpoints(built):
    objects, _ = built["production+service-monitor"]
    monitors = of_kind(objects, "ServiceMonitor")
    assert monitors, "no ServiceMonitor"
    services = of_kind(objects, "Service")
    covered = set()
    for monitor in monitors:
        label = f"ServiceMonitor/{monitor['metadata']['name']}"
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1", label
        selector = monitor["spec"]["selector"]
        assert selector.get("matchLabels") or selector.get("matchExpressions"), f"{label}: selects every Service"
        chosen = [s for s in services if selects(selector, s["metadata"].get("labels", {}))]
        assert chosen, f"{label}: selects no Service"
        endpoints = monitor["spec"]["endpoints"]
        assert endpoints, f"{label}: no endpoints"
        for endpoint in endpoints:
            assert endpoint.get("path", "/metrics") == "/metrics", label
            for service in chosen:
                ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
                assert endpoint["port"] in ports, f"{label}: Service {service['metadata']['name']} has no port {endpoint['port']}"
                covered.add((service["metadata"]["name"], ports[endpoint["port"]]))
    assert covered == {("cinder-collector", 4318), ("cinder-writer", 9464), ("cinder-api", 6006), ("cinder-runner", 9465)}, covered


def _allows(rules, port, protocol="TCP", open_only=False):
    """Whether NetworkPolicy rules admit traffic on a port (open_only: from or to anywhere)."""
    for rule in rules:
        peers = rule.get("from", rule.get("to"))
        if open_only and peers:
            continue
        ports = rule.get("ports")
        if not ports:
            return True
        for entry in ports:
            low = entry.get("port")
            high = entry.get("endPort", low)
            if entry.get("protocol", "TCP") == protocol and (low is None or low <= port <= high):
                return True
    return False


def test_network_policies(built):
    objects, _ = built["production+network-policy"]
    policies = of_kind(objects, "NetworkPolicy")
    problems = []

    def policies_for(workload):
        return [p for p in policies if selects(p["spec"]["podSelector"], pod_labels(workload))]

    for workload in workloads(objects):
        name = workload["metadata"]["name"]
        applied = policies_for(workload)
        types = {t for p in applied for t in p["spec"].get("policyTypes", [])}
        if types != {"Ingress", "Egress"}:
            problems.append(f"{name}: policies restrict {sorted(types)}, expected ingress and egress")
        egress = [r for p in applied for r in p["spec"].get("egress", [])]
        if not (_allows(egress, 53, "UDP") and _allows(egress, 53, "TCP")):
            problems.append(f"{name}: DNS is not allowed out")
        if not _allows(egress, 5432):
            problems.append(f"{name}: PostgreSQL is not allowed out")
        if name in ("cinder-collector", "cinder-writer") and not _allows(egress, 9092):
            problems.append(f"{name}: Kafka is not allowed out")

    def ingress_of(name):
        return [r for p in policies_for(named(objects, "Deployment", name)) for r in p["spec"].get("ingress", [])]

    for port in (4317, 4318):
        if not _allows(ingress_of("cinder-collector"), port, open_only=True):
            problems.append(f"collector: {port} is not open to all")
    if not _allows(ingress_of("cinder-api"), 6006, open_only=True):
        problems.append("api: 6006 is not open to all")
    writer_rules = ingress_of("cinder-writer")
    if not _allows(writer_rules, 9464):
        problems.append("writer: its metrics port is closed to monitoring too")
    if any(not rule.get("from") for rule in writer_rules):
        problems.append("writer: a rule admits traffic from anywhere")
    job = named(objects, "Job", "cinder-migrate")
    if [r for p in policies_for(job) for r in p["spec"].get("ingress", [])]:
        problems.append("cinder-migrate: admits ingress it never needs")
    assert not problems, "\n".join(problems)


# --- dev --------------------------------------------------------------------------------------------


def test_dev_is_one_server_and_a_database(built):
    objects, _ = built["dev"]
    deployments = of_kind(objects, "Deployment")
    assert len(deployments) == 1, f"dev has {len(deployments)} Deployments, expected one `cinder serve`"
    (server,) = deployments
    (container,) = pod_spec(server)["containers"]
    assert argv(container) == ["cinder", "serve"], argv(container)
    assert server["spec"].get("replicas", 1) == 1
    assert server["spec"]["strategy"]["type"] == "Recreate"
    assert not of_kind(objects, "Job"), "dev migrates on start; no Job"
    for name in SPLIT_SERVICES:
        assert not [o for o in objects if o["metadata"]["name"] == name], f"dev carries the split service {name}"

    env = effective_env(container, objects)
    assert not [v for v in env if v.startswith("CINDER_KAFKA")], "dev has no Kafka"
    kind, ref = env["PHOENIX_SQL_DATABASE_URL"]
    assert kind == "secretKeyRef"
    # Without a database URL `cinder serve` starts its own cluster in the pod; it must use the StatefulSet's.
    (statefulset,) = of_kind(objects, "StatefulSet")
    secret = named(objects, "Secret", ref["name"])
    url = urlparse(base64.b64decode(secret["data"][ref["key"]]).decode())
    database_service = named(objects, "Service", statefulset["spec"]["serviceName"])
    assert url.hostname == database_service["metadata"]["name"]
    assert url.port == database_service["spec"]["ports"][0]["port"] == 5432
    assert selects(database_service["spec"]["selector"], pod_labels(statefulset))

    # The working directory must be writable on the read-only root filesystem.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(server)["volumes"]}
    assert "emptyDir" in volumes[mounts[env["PHOENIX_WORKING_DIR"]]]

    (database,) = pod_spec(statefulset)["containers"]
    assert database["image"] == "postgres:15"
    claims = [t["metadata"]["name"] for t in statefulset["spec"].get("volumeClaimTemplates", [])]
    assert claims, "the StatefulSet has no volumeClaimTemplates"
    # PGDATA must be a subdirectory of the claim's mount: initdb refuses a volume root holding lost+found,
    # and anywhere else the data would be lost with the pod.
    pgdata = effective_env(database, objects).get("PGDATA", "/var/lib/postgresql/data")
    on_claims = [m["mountPath"] for m in database["volumeMounts"] if m["name"] in claims]
    assert any(pgdata.startswith(path.rstrip("/") + "/") for path in on_claims), (
        f"PGDATA {pgdata} is not below a claim's mount {on_claims}")
    assert named(objects, "Namespace", DEV_NAMESPACE)


# --- the source tree --------------------------------------------------------------------------------


def test_no_deprecated_kustomize_fields(tools):
    files = sorted(KUSTOMIZE.rglob("kustomization.yaml"))
    assert len(files) >= 6, f"expected base, two overlays and three components, found {files}"
    problems = []
    for path in files:
        text = path.read_text()
        document = yaml.safe_load(text)
        for field in DEPRECATED_KUSTOMIZE_FIELDS:
            if field in document or re.search(rf"^\s*{field}\s*:", text, re.MULTILINE):
                problems.append(f"{path.relative_to(REPO)}: {field}")
        expected_kind = "Component" if "components" in path.parts else "Kustomization"
        if document.get("kind") != expected_kind:
            problems.append(f"{path.relative_to(REPO)}: kind {document.get('kind')}, expected {expected_kind}")
    assert not problems, "deprecated kustomize fields:\n" + "\n".join(problems)


def test_dev_does_not_build_on_the_base(tools):
    document = yaml.safe_load((DEV / "kustomization.yaml").read_text())
    assert not [r for r in document.get("resources", []) if "base" in r], "dev must be self-contained"


def test_readme_tells_operators_how_to_create_the_secret():
    text = (KUSTOMIZE / "README.md").read_text()
    assert f"kubectl -n {PRODUCTION_NAMESPACE} create secret generic {CREDENTIAL_SECRET}" in text
    for key in REQUIRED_KEYS | OPTIONAL_KEYS:
        assert f"{key}=" in text, f"README does not show the key {key}"
    for directory in ("overlays/dev", "overlays/production"):
        assert f"kubectl apply -k kustomize/{directory}" in text
    for component in COMPONENTS:
        assert f"components/{component}" in text
