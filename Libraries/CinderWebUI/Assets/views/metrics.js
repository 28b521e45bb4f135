// A project's metrics over the chosen range: traces and their error rate, latency percentiles, spans by
// status, tokens, cost and annotation scores, in bins that follow the range (minutes for an hour,
// hours for days, days for months), in the person's time zone.
import { h, replace } from '../dom.js';
import { graphql } from '../api.js';
import * as format from '../format.js';
import { timeRangeOf } from '../time-range.js';
import { timeChart } from '../time-chart.js';

const seriesQuery = `query ProjectMetrics($id: ID!, $timeRange: TimeRange!, $bins: TimeBinConfig) {
  node(id: $id) { ... on Project {
    traceCountByStatusTimeSeries(timeRange: $timeRange, timeBinConfig: $bins) { data { timestamp okCount errorCount totalCount } }
    traceLatencyMsPercentileTimeSeries(timeRange: $timeRange, timeBinConfig: $bins) { data { timestamp p50 p90 p99 max } }
    spanCountTimeSeries(timeRange: $timeRange, timeBinConfig: $bins) { data { timestamp okCount errorCount unsetCount } }
    traceTokenCountTimeSeries(timeRange: $timeRange, timeBinConfig: $bins) { data { timestamp promptTokenCount completionTokenCount } }
    traceTokenCostTimeSeries(timeRange: $timeRange, timeBinConfig: $bins) { data { timestamp promptCost completionCost } }
    spanAnnotationScoreTimeSeries(timeRange: $timeRange, timeBinConfig: $bins) { names data { timestamp scoresWithLabels { label score } } }
  } }
}`;

const extentQuery = `query ProjectExtent($id: ID!) { node(id: $id) { ... on Project { startTime endTime } } }`;

const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;

/** The bin scale that gives a readable number of bars (at most ~120) for a range of `ms`. */
export function scaleFor(ms) {
  if (ms <= 2 * hour) return 'MINUTE';
  if (ms <= 5 * day) return 'HOUR';
  if (ms <= 120 * day) return 'DAY';
  if (ms <= 2 * 365 * day) return 'WEEK';
  return 'MONTH';
}

/** The range's bounds; "all time" is the project's first span until now. */
async function bounds(projectId, range, signal) {
  const timeRange = timeRangeOf(range);
  if (timeRange?.start && timeRange?.end) return timeRange;
  const end = timeRange?.end ?? new Date().toISOString();
  if (timeRange?.start) return { start: timeRange.start, end };
  const { node } = await graphql(extentQuery, { id: projectId }, { signal });
  if (!node?.startTime) return null;
  return { start: node.startTime, end: new Date(Math.max(Date.parse(end), Date.parse(node.endTime) + 1)).toISOString() };
}

const percent = (v) => `${Math.round(v * 10) / 10}%`;
const score = (v) => (Math.round(v * 1000) / 1000).toString();

/** Fills `container` with the charts; resolves once the data is shown. */
export async function showMetrics(container, { projectId, range, signal }) {
  const timeRange = await bounds(projectId, range, signal);
  if (!timeRange) {
    replace(container, h('p.empty', 'No traces yet, so nothing to chart.'));
    return;
  }
  const scale = scaleFor(Date.parse(timeRange.end) - Date.parse(timeRange.start));
  const bins = { scale, utcOffsetMinutes: -new Date().getTimezoneOffset() };
  const { node } = await graphql(seriesQuery, { id: projectId, timeRange, bins }, { signal });
  if (!node) throw new Error('This project does not exist in this organization.');

  const traces = node.traceCountByStatusTimeSeries.data;
  const times = traces.map((p) => Date.parse(p.timestamp));
  const pick = (points, key) => points.map((p) => p[key]);
  const latency = node.traceLatencyMsPercentileTimeSeries.data;
  const spans = node.spanCountTimeSeries.data;
  const tokens = node.traceTokenCountTimeSeries.data;
  const cost = node.traceTokenCostTimeSeries.data;
  const scores = node.spanAnnotationScoreTimeSeries;

  const charts = [
    timeChart({
      title: 'Traces', times, format: format.count,
      series: [
        { label: 'OK', tone: 'ok', values: pick(traces, 'okCount') },
        { label: 'Error', tone: 'error', values: pick(traces, 'errorCount') },
        { label: 'Unset', tone: 'unset', values: traces.map((p) => p.totalCount - p.okCount - p.errorCount) },
      ],
    }),
    timeChart({
      title: 'Trace error rate', times, mode: 'lines', format: percent,
      series: [{ label: 'Errors', tone: 'error', values: traces.map((p) => (p.totalCount ? (100 * p.errorCount) / p.totalCount : null)) }],
      empty: 'No traces in this time range.',
    }),
    timeChart({
      title: 'Trace latency', times, mode: 'lines', format: format.duration,
      series: [
        { label: 'p50', tone: 'p50', values: pick(latency, 'p50') },
        { label: 'p90', tone: 'p90', values: pick(latency, 'p90') },
        { label: 'p99', tone: 'p99', values: pick(latency, 'p99') },
        { label: 'max', tone: 'max', values: pick(latency, 'max') },
      ],
    }),
    timeChart({
      title: 'Spans', times, format: format.count,
      series: [
        { label: 'OK', tone: 'ok', values: pick(spans, 'okCount') },
        { label: 'Error', tone: 'error', values: pick(spans, 'errorCount') },
        { label: 'Unset', tone: 'unset', values: pick(spans, 'unsetCount') },
      ],
    }),
    timeChart({
      title: 'Tokens', times, format: format.count,
      series: [
        { label: 'Prompt', tone: 'prompt', values: pick(tokens, 'promptTokenCount') },
        { label: 'Completion', tone: 'completion', values: pick(tokens, 'completionTokenCount') },
      ],
      empty: 'No LLM token counts in this time range.',
    }),
    timeChart({
      title: 'Cost', times, format: format.cost,
      series: [
        { label: 'Prompt', tone: 'prompt', values: pick(cost, 'promptCost') },
        { label: 'Completion', tone: 'completion', values: pick(cost, 'completionCost') },
      ],
      empty: 'No costs recorded in this time range.',
    }),
  ];
  if (scores.names.length) {
    const tones = ['p50', 'p90', 'p99', 'max', 'prompt', 'completion'];
    charts.push(timeChart({
      title: 'Span annotation scores (mean)', times, mode: 'lines', format: score,
      series: scores.names.map((name, i) => ({
        label: name, tone: tones[i % tones.length],
        values: scores.data.map((p) => p.scoresWithLabels.find((s) => s.label === name)?.score ?? null),
      })),
    }));
  }
  replace(container,
    h('p.muted.metrics-note', `${times.length} ${scale.toLowerCase()} bins, ${new Date(timeRange.start).toLocaleString()} – ${new Date(timeRange.end).toLocaleString()}`),
    h('div.chart-grid', charts));
}
