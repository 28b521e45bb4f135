#!/usr/bin/env python3
"""Page-latency measurements for scripts/bench-api.sh (Python 3, standard library only).

Times sequential requests on one keep-alive HTTP/1.1 connection (send until the whole body is read;
JSON parsing and checks happen outside the timed span) and prints p50/p95/p99/max per request kind as
a markdown table, then the results as one JSON line (also written to --out).

Every response is checked: status 200, exactly 100 items, 4 spans per trace for the trace pages, and
no GraphQL errors. A check that fails stops that measurement and makes the exit status 1. A server
without /graphql (404) only gets a note: the REST figures are still reported.
"""
import argparse
import base64
import http.client
import json
import socket
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlencode, urlsplit

PAGE = 100
SPANS_PER_TRACE = 4
TARGET_P95_MS = 20.0


class CheckFailed(Exception):
    pass


def global_id(type_name, rowid):
    return base64.b64encode(f"{type_name}:{rowid}".encode()).decode()


def iso8601(micros):
    """Timestamps as Cinder and Phoenix write them: ISO-8601, +00:00, microseconds when not zero."""
    return (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=micros)).isoformat()


class Connection:
    """One keep-alive connection; reconnects (and counts it) if the server closes it."""

    def __init__(self, base_url, headers=None):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.extra_headers = dict(headers or {})
        self.conn = None
        self.reconnects = -1  # the first connect is not a reconnect

    def request(self, method, path, body=None):
        headers = {"Accept": "application/json", **self.extra_headers}
        if body is not None:
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
                self.conn.connect()
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.reconnects += 1
            try:
                start = time.perf_counter()
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - start
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
                continue
            if response.will_close:
                self.conn.close()
                self.conn = None
            return response.status, data, elapsed


def parse(status, data, what):
    if status != 200:
        raise CheckFailed(f"{what}: HTTP {status}: {data[:300].decode(errors='replace')}")
    try:
        return json.loads(data)
    except ValueError as error:
        raise CheckFailed(f"{what}: response is not JSON ({error}): {data[:200].decode(errors='replace')}")


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


# REST checks ---------------------------------------------------------------------------------------

def check_rest_spans(doc):
    items = doc.get("data")
    expect(isinstance(items, list), "REST spans: no data list")
    expect(len(items) == PAGE, f"REST spans: {len(items)} spans, expected {PAGE}")
    expect(all(isinstance(s, dict) and s.get("context", {}).get("span_id") for s in items), "REST spans: a span without context.span_id")
    expect(doc.get("next_cursor"), "REST spans: next_cursor is null (expected more pages)")
    return [s["id"] for s in items], doc["next_cursor"]


def check_rest_traces(project_gid):
    def check(doc):
        items = doc.get("data")
        expect(isinstance(items, list), "REST traces: no data list")
        expect(len(items) == PAGE, f"REST traces: {len(items)} traces, expected {PAGE}")
        for trace in items:
            expect(trace.get("project_id") == project_gid, f"REST traces: trace {trace.get('trace_id')} of project {trace.get('project_id')}")
            spans = trace.get("spans")
            expect(isinstance(spans, list) and len(spans) == SPANS_PER_TRACE,
                   f"REST traces: trace {trace.get('trace_id')} has {len(spans) if isinstance(spans, list) else spans!r} spans, expected {SPANS_PER_TRACE}")
        expect(doc.get("next_cursor"), "REST traces: next_cursor is null (expected more pages)")
        return [t["id"] for t in items], doc["next_cursor"]
    return check


# GraphQL -------------------------------------------------------------------------------------------

SPAN_PAGE_FIELDS = """edges { cursor node { id spanId name spanKind statusCode startTime endTime latencyMs parentId attributes } }
      pageInfo { hasNextPage endCursor }"""

GQL_SPANS = """query($id: ID!) { node(id: $id) { ... on Project {
    spans(first: 100, sort: {col: startTime, dir: desc}) { %s } } } }""" % SPAN_PAGE_FIELDS

GQL_SPANS_AFTER = """query($id: ID!, $after: String) { node(id: $id) { ... on Project {
    spans(first: 100, after: $after, sort: {col: startTime, dir: desc}) { %s } } } }""" % SPAN_PAGE_FIELDS

TRACE_SPAN_FIELDS = "spans(first: 100) { edges { node { id spanId name parentId spanKind startTime endTime } } }"

# Phoenix 20.26.1's schema has no Project.traces (Cinder adds one): there the traces view is the page of
# root spans (filterCondition "parent_id is None", as the schema documents) with each root span's trace.
GQL_ROOT_SPANS_WITH_TRACES = """query($id: ID!) { node(id: $id) { ... on Project {
    spans(first: 100, sort: {col: startTime, dir: desc}, filterCondition: "parent_id is None") {
      edges { node { id spanId name parentId spanKind startTime endTime latencyMs
        trace { id traceId startTime endTime latencyMs numSpans %s } } }
      pageInfo { hasNextPage endCursor } } } } }""" % TRACE_SPAN_FIELDS

# The same page through Cinder's Project.traces connection (newest first).
GQL_PROJECT_TRACES = """query($id: ID!) { node(id: $id) { ... on Project {
    traces(first: 100) { edges { node { id traceId startTime endTime latencyMs numSpans %s } }
      pageInfo { hasNextPage endCursor } } } } }""" % TRACE_SPAN_FIELDS


def graphql_data(doc, what):
    errors = doc.get("errors")
    if errors:
        messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)[:400]
        raise CheckFailed(f"{what}: GraphQL errors: {messages}")
    node = (doc.get("data") or {}).get("node")
    expect(isinstance(node, dict), f"{what}: data.node is {node!r}")
    return node


def connection(node, field, what):
    conn = node.get(field)
    expect(isinstance(conn, dict) and isinstance(conn.get("edges"), list), f"{what}: no {field}.edges")
    edges = conn["edges"]
    expect(len(edges) == PAGE, f"{what}: {len(edges)} edges, expected {PAGE}")
    page_info = conn.get("pageInfo") or {}
    expect(page_info.get("hasNextPage") is True and page_info.get("endCursor"), f"{what}: pageInfo {page_info!r} (expected more pages)")
    return edges, page_info["endCursor"]


def trace_spans_ok(trace, what):
    expect(isinstance(trace, dict), f"{what}: trace is {trace!r}")
    spans = ((trace.get("spans") or {}).get("edges"))
    expect(isinstance(spans, list) and len(spans) == SPANS_PER_TRACE,
           f"{what}: trace {trace.get('traceId')} has {len(spans) if isinstance(spans, list) else spans!r} spans, expected {SPANS_PER_TRACE}")
    expect(trace.get("numSpans") == SPANS_PER_TRACE, f"{what}: trace {trace.get('traceId')} numSpans {trace.get('numSpans')!r}")


def check_gql_spans(doc):
    edges, end = connection(graphql_data(doc, "GraphQL spans"), "spans", "GraphQL spans")
    expect(all(e.get("node", {}).get("spanId") for e in edges), "GraphQL spans: an edge without node.spanId")
    return [e["node"]["id"] for e in edges], end


def check_gql_root_spans(doc):
    what = "GraphQL root spans with traces"
    edges, end = connection(graphql_data(doc, what), "spans", what)
    for edge in edges:
        node = edge.get("node") or {}
        expect(node.get("parentId") is None, f"{what}: span {node.get('spanId')} has parent {node.get('parentId')}")
        trace_spans_ok(node.get("trace"), what)
    return [e["node"]["id"] for e in edges], end


def check_gql_project_traces(doc):
    what = "GraphQL Project.traces"
    edges, end = connection(graphql_data(doc, what), "traces", what)
    for edge in edges:
        trace_spans_ok(edge.get("node"), what)
    return [e["node"]["id"] for e in edges], end


# Measurement ---------------------------------------------------------------------------------------

def percentile(sorted_ms, q):
    return statistics.quantiles(sorted_ms, n=100, method="inclusive")[q - 1]


class Case:
    def __init__(self, name, api, method, path, body, check, required=True):
        self.name, self.api, self.method, self.path, self.body, self.check, self.required = name, api, method, path, body, check, required

    def once(self, conn):
        status, data, elapsed = conn.request(self.method, self.path, self.body)
        return self.check(parse(status, data, self.name)), elapsed, len(data)


def measure(conn, case, warmup, requests):
    for _ in range(warmup):
        case.once(conn)
    times, sizes = [], []
    for _ in range(requests):
        _, elapsed, size = case.once(conn)
        times.append(elapsed * 1000)
        sizes.append(size)
    times.sort()
    return {
        "name": case.name, "api": case.api, "method": case.method, "path": case.path,
        "requests": requests, "warmup": warmup,
        "p50_ms": round(percentile(times, 50), 2), "p95_ms": round(percentile(times, 95), 2),
        "p99_ms": round(percentile(times, 99), 2), "max_ms": round(times[-1], 2),
        "mean_ms": round(statistics.fmean(times), 2), "min_ms": round(times[0], 2),
        "response_bytes": round(statistics.fmean(sizes)),
        "meets_target": percentile(times, 95) <= TARGET_P95_MS,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", default="http://127.0.0.1:6006")
    ap.add_argument("--project-rowid", type=int, required=True)
    ap.add_argument("--project-name", default="")
    ap.add_argument("--deep-span-rowid", type=int, help="a span of the project half-way down its pages")
    ap.add_argument("--deep-span-start-micros", type=int, help="that span's start time, microseconds since the epoch")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--out", help="also write the JSON results to this file")
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="recorded in the JSON results")
    ap.add_argument("--header", action="append", default=[], metavar="NAME: VALUE", help="sent with every request (credentials)")
    a = ap.parse_args()
    if a.requests < 2:
        ap.error("--requests must be at least 2")

    headers = dict(tuple(part.strip() for part in h.split(":", 1)) for h in a.header)
    conn = Connection(a.base_url, headers)
    project = global_id("Project", a.project_rowid)
    base = f"/v1/projects/{quote(project, safe='')}"
    results, failures, notes = [], [], []

    def run(case):
        try:
            result = measure(conn, case, a.warmup, a.requests)
            results.append(result)
            print(f"  {case.name}: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms", file=sys.stderr)
        except (CheckFailed, OSError, http.client.HTTPException) as error:
            if case.required:
                failures.append(f"{case.name}: {error}")
            else:
                notes.append(f"{case.name}: skipped: {error}")

    def first_page(case):
        """The page's ids and next cursor, or None (recorded as a failure) if the first page fails its checks."""
        try:
            ids, cursor = case.once(conn)[0]
            return ids, cursor
        except (CheckFailed, OSError, http.client.HTTPException) as error:
            failures.append(f"{case.name} (first request): {error}")
            return None

    def later_page(case, first_ids, unsupported_note=""):
        """A later page, measured once its first answer has none of the first page's items."""
        try:
            ids, _ = case.once(conn)[0]
            overlap = set(ids) & set(first_ids)
            if overlap:
                raise CheckFailed(f"{len(overlap)} items of the first page again")
        except (CheckFailed, OSError, http.client.HTTPException) as error:
            if case.required:
                failures.append(f"{case.name} (first request): {error}")
            else:
                notes.append(f"{case.name}: skipped: {unsupported_note}({error})")
            return
        run(case)

    print(f"measuring {a.base_url}, project {a.project_name or project} ({project}): "
          f"{a.warmup} warm-up + {a.requests} timed requests each", file=sys.stderr)

    # REST ------------------------------------------------------------------------------------------
    spans_page = f"{base}/spans?limit={PAGE}"
    spans_case = Case("REST spans, first page", "REST", "GET", spans_page, None, check_rest_spans)
    first = first_page(spans_case)
    if first:
        run(spans_case)
        later_page(Case("REST spans, page 2 (cursor)", "REST", "GET", f"{spans_page}&{urlencode({'cursor': first[1]})}", None,
                        check_rest_spans), first[0])
        if a.deep_span_rowid:
            deep_cursor = global_id("Span", a.deep_span_rowid)
            later_page(Case("REST spans, page at half depth (cursor)", "REST", "GET", f"{spans_page}&{urlencode({'cursor': deep_cursor})}",
                            None, check_rest_spans), first[0])
    traces_case = Case("REST traces with spans, first page", "REST", "GET",
                       f"{base}/traces?limit={PAGE}&include_spans=true", None, check_rest_traces(project))
    if first_page(traces_case):
        run(traces_case)

    # GraphQL ---------------------------------------------------------------------------------------
    status, data, _ = conn.request("POST", "/graphql", {"query": "{ __typename }"})
    if status in (404, 405):
        notes.append(f"GraphQL: POST /graphql answered {status}: the endpoint is not available yet; REST only")
    else:
        gql = lambda query, **variables: {"query": query, "variables": {"id": project, **variables}}
        spans_case = Case("GraphQL spans, first page", "GraphQL", "POST", "/graphql", gql(GQL_SPANS), check_gql_spans)
        first = first_page(spans_case)
        if first:
            run(spans_case)
            later_page(Case("GraphQL spans, page 2 (after endCursor)", "GraphQL", "POST", "/graphql",
                            gql(GQL_SPANS_AFTER, after=first[1]), check_gql_spans), first[0])
            if a.deep_span_rowid and a.deep_span_start_micros:
                # Phoenix's cursor for a sorted span page: base64 of "<rowid>:DATETIME:<start time>".
                cursor = base64.b64encode(f"{a.deep_span_rowid}:DATETIME:{iso8601(a.deep_span_start_micros)}".encode()).decode()
                later_page(Case("GraphQL spans, page at half depth (after cursor)", "GraphQL", "POST", "/graphql",
                                gql(GQL_SPANS_AFTER, after=cursor), check_gql_spans, required=False),
                           first[0], "the server did not take a Phoenix-format cursor ")
        # Two forms of the trace page; the server must answer at least one of them correctly.
        trace_cases = [
            Case("GraphQL traces with spans, first page (Project.traces)", "GraphQL", "POST", "/graphql",
                 gql(GQL_PROJECT_TRACES), check_gql_project_traces, required=False),
            Case("GraphQL traces with spans, first page (root spans + trace.spans)", "GraphQL", "POST", "/graphql",
                 gql(GQL_ROOT_SPANS_WITH_TRACES), check_gql_root_spans, required=False),
        ]
        for case in trace_cases:
            run(case)
        if not any(r["name"] == case.name for case in trace_cases for r in results):
            failures.append("GraphQL traces with spans, first page: neither form was answered correctly (see the notes)")

    if conn.reconnects > 0:
        notes.append(f"the server closed the keep-alive connection {conn.reconnects} times (each reconnect is inside one timed request)")

    # Report ----------------------------------------------------------------------------------------
    meta = dict(item.split("=", 1) for item in a.meta if "=" in item)
    print()
    print(f"Page latency, {a.requests} sequential requests after {a.warmup} warm-up, one keep-alive connection"
          + (f" ({meta['spans']} spans / {meta['traces']} traces in 2 projects)" if "spans" in meta and "traces" in meta else ""))
    print()
    print(f"| request | p50 ms | p95 ms | p99 ms | max ms | response KB | p95 ≤ {TARGET_P95_MS:g} ms |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['name']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | "
              f"{r['response_bytes'] / 1024:.0f} | {'yes' if r['meets_target'] else 'no'} |")
    for failure in failures:
        print(f"| {failure.split(':', 1)[0]} | FAILED | | | | | |")
    print()
    for note in notes:
        print(f"note: {note}")
    for failure in failures:
        print(f"FAILED: {failure}")
    summary = {
        "benchmark": "api-page-latency", "target_p95_ms": TARGET_P95_MS, "base_url": a.base_url, "project": project,
        "requests": a.requests, "warmup": a.warmup, "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "meta": meta, "results": results, "failures": failures, "notes": notes,
    }
    line = json.dumps(summary, separators=(",", ":"))
    if a.out:
        with open(a.out, "w") as f:
            f.write(json.dumps(summary, indent=2) + "\n")
    print(line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
