"""Web UI timings in Chromium against a running Cinder (scripts/bench-api.sh runs it with BENCH_UI=1 on
the 1M-span database): how long after navigation each screen shows its data, how fast a 10,000-span trace
scrolls, and how many bytes a first visit transfers.

Times are read in the page (performance.now(), from the navigation's start) at the moment the screen's
data is in the DOM: the projects table's first row, the spans table's first row, the trace's first tree
row (and the moment all 10,000 spans are loaded; for projects also the moment every statistic is in), the
metrics tab's charts. Each is measured RUNS times in one tab (assets cached,
as for a person moving around); the first visit is measured separately in a fresh browser context.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"


def send_big_trace(base_url: str, key: str | None, project: str, spans: int) -> str:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-ui", "openinference.project.name": project}))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{base_url}/v1/traces", headers=headers, timeout=60),
        max_queue_size=spans + 10, max_export_batch_size=min(2000, spans)))
    tracer = provider.get_tracer("bench-ui")
    with tracer.start_as_current_span("big-trace", attributes={"openinference.span.kind": "AGENT"}) as root:
        trace_id = format(root.get_span_context().trace_id, "032x")
        # Groups of 100 (a CHAIN and 99 children) under the root, then single spans up to the count.
        groups, rest = divmod(spans - 1, 100)
        for g in range(groups):
            with tracer.start_as_current_span(f"group-{g:03d}", attributes={"openinference.span.kind": "CHAIN"}):
                for i in range(99):
                    with tracer.start_as_current_span(f"step-{g:03d}-{i:02d}", attributes={"openinference.span.kind": "LLM" if i % 3 == 0 else "TOOL"}):
                        pass
        for i in range(rest):
            with tracer.start_as_current_span(f"tail-{i:02d}", attributes={"openinference.span.kind": "TOOL"}):
                pass
    assert provider.force_flush(120_000)
    provider.shutdown()
    return trace_id


def wait_in_page(page, expression: str, timeout_ms: int = 60_000) -> float:
    """Milliseconds from the navigation's start until `expression` is truthy (polled every frame)."""
    page.wait_for_function(expression, timeout=timeout_ms, polling="raf")
    return page.evaluate("performance.now()")


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"median_ms": round(statistics.median(ordered), 1), "p95_ms": round(p95, 1), "max_ms": round(ordered[-1], 1), "runs": len(ordered)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--email")
    ap.add_argument("--password")
    ap.add_argument("--key", help="API key for sending the big trace (auth on)")
    ap.add_argument("--project-name", default="bench-a")
    ap.add_argument("--big-spans", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--out")
    args = ap.parse_args()

    big_project = f"bench-ui-big-{int(time.time())}"
    started = time.time()
    trace_id = send_big_trace(args.base_url, args.key, big_project, args.big_spans)
    print(f"sent a trace of {args.big_spans} spans in {time.time() - started:.1f} s", file=sys.stderr)

    results: dict = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])

        def signed_in_context():
            # bypass_csp: the timing probes below are evaluated strings, which the page's policy refuses.
            context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=args.base_url, bypass_csp=True)
            if args.email:
                r = context.request.post("/auth/login", data={"email": args.email, "password": args.password})
                assert r.status == 204, r.text()
            return context

        context = signed_in_context()
        page = context.new_page()
        projects = context.request.post("/graphql", data={"query": "{ projects(first: 1000) { edges { node { id name } } } }"}).json()
        ids = {e["node"]["name"]: e["node"]["id"] for e in projects["data"]["projects"]["edges"]}
        project_id, big_id = ids[args.project_name], ids[big_project]

        # First visit: every byte the browser fetched for the projects screen, compressed as sent.
        page.goto("/projects")
        wait_in_page(page, "document.querySelector('table[aria-label=Projects] tbody tr')")
        transferred = page.evaluate("""() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const files = performance.getEntriesByType('resource').filter((e) => e.name.includes('/assets/'));
            return { page: nav.transferSize, assets: files.reduce((n, e) => n + e.transferSize, 0), files: files.length };
        }""")
        # Later screens load their modules on demand: visit each once to count the rest.
        page.goto(f"/projects/{big_id}/traces/{trace_id}")
        wait_in_page(page, "document.querySelector('[role=treeitem]')")
        all_assets = page.evaluate("""() => performance.getEntriesByType('resource')
            .filter((e) => e.name.includes('/assets/')).reduce((n, e) => n + e.transferSize, 0)""")
        results["first_visit_bytes"] = {"projects_screen": transferred["page"] + transferred["assets"], "files": transferred["files"],
                                        "with_trace_screen": transferred["page"] + transferred["assets"] + all_assets}

        # Each navigation is measured to its last checkpoint before the next starts, as a person would
        # (a tab reloaded every few hundred milliseconds would pile the server's work up).
        statistics_in = ("document.querySelector('table[aria-label=Projects] tbody tr') "
                         "&& !document.querySelector('table[aria-label=Projects] [title=Loading]')")
        all_loaded = ("document.querySelector('.progress') && document.querySelector('.progress').textContent === '' "
                      "&& document.querySelectorAll('[role=treeitem]').length > 0")
        cases = [
            ("/projects", [("projects", "document.querySelector('table[aria-label=Projects] tbody tr')"),
                           ("projects_with_statistics", statistics_in)]),
            (f"/projects/{project_id}/spans", [("spans", "document.querySelectorAll('table[aria-label=Spans] tbody tr').length >= 50"),
                                               ("spans_with_header", "document.querySelectorAll('table[aria-label=Spans] tbody tr').length >= 50 "
                                                                     "&& !document.querySelector('.stats:empty')")]),
            # Metrics over the default range (7 days, daily bins): every chart drawn from 500,000 spans.
            (f"/projects/{project_id}/metrics", [("metrics_charts", "document.querySelectorAll('.chart').length >= 6")]),
            (f"/projects/{big_id}/traces/{trace_id}", [("trace_10k_first_rows", "document.querySelector('[role=treeitem]')"),
                                                       ("trace_10k_all_loaded", all_loaded)]),
        ]
        for path, checkpoints in cases:
            print(f"measuring {path}", file=sys.stderr, flush=True)
            times: dict[str, list[float]] = {name: [] for name, _ in checkpoints}
            for _ in range(args.runs):
                page.goto(path)
                for name, ready in checkpoints:
                    times[name].append(wait_in_page(page, ready, timeout_ms=120_000))
            for name, values in times.items():
                results[name] = summary(values)

        # Scrolling: 40 px per frame down the whole tree for 3 seconds; frames per second and the worst frame.
        scroll = page.evaluate("""() => new Promise((resolve) => {
            const tree = document.querySelector('[role=tree]');
            const start = performance.now();
            let last = start, frames = 0, worst = 0;
            function step(now) {
                frames += 1;
                worst = Math.max(worst, now - last);
                last = now;
                tree.scrollTop += 40;
                if (now - start < 3000) requestAnimationFrame(step);
                else resolve({ fps: frames / ((now - start) / 1000), worst_frame_ms: worst,
                               rows_in_dom: document.querySelectorAll('[role=treeitem]').length,
                               scrolled_px: tree.scrollTop });
            }
            requestAnimationFrame(step);
        })""")
        results["trace_10k_scroll"] = {k: round(v, 1) if isinstance(v, float) else v for k, v in scroll.items()}

        # The filter's round trip: the spans query the filter box sends, timed in the page with fetch
        # (first page of 50, newest first, last 7 days), 20 times per expression after 3 warm-ups.
        filters = ["span_kind == 'LLM'", "span_kind == 'LLM' and latency_ms > 3000", "'hallucination' in input.value",
                   "metadata['ab'] == 'B' and status_code == 'OK'", "annotations['correctness'].label == 'incorrect'",
                   "status_code == 'ERROR'"]
        print("measuring filters", file=sys.stderr, flush=True)
        page.goto(f"/projects/{project_id}/spans")
        wait_in_page(page, "document.querySelectorAll('table[aria-label=Spans] tbody tr').length >= 50")
        filter_times = page.evaluate("""async ([projectId, filters]) => {
            const query = `query($id: ID!, $f: String, $t: TimeRange) { node(id: $id) { ... on Project {
              spans(first: 50, filterCondition: $f, timeRange: $t, sort: {col: startTime, dir: desc}) {
                edges { node { id name spanKind statusCode startTime latencyMs input { truncatedValue } } } } } } }`;
            const end = new Date(), start = new Date(end - 7 * 86400000);
            const out = {};
            for (const f of filters) {
              const times = [];
              for (let i = 0; i < 23; i += 1) {
                const t0 = performance.now();
                const r = await fetch('/graphql', { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' },
                  body: JSON.stringify({ query, variables: { id: projectId, f, t: { start: start.toISOString(), end: end.toISOString() } } }) });
                const body = await r.json();
                if (body.errors) throw new Error(body.errors[0].message);
                if (i >= 3) times.push(performance.now() - t0);
                out[f] = { times, rows: body.data.node.spans.edges.length };
              }
            }
            return out;
        }""", [project_id, filters])
        results["filter_round_trip"] = {f: {**summary(v["times"]), "rows": v["rows"]} for f, v in filter_times.items()}
        browser.close()

    print(json.dumps(results, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
