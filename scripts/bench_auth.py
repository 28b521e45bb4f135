#!/usr/bin/env python3
"""Ingestion with auth on (API key, row-level security) against auth off, alternating in one run.

Runs the reference workload (../shared/bench/otlp_load.py) against a release `cinder serve`, restarted
for each run: auth off, then auth on (PHOENIX_ENABLE_AUTH, every request signed with a system API key),
ROUNDS times, all into the same private PostgreSQL, so both modes see the same growing database. Both
modes serve as the non-owner role that row-level security holds (`cinder serve` always does). Reports
end-to-end spans/s per run, the CPU seconds Cinder and PostgreSQL spent per span, the medians and their
ratio, and copy_limit.sh's raw COPY rate for the stored rows as the physical reference.

Usage: scripts/bench_auth.py [--rounds 5] [--traces 10000]   (scripts/bench-auth.sh builds and runs it)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
SECRET = "bench-secret-0123456789abcdefghijklmnop"
ADMIN_SECRET = "bench-admin-secret-0123456789abcdefghijk"


def cpu_seconds(pid: int, children: bool = False) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime, stime (and cutime, cstime for exited children) are fields 14-17 of stat; index 11+ after ")".
    total = int(fields[11]) + int(fields[12])
    if children:
        total += int(fields[13]) + int(fields[14])
    return total / TICKS


def postgres_cpu(data_dir: Path) -> float:
    """CPU of the cluster: the postmaster (with its exited children) and its live backends."""
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    total = cpu_seconds(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == postmaster:
                    total += (int(stat[11]) + int(stat[12])) / TICKS
            except (OSError, IndexError, ValueError):
                pass
    return total


def wait_ready(port: int, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(240):
        if proc.poll() is not None:
            sys.exit(f"cinder serve exited:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit("cinder serve did not become ready")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--traces", type=int, default=10000)
    ap.add_argument("--binary", default=str(ROOT / ".build" / "release" / "cinder"))
    ap.add_argument("--load", default=str(ROOT.parent / "shared" / "bench" / "otlp_load.py"))
    ap.add_argument("--port", type=int, default=16636)
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cinder-bench-auth-", dir="/tmp"))
    os.chmod(work, 0o755)
    socket_dir = work / "postgres" / "run"
    python = str(ROOT / ".venv" / "bin" / "python")
    key = None
    results: dict[str, list[dict]] = {"off": [], "on": []}
    try:
        for round_ in range(a.rounds):
            for mode in ("off", "on"):
                env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "CINDER_"))}
                env.update(PHOENIX_WORKING_DIR=str(work), PHOENIX_PORT=str(a.port), PHOENIX_GRPC_PORT=str(a.port + 1))
                if mode == "on":
                    env.update(PHOENIX_ENABLE_AUTH="true", PHOENIX_SECRET=SECRET, PHOENIX_ADMIN_SECRET=ADMIN_SECRET)
                log = work / f"serve-{round_}-{mode}.log"
                proc = subprocess.Popen([a.binary, "serve"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
                try:
                    wait_ready(a.port, proc, log)
                    headers = []
                    if mode == "on":
                        if key is None:
                            request = urllib.request.Request(
                                f"http://127.0.0.1:{a.port}/v1/system/api_keys", data=b'{"data": {"name": "bench"}}', method="POST",
                                headers={"Authorization": f"Bearer {ADMIN_SECRET}", "Content-Type": "application/json"})
                            with urllib.request.urlopen(request, timeout=30) as r:
                                key = json.load(r)["data"]["key"]
                        headers = ["--header", f"Authorization: Bearer {key}"]
                    project = f"bench-{mode}-{round_}"
                    count = (f"psql -h {socket_dir} -U postgres -d cinder -tAc \"select count(*) from spans s join projects p "
                             f"on p.id = s.project_id where p.name = '{{project}}'\"")
                    cinder_before, pg_before = cpu_seconds(proc.pid), postgres_cpu(work / "postgres" / "data")
                    out = subprocess.run(
                        [python, a.load, "--url", f"http://127.0.0.1:{a.port}/v1/traces", "--traces", str(a.traces),
                         "--project", project, "--count-cmd", count, *headers,
                         # Every run new trace and span ids: both modes write into the default organization,
                         # where a span id already stored is skipped (ingestion is idempotent).
                         "--seed", str(1000 + 2 * round_ + (mode == "on"))],
                        check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
                    run = json.loads(out)
                    spans = a.traces * 4
                    run["cinder_cpu_s_per_span"] = (cpu_seconds(proc.pid) - cinder_before) / spans
                    run["postgres_cpu_s_per_span"] = (postgres_cpu(work / "postgres" / "data") - pg_before) / spans
                    run["mode"] = mode
                    results[mode].append(run)
                    print(json.dumps(run), flush=True)
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(120)
        # The physical reference: a raw COPY of the rows just stored (the cluster is started for it).
        pg_bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        data = work / "postgres" / "data"
        # The log goes inside the cluster's directory: the postgres user cannot write to the work directory.
        subprocess.run(as_pg + [str(pg_bin / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "copy-limit.log"), "-o",
                                f"-c listen_addresses='' -c unix_socket_directories={socket_dir}", "start"], check=True,
                       capture_output=True)
        try:
            copy = json.loads(subprocess.run([str(ROOT.parent / "shared" / "bench" / "copy_limit.sh"), "-h", str(socket_dir), "-U", "postgres",
                                              "-d", "cinder"], check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        finally:
            subprocess.run(as_pg + [str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True)
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)

    def median(mode: str, field: str) -> float:
        return statistics.median(r[field] for r in results[mode])

    rate_field = "e2e_spans_per_s"
    summary = {
        "rounds": a.rounds, "spans_per_run": a.traces * 4,
        "off_median_spans_per_s": median("off", rate_field), "on_median_spans_per_s": median("on", rate_field),
        "on_over_off": median("on", rate_field) / median("off", rate_field),
        "off_cinder_cpu_us_per_span": median("off", "cinder_cpu_s_per_span") * 1e6,
        "on_cinder_cpu_us_per_span": median("on", "cinder_cpu_s_per_span") * 1e6,
        "off_postgres_cpu_us_per_span": median("off", "postgres_cpu_s_per_span") * 1e6,
        "on_postgres_cpu_us_per_span": median("on", "postgres_cpu_s_per_span") * 1e6,
        "copy_limit": copy,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
