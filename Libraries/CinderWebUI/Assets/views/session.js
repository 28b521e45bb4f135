// A session: the conversation turn by turn — each trace's input and output — with links into each trace.
import { h, replace } from '../dom.js';
import { graphql, isUnknownNode } from '../api.js';
import * as format from '../format.js';
import { copyButton, stat, statusMark } from './span-parts.js';
import { rememberTraces } from './trace-list.js';

const pageSize = 100;

const sessionQuery = `query Session($id: ID!, $after: String) {
  node(id: $id) { ... on ProjectSession {
    id sessionId startTime endTime numTraces
    tokenUsage { prompt completion total }
    project { id name }
    traces(first: ${pageSize}, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { node {
        traceId startTime latencyMs numSpans
        rootSpan { name statusCode input { value } output { value } }
      } }
    }
  } }
}`;

export async function sessionScreen({ outlet, params, signal }) {
  const { projectId, sessionId } = params;
  const base = `/projects/${encodeURIComponent(projectId)}`;
  const turns = h('ol.turns', { 'aria-label': 'Turns' });
  const more = h('button.load-more', { type: 'button', hidden: true }, 'Load more turns');
  const header = h('header.page-header');
  const summary = h('dl.stats');
  replace(outlet, header, summary, turns, more);
  const traceIds = [];
  let after = null;
  let first = true;

  async function load() {
    let data;
    try {
      data = await graphql(sessionQuery, { id: sessionId, after }, { signal });
    } catch (error) {
      throw isUnknownNode(error) ? new Error('This session does not exist in this organization.') : error;
    }
    const session = data.node;
    if (!session) throw new Error('This session does not exist in this organization.');
    if (first) {
      document.title = `Session ${session.sessionId} · Cinder`;
      replace(header, h('div.crumbs',
        h('a', { href: '/projects' }, 'Projects'), h('span', '/'),
        h('a', { href: `${base}/sessions` }, session.project.name), h('span', '/'),
        h('h1', h('span.muted', 'Session '), h('code', session.sessionId), copyButton(session.sessionId, 'Copy id'))));
      replace(summary,
        stat('Turns', format.count(session.numTraces)),
        stat('Tokens', format.count(session.tokenUsage?.total)),
        stat('Duration', format.duration(Date.parse(session.endTime) - Date.parse(session.startTime))),
        stat('Started', format.time(session.startTime)));
      first = false;
    }
    for (const { node: trace } of session.traces.edges) {
      traceIds.push(trace.traceId);
      const root = trace.rootSpan;
      turns.append(h('li.turn',
        h('div.turn-head',
          h('span.muted', format.time(trace.startTime)), h('span.muted', format.duration(trace.latencyMs)),
          root ? statusMark(root.statusCode) : null,
          h('a', {
            href: `${base}/traces/${trace.traceId}`,
            onclick: () => rememberTraces(projectId, traceIds),
          }, `View trace (${format.count(trace.numSpans)} spans)`)),
        h('div.bubble.user', h('div.role', 'Input'), h('pre.text', root?.input?.value ?? '(none)')),
        h('div.bubble.assistant', h('div.role', 'Output'), h('pre.text', root?.output?.value ?? '(none)'))));
    }
    after = session.traces.pageInfo.hasNextPage ? session.traces.pageInfo.endCursor : null;
    more.hidden = !after;
  }

  more.onclick = () => load().catch((error) => { more.textContent = `Load more turns (failed: ${error.message})`; });
  await load();
  return null;
}
