#!/usr/bin/env bash
# Cost tracking's price on ingestion: the reference workload (scripts/bench.sh; a quarter of its spans
# are LLM spans naming gpt-4o-mini, gpt-4o or claude-3-5-sonnet, all priced) with CINDER_COST_TRACKING
# off and on, alternating, ROUNDS times each. Prints every run, then the medians of end-to-end spans/s
# and of the server's CPU µs per span for each setting; the last run adds the COPY reference.
# Usage: scripts/bench-costs.sh [ROUNDS] [TRACES]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
traces=${2:-10000}
out=$(mktemp /tmp/cinder-bench-costs.XXXXXX)
for round in $(seq 1 "$rounds"); do
  for setting in false true; do
    copy=""
    [ "$round" = "$rounds" ] && [ "$setting" = true ] && copy=1
    echo "== round $round, CINDER_COST_TRACKING=$setting"
    CINDER_COST_TRACKING=$setting BENCH_COPY_LIMIT=$copy "$root/scripts/bench.sh" "$traces" 2>/dev/null | tee -a "$out" | sed "s/^/  /"
    echo "setting=$setting" >>"$out"
  done
done
python3 - "$out" <<'PY'
import json, re, statistics, sys
runs = {"false": [], "true": []}
rate = cpu = None
for line in open(sys.argv[1]):
    if line.startswith("{") and "e2e" in line:
        data = json.loads(line)
        rate = next(v for k, v in data.items() if "e2e" in k and "per_s" in k)
    elif "µs per span" in line:
        cpu = float(re.search(r"CPU: ([\d.]+)", line).group(1))
    elif line.startswith("setting="):
        runs[line.strip().split("=")[1]].append((rate, cpu))
for setting, label in (("false", "off"), ("true", "on")):
    rates, cpus = [r for r, _ in runs[setting]], [c for _, c in runs[setting]]
    print(json.dumps({"cost_tracking": label, "runs": len(rates), "median_e2e_spans_per_s": statistics.median(rates),
                      "median_cpu_us_per_span": statistics.median(cpus), "e2e_spans_per_s": rates}))
PY
rm -f "$out"
