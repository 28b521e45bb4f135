// A project: its statistics over the chosen range and its spans or traces, newest first, page by page.
import { h, replace } from '../dom.js';
import { graphql, isUnknownNode } from '../api.js';
import * as format from '../format.js';
import { navigate, updateQuery } from '../router.js';
import { rangeFromQuery, rangePicker, timeRangeOf } from '../time-range.js';
import { dataTable } from '../table.js';
import { firstTrace } from './projects.js';
import { kindBadge, statusMark } from './span-parts.js';
import { rememberTraces } from './trace-list.js';

const pageSize = 50;
const missing = 'This project does not exist in this organization.';

const headerQuery = `query ProjectHeader($id: ID!, $timeRange: TimeRange) {
  node(id: $id) { ... on Project {
    id name
    traceCount(timeRange: $timeRange)
    tokenCountTotal(timeRange: $timeRange)
    latencyP50: latencyMsQuantile(probability: 0.5, timeRange: $timeRange)
    latencyP99: latencyMsQuantile(probability: 0.99, timeRange: $timeRange)
    costSummary(timeRange: $timeRange) { total { cost } prompt { cost } completion { cost } }
  } }
}`;

const spanFields = `id spanId name spanKind statusCode startTime latencyMs parentId
  tokenCountTotal metadata
  input { truncatedValue } output { truncatedValue }
  trace { traceId }
  spanAnnotations { name label score }`;

const spansQuery = `query ProjectSpans($id: ID!, $after: String, $timeRange: TimeRange, $sort: SpanSort) {
  node(id: $id) { ... on Project {
    spans(first: ${pageSize}, after: $after, timeRange: $timeRange, sort: $sort) {
      pageInfo { hasNextPage endCursor }
      edges { node { ${spanFields} } }
    }
  } }
}`;

const tracesQuery = `query ProjectTraces($id: ID!, $after: String, $timeRange: TimeRange) {
  node(id: $id) { ... on Project {
    traces(first: ${pageSize}, after: $after, timeRange: $timeRange) {
      pageInfo { hasNextPage endCursor }
      edges { node {
        id traceId startTime latencyMs numSpans
        rootSpan { ${spanFields} }
      } }
    }
  } }
}`;

function annotationsText(span) {
  return (span?.spanAnnotations ?? [])
    .map((a) => `${a.name}: ${a.label ?? (a.score != null ? Number(a.score).toFixed(2) : '')}`).join(', ');
}

function userOf(span) {
  try {
    const metadata = span?.metadata ? JSON.parse(span.metadata) : null;
    return metadata?.user_id ?? metadata?.user ?? null;
  } catch {
    return null;
  }
}

/** Columns shared by both tabs: `pick(row)` is the span the row shows (a trace shows its root). */
function spanColumns(pick) {
  return [
    { id: 'kind', label: 'Kind', value: (r) => pick(r)?.spanKind, render: (r) => kindBadge(pick(r)?.spanKind) },
    { id: 'name', label: 'Name', value: (r) => pick(r)?.name, render: (r) => h('span.cell-name', pick(r)?.name ?? '(root span not received)') },
    { id: 'status', label: 'Status', value: (r) => pick(r)?.statusCode, render: (r) => statusMark(pick(r)?.statusCode) },
    { id: 'input', label: 'Input', value: (r) => pick(r)?.input?.truncatedValue, render: (r) => h('span.cell-text', format.preview(pick(r)?.input?.truncatedValue)) },
    { id: 'output', label: 'Output', value: (r) => pick(r)?.output?.truncatedValue, render: (r) => h('span.cell-text', format.preview(pick(r)?.output?.truncatedValue)) },
    { id: 'startTime', label: 'Start time', value: (r) => pick(r)?.startTime, render: (r) => format.time(pick(r)?.startTime), sortable: true },
    { id: 'latency', label: 'Latency', num: true, value: (r) => pick(r)?.latencyMs, render: (r) => format.duration(pick(r)?.latencyMs) },
    { id: 'tokens', label: 'Tokens', num: true, value: (r) => pick(r)?.tokenCountTotal, render: (r) => format.count(pick(r)?.tokenCountTotal) },
    { id: 'annotations', label: 'Annotations', value: (r) => annotationsText(pick(r)), render: (r) => h('span.cell-text', annotationsText(pick(r))) },
    { id: 'metadata', label: 'Metadata', hidden: true, value: (r) => pick(r)?.metadata, render: (r) => h('code.cell-text', format.preview(pick(r)?.metadata, 80)) },
    { id: 'user', label: 'User', hidden: true, value: (r) => userOf(pick(r)) },
    { id: 'spanId', label: 'Span id', hidden: true, value: (r) => pick(r)?.spanId, render: (r) => h('code', pick(r)?.spanId ?? '') },
    { id: 'traceId', label: 'Trace id', hidden: true, value: (r) => pick(r)?.trace?.traceId ?? r.traceId, render: (r) => h('code', pick(r)?.trace?.traceId ?? r.traceId ?? '') },
  ];
}

export async function projectScreen({ outlet, params, query, signal, tab }) {
  const projectId = params.projectId;
  let range = rangeFromQuery(query);
  let sortDir = query.get('sort') === 'asc' ? 'asc' : 'desc';
  const base = `/projects/${encodeURIComponent(projectId)}`;

  const stats = h('dl.stats', { 'aria-label': 'Project statistics' });
  const title = h('h1', '…');
  const listArea = h('div.list-area');
  const more = h('button.load-more', { type: 'button', hidden: true }, 'Load more');
  const tabs = h('nav.tabs', { 'aria-label': 'Project views' },
    ['spans', 'traces'].map((id) => h('a', {
      href: `${base}/${id}${location.search}`,
      class: id === tab ? 'active' : null,
      'aria-current': id === tab ? 'page' : null,
    }, id === 'spans' ? 'Spans' : 'Traces')));

  replace(outlet,
    h('header.page-header',
      h('div.crumbs', h('a', { href: '/projects' }, 'Projects'), h('span', '/'), title),
      h('div.toolbar', rangePicker(range, (id) => {
        range = id;
        reload();
      }))),
    stats, tabs, listArea, more);

  const traces = tab === 'traces';
  const pick = traces ? (row) => row.rootSpan : (row) => row;
  const columns = spanColumns(pick);
  if (traces) {
    columns.splice(7, 0, { id: 'spans', label: 'Spans', num: true, value: (r) => r.numSpans, render: (r) => format.count(r.numSpans) });
  }
  let table = null;
  let after = null;

  function openRow(row) {
    const traceId = traces ? row.traceId : row.trace?.traceId;
    rememberTraces(projectId, table.rows.map((r) => (traces ? r.traceId : r.trace?.traceId)));
    const spanParam = traces ? '' : `?selectedSpanNodeId=${encodeURIComponent(row.id)}`;
    navigate(`${base}/traces/${encodeURIComponent(traceId)}${spanParam}`);
  }

  function makeTable() {
    table = dataTable(columns, {
      name: traces ? 'traces' : 'spans',
      label: traces ? 'Traces' : 'Spans',
      rowKey: (row) => row.id,
      onOpen: openRow,
      sort: traces ? null : { column: 'startTime', dir: sortDir },
      onSort: traces ? null : () => {
        sortDir = sortDir === 'desc' ? 'asc' : 'desc';
        updateQuery({ sort: sortDir === 'desc' ? null : sortDir });
        reload();
      },
    });
    replace(listArea, table.element);
  }

  async function loadHeader() {
    const { node } = await graphql(headerQuery, { id: projectId, timeRange: timeRangeOf(range) }, { signal });
    if (!node) throw new Error(missing);
    title.textContent = node.name;
    document.title = `${node.name} · Cinder`;
    const cost = node.costSummary;
    replace(stats,
      stat('Traces', format.count(node.traceCount)),
      stat('Latency p50', format.duration(node.latencyP50)),
      stat('Latency p99', format.duration(node.latencyP99)),
      stat('Tokens', format.count(node.tokenCountTotal)),
      stat('Cost', format.cost(cost?.total?.cost), cost ? `prompt ${format.cost(cost.prompt?.cost)} · completion ${format.cost(cost.completion?.cost)}` : null));
    return node;
  }

  async function loadPage() {
    more.disabled = true;
    const variables = { id: projectId, after, timeRange: timeRangeOf(range) };
    if (!traces) variables.sort = { col: 'startTime', dir: sortDir };
    const { node } = await graphql(traces ? tracesQuery : spansQuery, variables, { signal });
    if (!node) throw new Error(missing);
    const connection = traces ? node.traces : node.spans;
    const rows = connection.edges.map((edge) => edge.node);
    if (!after && rows.length === 0) {
      replace(listArea, range === 'all' ? firstTrace() : h('p.empty', 'Nothing in this time range. Choose a longer one.'));
    } else {
      if (!after) makeTable();
      table.append(rows);
    }
    after = connection.pageInfo.hasNextPage ? connection.pageInfo.endCursor : null;
    more.hidden = !after;
    more.disabled = false;
  }

  async function reload() {
    after = null;
    try {
      await Promise.all([loadHeader(), loadPage()]);
    } catch (error) {
      throw isUnknownNode(error) ? new Error(missing) : error;
    }
  }

  more.onclick = () => loadPage().catch((error) => {
    more.disabled = false;
    more.textContent = `Load more (last attempt failed: ${error.message})`;
  });
  await reload();
  return null;
}

function stat(label, value, detail) {
  return h('div.stat', { title: detail ?? '' }, h('dt', label), h('dd', value));
}
