"""A project's time series over GraphQL (the Metrics tab reads them), with Phoenix's field names.

Four traces at known times, sent by the OpenTelemetry SDK; every series is checked bin by bin:
- bins are calendar units in a fixed offset from UTC (TimeBinConfig.utcOffsetMinutes); a bin is named by
  its start; with both ends of the range every bin is answered (empty ones too, values null or zero),
  with an open end only bins holding data;
- trace series bin traces by their start and count them by root-span status; span series bin spans by
  their start; latency is percentile_cont over trace latencies; tokens and costs are sums over spans;
- bad bin configurations are GraphQL errors with a message, not 500s.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from opentelemetry.trace import Status, StatusCode

from conftest import hex_span_id, make_tracer_provider, unique_name
from test_graphql import MS, NS, _span, gql, gql_errors, post_in_start_order, readable, wait_ingested

HOUR = 3600 * NS
MINUTE = 60 * NS


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, tz=timezone.utc).isoformat()


class Data:
    def __init__(self, project: str, base: int, spans: dict):
        self.project, self.base, self.spans = project, base, spans


@pytest.fixture(scope="module")
def data(cinder, client) -> Data:
    """base = the top of the UTC hour five hours ago.
    A  base+10m  root OK 100 ms, LLM child OK (10/1 tokens, cost .001/.0005)
    B  base+40m  root ERROR 300 ms, LLM child UNSET (20/2 tokens, cost .002/.001)
    C  base+2h30 root UNSET 200 ms, TOOL child ERROR
    D  base+2h45 root OK 400 ms
    Span annotations: A quality 0.8; B quality 0.4, relevance 1.0; D quality 1.0.
    Trace annotations "resolved": A yes (1), B no (0), C yes (1)."""
    project = unique_name("series")
    base = (int(time.time()) // 3600 - 5) * 3600 * NS
    pipe = make_tracer_provider(None, project, None)
    t = pipe.tracer
    live = {}

    def llm(start, parent, prompt, completion, cost_p, cost_c, status=None):
        return _span(t, "llm", start + 10 * MS, start + 20 * MS, parent, {
            "openinference.span.kind": "LLM", "llm.token_count.prompt": prompt, "llm.token_count.completion": completion,
            "llm.cost.prompt": cost_p, "llm.cost.completion": cost_c, "llm.cost.total": cost_p + cost_c}, status)

    def root(label, start, latency_ms, status=None):
        span = t.start_span("agent", start_time=start, attributes={"openinference.span.kind": "CHAIN"})
        live[label] = span
        return span, lambda: (span.set_status(status) if status else None, span.end(end_time=start + latency_ms * MS))

    a, end_a = root("A", base + 10 * MINUTE, 100, Status(StatusCode.OK))
    live["a1"] = llm(base + 10 * MINUTE, a, 10, 1, 0.001, 0.0005, Status(StatusCode.OK))
    end_a()
    b, end_b = root("B", base + 40 * MINUTE, 300, Status(StatusCode.ERROR, "failed"))
    live["b1"] = llm(base + 40 * MINUTE, b, 20, 2, 0.002, 0.001)
    end_b()
    c, end_c = root("C", base + 150 * MINUTE, 200)
    live["c1"] = _span(t, "tool", base + 150 * MINUTE + 5 * MS, base + 150 * MINUTE + 6 * MS, c,
                       {"openinference.span.kind": "TOOL"}, Status(StatusCode.ERROR, "tool broke"))
    end_c()
    _, end_d = root("D", base + 165 * MINUTE, 400, Status(StatusCode.OK))
    end_d()
    spans = readable(pipe, live)
    post_in_start_order(cinder, spans.values())
    wait_ingested(client, project, len(spans))
    for label, name, score in [("A", "quality", 0.8), ("B", "quality", 0.4), ("B", "relevance", 1.0), ("D", "quality", 1.0)]:
        client.spans.add_span_annotation(span_id=hex_span_id(spans[label]), annotation_name=name,
                                         annotator_kind="CODE", score=score, sync=True)
    for label, verdict in [("A", "yes"), ("B", "no"), ("C", "yes")]:
        r = requests.post(f"{cinder.base_url}/v1/trace_annotations", params={"sync": "true"}, timeout=10, json={"data": [{
            "trace_id": format(spans[label].context.trace_id, "032x"), "name": "resolved", "annotator_kind": "HUMAN",
            "result": {"label": verdict, "score": 1 if verdict == "yes" else 0}}]})
        assert r.status_code == 200, r.text
    return Data(project, base, spans)


SERIES = """query($name: String!, $range: TimeRange!, $bins: TimeBinConfig, $filter: String) {
  getProjectByName(name: $name) {
    spanCountTimeSeries(timeRange: $range, timeBinConfig: $bins, filterCondition: $filter) {
      data { timestamp okCount errorCount unsetCount totalCount } }
    traceCountTimeSeries(timeRange: $range, timeBinConfig: $bins) { data { timestamp value } }
    traceCountByStatusTimeSeries(timeRange: $range, timeBinConfig: $bins) { data { timestamp okCount errorCount totalCount } }
    traceLatencyMsPercentileTimeSeries(timeRange: $range, timeBinConfig: $bins) { data { timestamp p50 p75 p90 p95 p99 p999 max } }
    traceTokenCountTimeSeries(timeRange: $range, timeBinConfig: $bins) {
      data { timestamp promptTokenCount completionTokenCount totalTokenCount promptTokenCountDetails { tokenType tokenCount } } }
    traceTokenCostTimeSeries(timeRange: $range, timeBinConfig: $bins) { data { timestamp promptCost completionCost totalCost } }
    spanAnnotationScoreTimeSeries(timeRange: $range, timeBinConfig: $bins) {
      names data { timestamp scoresWithLabels { label score } } }
  }
}"""


def series(cinder, d: Data, start, end, scale="HOUR", offset=0, condition=None) -> dict:
    variables = {"name": d.project, "range": {"start": start and iso(start), "end": end and iso(end)},
                 "bins": {"scale": scale, "utcOffsetMinutes": offset}, "filter": condition}
    return gql(cinder, SERIES, variables)["getProjectByName"]


def stamps(points) -> list[int]:
    return [int(datetime.fromisoformat(p["timestamp"]).timestamp()) * NS for p in points]


def test_hourly_bins_fill_the_range_and_count_by_status(cinder, data):
    d = data
    s = series(cinder, d, d.base, d.base + 4 * HOUR)
    hours = [d.base + i * HOUR for i in range(4)]
    for name in ["spanCountTimeSeries", "traceCountTimeSeries", "traceCountByStatusTimeSeries",
                 "traceLatencyMsPercentileTimeSeries", "traceTokenCountTimeSeries", "traceTokenCostTimeSeries",
                 "spanAnnotationScoreTimeSeries"]:
        assert stamps(s[name]["data"]) == hours, name

    assert [p["value"] for p in s["traceCountTimeSeries"]["data"]] == [2, 0, 2, 0]
    assert [(p["okCount"], p["errorCount"], p["totalCount"]) for p in s["traceCountByStatusTimeSeries"]["data"]] == [
        (1, 1, 2), (0, 0, 0), (1, 0, 2), (0, 0, 0)]  # C's root is UNSET: counted in the total only
    assert [(p["okCount"], p["errorCount"], p["unsetCount"], p["totalCount"]) for p in s["spanCountTimeSeries"]["data"]] == [
        (2, 1, 1, 4), (0, 0, 0, 0), (1, 1, 1, 3), (0, 0, 0, 0)]

    latency = s["traceLatencyMsPercentileTimeSeries"]["data"]
    assert latency[0]["p50"] == pytest.approx(200) and latency[0]["max"] == pytest.approx(300)
    assert latency[0]["p90"] == pytest.approx(280)  # 100 + 0.9 * 200, linear interpolation
    assert latency[2]["p50"] == pytest.approx(300) and latency[2]["max"] == pytest.approx(400)
    assert all(latency[1][k] is None for k in ["p50", "p75", "p90", "p95", "p99", "p999", "max"])

    tokens = s["traceTokenCountTimeSeries"]["data"]
    assert (tokens[0]["promptTokenCount"], tokens[0]["completionTokenCount"], tokens[0]["totalTokenCount"]) == (30, 3, 33)
    assert (tokens[2]["promptTokenCount"], tokens[2]["completionTokenCount"], tokens[2]["totalTokenCount"]) == (0, 0, 0)
    assert tokens[1]["totalTokenCount"] is None and tokens[0]["promptTokenCountDetails"] == []

    cost = s["traceTokenCostTimeSeries"]["data"]
    assert cost[0]["promptCost"] == pytest.approx(0.003) and cost[0]["completionCost"] == pytest.approx(0.0015)
    assert cost[0]["totalCost"] == pytest.approx(0.0045)
    assert cost[1]["totalCost"] is None and cost[2]["totalCost"] is None  # spans, but none with a cost

    scores = s["spanAnnotationScoreTimeSeries"]
    assert scores["names"] == ["quality", "relevance"]
    by_bin = [{x["label"]: x["score"] for x in p["scoresWithLabels"]} for p in scores["data"]]
    assert by_bin[0] == {"quality": pytest.approx(0.6), "relevance": pytest.approx(1.0)}
    assert by_bin[1] == {} and by_bin[2] == {"quality": pytest.approx(1.0)} and by_bin[3] == {}


def test_utc_offset_moves_the_bin_edges(cinder, data):
    d = data
    # Local time is UTC+00:30: local hours start at hh:30 UTC; A (10m) and B (40m) fall in different bins.
    s = series(cinder, d, d.base, d.base + 4 * HOUR, offset=30)
    points = s["traceCountTimeSeries"]["data"]
    assert stamps(points) == [d.base - 30 * MINUTE + i * HOUR for i in range(5)]
    assert [p["value"] for p in points] == [1, 1, 0, 2, 0]
    # UTC-01:00 whole hours coincide with UTC hours.
    s = series(cinder, d, d.base, d.base + 4 * HOUR, offset=-60)
    assert [p["value"] for p in s["traceCountTimeSeries"]["data"]] == [2, 0, 2, 0]


def test_open_ranges_answer_only_bins_with_data(cinder, data):
    d = data
    s = series(cinder, d, None, None, scale="MINUTE")
    assert stamps(s["traceCountTimeSeries"]["data"]) == [d.base + m * MINUTE for m in (10, 40, 150, 165)]
    assert [p["value"] for p in s["traceCountTimeSeries"]["data"]] == [1, 1, 1, 1]
    days = series(cinder, d, d.base, None, scale="DAY")["spanCountTimeSeries"]["data"]
    assert sum(p["totalCount"] for p in days) == 7
    assert all(datetime.fromisoformat(p["timestamp"]).time() == datetime.min.time() for p in days)


def test_span_counts_follow_the_filter_condition(cinder, data):
    d = data
    s = series(cinder, d, d.base, d.base + 3 * HOUR, condition="span_kind == 'LLM'")
    assert [p["totalCount"] for p in s["spanCountTimeSeries"]["data"]] == [2, 0, 0]
    s = series(cinder, d, d.base, d.base + 3 * HOUR, condition="status_code == 'ERROR' or latency_ms >= 400")
    assert [(p["errorCount"], p["okCount"]) for p in s["spanCountTimeSeries"]["data"]] == [(1, 0), (0, 0), (1, 1)]


@pytest.mark.parametrize("range_, bins, message", [
    ({"start": "2026-01-01T00:00:00+00:00", "end": "2026-03-01T00:00:00+00:00"}, {"scale": "MINUTE"}, "choose a larger scale"),
    ({"start": "2026-01-02T00:00:00+00:00", "end": "2026-01-01T00:00:00+00:00"}, {"scale": "HOUR"}, "start must be before its end"),
    ({"start": None, "end": None}, {"scale": "HOUR", "utcOffsetMinutes": 5000}, "utcOffsetMinutes"),
    ({"start": None, "end": None}, {"scale": "FORTNIGHT"}, "FORTNIGHT"),
])
def test_bad_bin_configurations_are_errors_with_a_message(cinder, data, range_, bins, message):
    q = """query($name: String!, $range: TimeRange!, $bins: TimeBinConfig) { getProjectByName(name: $name) {
      traceCountTimeSeries(timeRange: $range, timeBinConfig: $bins) { data { timestamp } } } }"""
    body = gql_errors(cinder, q, {"name": data.project, "range": range_, "bins": bins})
    assert any(message in e["message"] for e in body["errors"]), body["errors"]


def test_bad_filter_in_span_counts_is_an_error(cinder, data):
    q = """query($name: String!) { getProjectByName(name: $name) {
      spanCountTimeSeries(timeRange: {}, filterCondition: "latency_ms >") { data { timestamp } } } }"""
    body = gql_errors(cinder, q, {"name": data.project})
    (error,) = body["errors"]
    assert error["path"] == ["getProjectByName", "spanCountTimeSeries"] and error["message"], error


SUMMARY = """query($name: String!, $annotation: String!, $range: TimeRange, $filter: String) {
  getProjectByName(name: $name) {
    span: spanAnnotationSummary(annotationName: $annotation, timeRange: $range, filterCondition: $filter) {
      name count labels labelFractions { label fraction } meanScore scoreCount labelCount }
    trace: traceAnnotationSummary(annotationName: $annotation, timeRange: $range) {
      name count labels labelFractions { label fraction } meanScore scoreCount labelCount }
  }
}"""


def summaries(cinder, d: Data, annotation: str, start=None, end=None, condition=None) -> dict:
    variables = {"name": d.project, "annotation": annotation, "filter": condition,
                 "range": {"start": start and iso(start), "end": end and iso(end)}}
    return gql(cinder, SUMMARY, variables)["getProjectByName"]


def test_annotation_summaries_over_range_and_filter(cinder, data):
    d = data
    quality = summaries(cinder, d, "quality")
    assert quality["trace"] is None  # no trace annotation of that name
    span = quality["span"]
    assert (span["name"], span["count"], span["scoreCount"], span["labelCount"], span["labels"]) == ("quality", 3, 3, 0, [])
    assert span["meanScore"] == pytest.approx((0.8 + 0.4 + 1.0) / 3)
    first_hour = summaries(cinder, d, "quality", d.base, d.base + HOUR)["span"]
    assert first_hour["count"] == 2 and first_hour["meanScore"] == pytest.approx(0.6)
    slow = summaries(cinder, d, "quality", condition="latency_ms >= 300")["span"]
    assert slow["count"] == 2 and slow["meanScore"] == pytest.approx(0.7)
    assert summaries(cinder, d, "quality", condition="span_kind == 'TOOL'")["span"] is None

    resolved = summaries(cinder, d, "resolved")["trace"]
    assert (resolved["count"], resolved["labelCount"], resolved["labels"]) == (3, 3, ["yes", "no"])
    assert resolved["labelFractions"] == [{"label": "yes", "fraction": pytest.approx(2 / 3)},
                                          {"label": "no", "fraction": pytest.approx(1 / 3)}]
    assert resolved["meanScore"] == pytest.approx(2 / 3)
    assert summaries(cinder, d, "resolved", d.base + 2 * HOUR, d.base + 3 * HOUR)["trace"]["labels"] == ["yes"]
    assert summaries(cinder, d, "no-such-annotation") == {"span": None, "trace": None}
