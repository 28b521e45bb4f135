// Projects: one row per project with its traffic, latency, tokens and cost over the chosen range.
import { h, replace } from '../dom.js';
import { graphql } from '../api.js';
import * as format from '../format.js';
import { rangeFromQuery, rangePicker, timeRangeOf } from '../time-range.js';
import { updateQuery } from '../router.js';
import { authEnabled } from '../session.js';
import { copyButton } from './span-parts.js';

// Two steps, so the list shows at once: names, activity and trace counts (cheap), then the statistics
// that read every span in the range.
const listQuery = `query Projects($after: String, $timeRange: TimeRange) {
  projects(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id name endTime traceCount(timeRange: $timeRange) } }
  }
}`;

const statisticsQuery = `query ProjectStatistics($after: String, $timeRange: TimeRange) {
  projects(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id
      recordCount(timeRange: $timeRange)
      tokenCountTotal(timeRange: $timeRange)
      latencyP50: latencyMsQuantile(probability: 0.5, timeRange: $timeRange)
      latencyP99: latencyMsQuantile(probability: 0.99, timeRange: $timeRange)
      costSummary(timeRange: $timeRange) { total { cost } }
    } }
  }
}`;

/** Every project of a query (pages of 100 until the last). */
async function allPages(query, timeRange, signal) {
  const projects = [];
  let after = null;
  do {
    const { projects: page } = await graphql(query, { after, timeRange }, { signal });
    projects.push(...page.edges.map((edge) => edge.node));
    after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
  } while (after);
  return projects;
}

export async function projectsScreen({ outlet, query: params, signal }) {
  let range = rangeFromQuery(params);
  let search = params.get('q') ?? '';
  let projects = [];
  const body = h('div.table-wrap');
  const searchBox = h('input.search', {
    type: 'search', placeholder: 'Search projects', value: search, 'aria-label': 'Search projects',
    oninput: () => {
      search = searchBox.value;
      updateQuery({ q: search });
      draw();
    },
  });
  const header = h('header.page-header',
    h('h1', 'Projects'),
    h('div.toolbar', searchBox, rangePicker(range, (id) => {
      range = id;
      load();
    })));

  function draw() {
    // Until anything has been received (the default project exists from the start), say how to send it.
    const nothingYet = projects.every((project) => !project.endTime);
    const needle = search.trim().toLowerCase();
    const shown = projects.filter((project) => project.name.toLowerCase().includes(needle));
    replace(body, nothingYet ? firstTrace() : null, h('table.data', { 'aria-label': 'Projects' },
      h('thead', h('tr', ['Name', 'Traces', 'Spans', 'Latency p50', 'Latency p99', 'Tokens', 'Cost', 'Last activity']
        .map((label, i) => h('th', { class: i > 0 && i < 7 ? 'num' : null }, label)))),
      h('tbody', shown.map((project) => h('tr',
        h('td', h('a.project-link', { href: `/projects/${encodeURIComponent(project.id)}/spans` }, project.name)),
        h('td.num', format.count(project.traceCount)),
        h('td.num', pending(project, 'recordCount') ?? format.count(project.recordCount)),
        h('td.num', pending(project, 'latencyP50') ?? format.duration(project.latencyP50)),
        h('td.num', pending(project, 'latencyP99') ?? format.duration(project.latencyP99)),
        h('td.num', pending(project, 'tokenCountTotal') ?? format.count(project.tokenCountTotal)),
        h('td.num', pending(project, 'costSummary') ?? format.cost(project.costSummary?.total?.cost)),
        h('td', { title: project.endTime ?? '' }, format.ago(project.endTime)))))),
    shown.length === 0 ? h('p.empty', `No project matches “${search}”.`) : null);
  }

  let generation = 0;
  async function load() {
    const current = ++generation;
    const timeRange = timeRangeOf(range);
    body.setAttribute('aria-busy', 'true');
    projects = await allPages(listQuery, timeRange, signal);
    draw();
    const statistics = new Map((await allPages(statisticsQuery, timeRange, signal)).map((row) => [row.id, row]));
    if (current !== generation) return; // a newer range was chosen meanwhile
    projects = projects.map((project) => ({ ...project, ...statistics.get(project.id) }));
    body.removeAttribute('aria-busy');
    draw();
  }

  replace(outlet, header, body);
  await load();
  return null;
}

/** A placeholder while a statistic is still being computed. */
function pending(project, field) {
  return field in project ? null : h('span.muted', { title: 'Loading' }, '…');
}

/** What to do when nothing has been sent yet: the endpoint and the code, ready to copy. */
export function firstTrace() {
  const endpoint = `${location.origin}/v1/traces`;
  const key = authEnabled ? ', api_key="<your API key>"' : '';
  const snippet = `# pip install arize-phoenix-otel openinference-instrumentation-openai
from phoenix.otel import register

tracer_provider = register(
    project_name="my-app",
    endpoint="${endpoint}"${key},
    auto_instrument=True,
)`;
  return h('section.empty-state',
    h('h2', 'Send your first trace'),
    h('p', 'Point any OpenTelemetry exporter at ', h('code', endpoint),
      ' (OTLP over HTTP, protobuf or JSON; gRPC on the collector port), or use Phoenix\'s register():'),
    h('pre.code', h('code', snippet)),
    copyButton(snippet, 'Copy', 'Copy the snippet'));
}
