// A project: its statistics over the chosen range and its spans, traces or sessions, newest first,
// page by page, and live when asked.
import { h, replace } from '../dom.js';
import { graphql, isUnknownNode } from '../api.js';
import * as format from '../format.js';
import { navigate, updateQuery } from '../router.js';
import { rangeFromQuery, rangePicker, timeRangeOf } from '../time-range.js';
import { dataTable } from '../table.js';
import { firstTrace } from './projects.js';
import { kindBadge, stat, statusMark } from './span-parts.js';
import { rememberTraces } from './trace-list.js';
import { showMetrics } from './metrics.js';
import { attachCompletion, sessionSnippets, spanSnippets } from '../filter-completion.js';

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
    spanAnnotationNames
  } }
}`;

/** Annotation summaries shown in the header, at most this many names. */
const maxSummaries = 6;

/** One query for the summaries of `count` span annotation names (aliased s0…, names bound as $n0…). */
function summariesQuery(count) {
  const names = Array.from({ length: count }, (_, i) => `$n${i}: String!`).join(', ');
  const fields = Array.from({ length: count }, (_, i) =>
    `s${i}: spanAnnotationSummary(annotationName: $n${i}, timeRange: $timeRange) { name count meanScore labelFractions { label fraction } }`);
  return `query AnnotationSummaries($id: ID!, $timeRange: TimeRange, ${names}) { node(id: $id) { ... on Project {
    ${fields.join('\n    ')}
  } } }`;
}

/** A header figure for an annotation: its mean score, or its most frequent label when it has no scores. */
function summaryStat(summary) {
  const fractions = summary.labelFractions.map((f) => `${f.label} ${Math.round(f.fraction * 100)}%`).join(' · ');
  const top = summary.labelFractions[0];
  const value = summary.meanScore != null ? summary.meanScore.toFixed(2)
    : top ? `${top.label} ${Math.round(top.fraction * 100)}%` : '—';
  const detail = `${format.count(summary.count)} annotations${summary.meanScore != null ? `, mean score ${summary.meanScore.toFixed(3)}` : ''}${fractions ? `; ${fractions}` : ''}`;
  return stat(summary.name, value, detail);
}

const spanFields = `id spanId name spanKind statusCode startTime latencyMs parentId
  tokenCountTotal metadata costSummary { total { cost } }
  input { truncatedValue } output { truncatedValue }
  trace { traceId }
  spanAnnotations { name label score }`;

const spansQuery = `query ProjectSpans($id: ID!, $after: String, $timeRange: TimeRange, $sort: SpanSort, $filter: String) {
  node(id: $id) { ... on Project {
    spans(first: ${pageSize}, after: $after, timeRange: $timeRange, sort: $sort, filterCondition: $filter) {
      pageInfo { hasNextPage endCursor }
      edges { node { ${spanFields} } }
    }
  } }
}`;

const tracesQuery = `query ProjectTraces($id: ID!, $after: String, $timeRange: TimeRange, $sort: SpanSort, $filter: String) {
  node(id: $id) { ... on Project {
    traces(first: ${pageSize}, after: $after, timeRange: $timeRange, sort: $sort, filterCondition: $filter) {
      pageInfo { hasNextPage endCursor }
      edges { node {
        id traceId startTime latencyMs numSpans costSummary { total { cost tokens } }
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
    { id: 'startTime', label: 'Start time', value: (r) => pick(r)?.startTime, render: (r) => format.time(pick(r)?.startTime) },
    { id: 'latency', label: 'Latency', num: true, value: (r) => pick(r)?.latencyMs, render: (r) => format.duration(pick(r)?.latencyMs) },
    { id: 'tokens', label: 'Tokens', num: true, value: (r) => pick(r)?.tokenCountTotal, render: (r) => format.count(pick(r)?.tokenCountTotal) },
    { id: 'cost', label: 'Cost', num: true, value: (r) => pick(r)?.costSummary?.total?.cost, render: (r) => format.cost(pick(r)?.costSummary?.total?.cost) },
    { id: 'annotations', label: 'Annotations', value: (r) => annotationsText(pick(r)), render: (r) => h('span.cell-text', annotationsText(pick(r))) },
    { id: 'metadata', label: 'Metadata', hidden: true, value: (r) => pick(r)?.metadata, render: (r) => h('code.cell-text', format.preview(pick(r)?.metadata, 80)) },
    { id: 'user', label: 'User', hidden: true, value: (r) => userOf(pick(r)) },
    { id: 'spanId', label: 'Span id', hidden: true, value: (r) => pick(r)?.spanId, render: (r) => h('code', pick(r)?.spanId ?? '') },
    { id: 'traceId', label: 'Trace id', hidden: true, value: (r) => pick(r)?.trace?.traceId ?? r.traceId, render: (r) => h('code', pick(r)?.trace?.traceId ?? r.traceId ?? '') },
  ];
}

const sessionsQuery = `query ProjectSessions($id: ID!, $after: String, $timeRange: TimeRange, $sort: ProjectSessionSort, $filter: String) {
  node(id: $id) { ... on Project {
    sessions(first: ${pageSize}, after: $after, timeRange: $timeRange, sort: $sort, sessionFilterCondition: $filter) {
      pageInfo { hasNextPage endCursor }
      edges { node {
        id sessionId startTime endTime numTraces
        tokenUsage { total }
        costSummary { total { cost } }
        firstInput { value } lastOutput { value }
      } }
    }
  } }
}`;

const sessionColumns = [
  { id: 'sessionId', label: 'Session', value: (r) => r.sessionId, render: (r) => h('code', r.sessionId) },
  { id: 'firstInput', label: 'First input', value: (r) => r.firstInput?.value, render: (r) => h('span.cell-text', format.preview(r.firstInput?.value)) },
  { id: 'lastOutput', label: 'Last output', value: (r) => r.lastOutput?.value, render: (r) => h('span.cell-text', format.preview(r.lastOutput?.value)) },
  { id: 'traces', label: 'Traces', num: true, value: (r) => r.numTraces, render: (r) => format.count(r.numTraces) },
  { id: 'tokens', label: 'Tokens', num: true, value: (r) => r.tokenUsage?.total, render: (r) => format.count(r.tokenUsage?.total) },
  { id: 'cost', label: 'Cost', num: true, value: (r) => r.costSummary?.total?.cost, render: (r) => format.cost(r.costSummary?.total?.cost) },
  { id: 'duration', label: 'Duration', num: true, value: (r) => Date.parse(r.endTime) - Date.parse(r.startTime), render: (r) => format.duration(Date.parse(r.endTime) - Date.parse(r.startTime)) },
  { id: 'startTime', label: 'Start time', value: (r) => r.startTime, render: (r) => format.time(r.startTime) },
  { id: 'endTime', label: 'End time', value: (r) => r.endTime, render: (r) => format.time(r.endTime) },
];

/** The filter language of a tab: spans and traces use the span language, sessions their own. */
const filterLanguages = {
  span: { validate: 'validateSpanFilterCondition', vocabulary: 'spanFilterVocabulary' },
  session: { validate: 'validateSessionFilterCondition', vocabulary: 'sessionFilterVocabulary' },
};

const validateQuery = (language) => `query ValidateFilter($id: ID!, $condition: String!) {
  node(id: $id) { ... on Project { result: ${filterLanguages[language].validate}(condition: $condition) { isValid errorMessage } } }
}`;

const vocabularyQuery = (language) => `query FilterVocabulary($id: ID!) {
  node(id: $id) { ... on Project { terms: ${filterLanguages[language].vocabulary} { name type description category values } } }
}`;

/** The condition sent for the spans tab: the person's filter, and root spans only when asked. */
function spanCondition(filter, rootsOnly) {
  const text = filter.trim();
  if (!rootsOnly) return text || null;
  return text ? `(${text}) and parent_id is None` : 'parent_id is None';
}

/** `?sort=latency:asc` → { column, dir } among `columns` (column id → GraphQL SpanColumn); newest first
 * unless the URL says otherwise. */
function sortFromQuery(query, columns) {
  const [column, dir] = (query.get('sort') ?? '').split(':');
  return { column: columns && column in columns ? column : 'startTime', dir: dir === 'asc' ? 'asc' : 'desc' };
}

const tabLabels = { spans: 'Spans', traces: 'Traces', sessions: 'Sessions', metrics: 'Metrics' };

/** What each tab lists: its query, its rows' connection, columns, and where a row leads. */
function tabView(tab, base, projectId) {
  if (tab === 'metrics') return null;
  const traceIdOf = { spans: (row) => row.trace?.traceId, traces: (row) => row.traceId };
  if (tab === 'sessions') {
    const sortColumns = { startTime: 'startTime', endTime: 'endTime', traces: 'numTraces', tokens: 'tokenCountTotal', cost: 'costTotal' };
    for (const column of sessionColumns) column.sortable = column.id in sortColumns;
    return {
      query: sessionsQuery, connection: (node) => node.sessions, columns: sessionColumns, sortColumns, filters: 'session',
      // Newest sessions first is the server's own order (no key to compute per session).
      defaultSortIsImplicit: true,
      open: (row) => navigate(`${base}/sessions/${encodeURIComponent(row.id)}`),
    };
  }
  const traces = tab === 'traces';
  const columns = spanColumns(traces ? (row) => row.rootSpan : (row) => row);
  // The columns each list sorts by, with the GraphQL SpanColumn of each.
  const sortColumns = traces ? { startTime: 'startTime', latency: 'latencyMs' }
    : { startTime: 'startTime', latency: 'latencyMs', tokens: 'tokenCountTotal', cost: 'tokenCostTotal' };
  if (traces) {
    // A trace's latency is its own (first start to last end), which is what it sorts by.
    const latency = columns.find((column) => column.id === 'latency');
    latency.value = (r) => r.latencyMs;
    latency.render = (r) => format.duration(r.latencyMs);
    // Its tokens and cost are those of all its spans.
    const tokens = columns.find((column) => column.id === 'tokens');
    tokens.value = (r) => r.costSummary?.total?.tokens;
    tokens.render = (r) => format.count(r.costSummary?.total?.tokens);
    const cost = columns.find((column) => column.id === 'cost');
    cost.value = (r) => r.costSummary?.total?.cost;
    cost.render = (r) => format.cost(r.costSummary?.total?.cost);
    columns.splice(7, 0, { id: 'spans', label: 'Spans', num: true, value: (r) => r.numSpans, render: (r) => format.count(r.numSpans) });
  }
  for (const column of columns) column.sortable = column.id in sortColumns;
  return {
    query: traces ? tracesQuery : spansQuery,
    connection: (node) => (traces ? node.traces : node.spans),
    columns,
    sortColumns,
    filters: 'span',
    open: (row, rows) => {
      rememberTraces(projectId, rows.map(traceIdOf[tab]));
      const spanParam = traces ? '' : `?selectedSpanNodeId=${encodeURIComponent(row.id)}`;
      navigate(`${base}/traces/${encodeURIComponent(traceIdOf[tab](row))}${spanParam}`);
    },
  };
}

const liveInterval = 2000;

export async function projectScreen({ outlet, params, query, signal, tab }) {
  const projectId = params.projectId;
  let range = rangeFromQuery(query);
  let live = query.get('live') === '1';
  let filter = query.get('filter') ?? '';
  let rootsOnly = query.get('root') === '1';
  const base = `/projects/${encodeURIComponent(projectId)}`;
  const view = tabView(tab, base, projectId);
  let sort = sortFromQuery(query, view?.sortColumns);

  const stats = h('dl.stats', { 'aria-label': 'Project statistics' });
  const title = h('h1', '…');
  const listArea = h('div.list-area');
  const more = h('button.load-more', { type: 'button', hidden: true }, 'Load more');
  const tabs = h('nav.tabs', { 'aria-label': 'Project views' },
    Object.entries(tabLabels).map(([id, label]) => h('a', {
      href: `${base}/${id}${location.search}`,
      class: id === tab ? 'active' : null,
      'aria-current': id === tab ? 'page' : null,
    }, label)));
  const liveToggle = h('label.live-toggle', { title: `Show new data every ${liveInterval / 1000} seconds` },
    h('input', {
      type: 'checkbox',
      checked: live,
      onchange: (event) => {
        live = event.target.checked;
        updateQuery({ live: live ? '1' : null });
        schedule();
      },
    }), 'Live');

  // The spans tab's filter: Phoenix's language, checked by the server as it is typed, applied on Enter.
  const filterMessage = h('p.filter-message', { role: 'status', 'aria-live': 'polite' });
  const placeholders = {
    spans: "span_kind == 'LLM' and latency_ms > 1000",
    traces: "root span: span_kind == 'AGENT' and latency_ms > 1000",
    sessions: "num_traces > 3 and 'refund' in any_input",
  };
  const filterBox = h('input.filter-input', {
    type: 'search',
    value: filter,
    placeholder: placeholders[tab] ?? '',
    'aria-label': `Filter ${tab}`,
    spellcheck: false,
    oninput: () => scheduleValidation(),
  });
  const language = view?.filters || 'span';
  const completions = attachCompletion(filterBox, {
    loadTerms: async () => (await graphql(vocabularyQuery(language), { id: projectId }, { signal })).node?.terms ?? [],
    snippets: language === 'session' ? sessionSnippets : spanSnippets,
  });
  // After the completion's own handler: an Enter that accepted a suggestion is not a submission.
  filterBox.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.defaultPrevented) return;
    event.preventDefault();
    filter = filterBox.value;
    updateQuery({ filter: filter.trim() || null });
    reload().catch(showFilterError);
  });
  const rootsToggle = h('label.live-toggle', h('input', {
    type: 'checkbox',
    checked: rootsOnly,
    onchange: (event) => {
      rootsOnly = event.target.checked;
      updateQuery({ root: rootsOnly ? '1' : null });
      reload().catch(showFilterError);
    },
  }), 'Root spans only');
  let validation = 0;
  function scheduleValidation() {
    clearTimeout(validation);
    validation = setTimeout(async () => {
      const text = filterBox.value.trim();
      if (!text) {
        filterMessage.textContent = '';
        filterBox.removeAttribute('aria-invalid');
        return;
      }
      try {
        const { node } = await graphql(validateQuery(language), { id: projectId, condition: text }, { signal });
        const result = node.result;
        filterMessage.textContent = result.isValid ? '' : result.errorMessage;
        if (result.isValid) filterBox.removeAttribute('aria-invalid');
        else filterBox.setAttribute('aria-invalid', 'true');
      } catch (error) {
        if (error.name !== 'AbortError') filterMessage.textContent = error.message;
      }
    }, 250);
  }
  function showFilterError(error) {
    filterMessage.textContent = error.message;
    filterBox.setAttribute('aria-invalid', 'true');
  }
  const filterBar = view?.filters
    ? h('div.filter-bar', h('div.filter-field', filterBox, completions), tab === 'spans' ? rootsToggle : null, filterMessage) : null;
  /** The condition sent: on the spans tab the person's filter (and root spans only when asked), on the
   * traces tab a condition on each trace's root span. */
  const condition = () => (tab === 'spans' ? spanCondition(filter, rootsOnly) : filter.trim() || null);

  replace(outlet,
    h('header.page-header',
      h('div.crumbs', h('a', { href: '/projects' }, 'Projects'), h('span', '/'), title),
      h('div.toolbar', liveToggle, rangePicker(range, (chosen) => {
        range = chosen;
        reload();
      }))),
    stats, tabs, filterBar, listArea, more);

  let table = null;
  let after = null;

  function makeTable() {
    table = dataTable(view.columns, {
      name: tab,
      label: tabLabels[tab],
      rowKey: (row) => row.id,
      onOpen: (row) => view.open(row, table.rows),
      sort: view.sortColumns ? sort : null,
      // A new column starts with its largest values (slowest, most tokens, newest); the same column flips.
      onSort: view.sortColumns ? (column) => {
        sort = { column, dir: column === sort.column && sort.dir === 'desc' ? 'asc' : 'desc' };
        const isDefault = sort.column === 'startTime' && sort.dir === 'desc';
        updateQuery({ sort: isDefault ? null : `${sort.column}:${sort.dir}` });
        reload();
      } : null,
    });
    replace(listArea, table.element);
  }

  async function loadHeader() {
    const started = generation;
    const { node } = await graphql(headerQuery, { id: projectId, timeRange: timeRangeOf(range) }, { signal });
    if (!node) throw new Error(missing);
    if (started !== generation) return node;
    title.textContent = node.name;
    document.title = `${node.name} · Cinder`;
    const cost = node.costSummary;
    replace(stats,
      stat('Traces', format.count(node.traceCount)),
      stat('Latency p50', format.duration(node.latencyP50)),
      stat('Latency p99', format.duration(node.latencyP99)),
      stat('Tokens', format.count(node.tokenCountTotal)),
      stat('Cost', format.cost(cost?.total?.cost), cost ? `prompt ${format.cost(cost.prompt?.cost)} · completion ${format.cost(cost.completion?.cost)}` : null));
    loadSummaries(node.spanAnnotationNames.slice(0, maxSummaries), ++headerGeneration).catch((error) => {
      if (error.name !== 'AbortError') console.warn('annotation summaries failed', error);
    });
    return node;
  }

  let headerGeneration = 0;

  /** The header's annotation figures, after the others (they are not needed to read the page). */
  async function loadSummaries(names, generation) {
    if (!names.length) return;
    const variables = { id: projectId, timeRange: timeRangeOf(range) };
    names.forEach((name, i) => { variables[`n${i}`] = name; });
    const { node } = await graphql(summariesQuery(names.length), variables, { signal });
    if (generation !== headerGeneration) return;  // the header was redrawn meanwhile
    for (const summary of names.map((_, i) => node?.[`s${i}`]).filter(Boolean)) stats.append(summaryStat(summary));
  }

  async function fetchPage(cursor) {
    const variables = { id: projectId, after: cursor, timeRange: timeRangeOf(range) };
    const implicit = view.defaultSortIsImplicit && sort.column === 'startTime' && sort.dir === 'desc';
    if (view.sortColumns && !implicit) variables.sort = { col: view.sortColumns[sort.column], dir: sort.dir };
    if (view.filters) variables.filter = condition();
    const { node } = await graphql(view.query, variables, { signal });
    if (!node) throw new Error(missing);
    return view.connection(node);
  }

  // Each reload starts a generation; answers of an older one (a range changed mid-request) are dropped.
  let generation = 0;

  async function loadPage() {
    more.disabled = true;
    const started = generation;
    const connection = await fetchPage(after);
    if (started !== generation) return;
    const rows = connection.edges.map((edge) => edge.node);
    if (!after && rows.length === 0) {
      const filtered = view.filters && condition();
      const noun = { spans: 'span', traces: 'trace', sessions: 'session' }[tab];
      replace(listArea, filtered ? h('p.empty', `No ${noun} in this time range matches the filter.`)
        : range.id === 'all' ? firstTrace() : h('p.empty', 'Nothing in this time range. Choose a longer one.'));
      table = null;
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
    const started = ++generation;
    if (!view) {
      const panel = h('div.metrics');
      await Promise.all([loadHeader(), showMetrics(panel, { projectId, range, signal })]);
      if (started === generation) replace(listArea, panel);
      return;
    }
    try {
      await Promise.all([loadHeader(), loadPage()]);
    } catch (error) {
      if (isUnknownNode(error)) throw new Error(missing);
      if (view.filters && error.path?.endsWith(`.${tab}`)) {
        // The filter was refused: say why beside it and show no rows.
        showFilterError(error);
        replace(listArea, h('p.empty', `Fix the filter to see ${tab}.`));
        table = null;
        more.hidden = true;
        return;
      }
      throw error;
    }
  }

  /** Live: the newest rows that arrived since, put on top (when the list shows the newest first). */
  async function refreshLive() {
    if (!view) {
      await reload();
      return;
    }
    await loadHeader();
    if (sort.column !== 'startTime' || sort.dir !== 'desc') return;
    const connection = await fetchPage(null);
    const rows = connection.edges.map((edge) => edge.node);
    if (!table) {
      if (rows.length) await reload();
      return;
    }
    const known = new Set(table.rows.map((row) => row.id));
    const fresh = rows.filter((row) => !known.has(row.id));
    if (fresh.length) table.prepend(fresh);
  }

  let timer = 0;
  function schedule() {
    clearTimeout(timer);
    if (!live || signal.aborted) return;
    timer = setTimeout(async () => {
      try {
        await refreshLive();
      } catch (error) {
        if (error.name === 'AbortError') return;
        console.warn('live update failed', error);
      }
      schedule();
    }, liveInterval);
  }
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true });

  more.onclick = () => loadPage().catch((error) => {
    more.disabled = false;
    more.textContent = `Load more (last attempt failed: ${error.message})`;
  });
  await reload();
  schedule();
  return null;
}
