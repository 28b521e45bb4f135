// A trace: its span tree with a waterfall on the trace's time axis (only rows in view are drawn),
// search, collapse/expand and keyboard navigation, and the selected span's details beside it.
import { h, replace } from '../dom.js';
import { graphql, isUnknownNode } from '../api.js';
import * as format from '../format.js';
import { navigate, updateQuery } from '../router.js';
import { SpanTree } from '../span-tree.js';
import { VirtualList } from '../virtual-list.js';
import { copyButton, kindBadge, stat } from './span-parts.js';
import { spanDetails } from './span-details.js';
import { neighbour } from './trace-list.js';

const pageSize = 1000;
const rowHeight = 28;

const traceQuery = `query TraceSpans($id: ID!, $traceId: ID!, $after: String) {
  node(id: $id) { ... on Project {
    name
    trace(traceId: $traceId) {
      id traceId startTime endTime latencyMs numSpans
      spans(first: ${pageSize}, after: $after) {
        pageInfo { hasNextPage endCursor }
        edges { node { id spanId parentId name spanKind statusCode startTime endTime latencyMs tokenCountTotal } }
      }
    }
  } }
}`;

/** /projects/:projectId/spans/:spanId — the span's trace, with the span selected. */
export async function spanScreen({ params, signal }) {
  const { getSpanByOtelId: span } = await graphql(
    'query($spanId: String!) { getSpanByOtelId(spanId: $spanId) { id trace { traceId } } }', { spanId: params.spanId }, { signal });
  if (!span) throw new Error(`No span ${params.spanId} in this organization.`);
  navigate(`/projects/${encodeURIComponent(params.projectId)}/traces/${span.trace.traceId}?selectedSpanNodeId=${encodeURIComponent(span.id)}`,
    { replace: true });
  return null;
}

export async function traceScreen({ outlet, params, query, signal }) {
  const { projectId, traceId } = params;
  const base = `/projects/${encodeURIComponent(projectId)}`;
  const spans = [];
  let tree = new SpanTree();
  const collapsed = new Set();
  let rows = [];
  let selected = query.get('selectedSpanNodeId');
  // Whether the person picked the span (link or click) rather than the screen.
  let chosen = Boolean(selected);
  let matches = [];
  let matchSet = new Set();
  let matchIndex = -1;

  const title = h('h1', h('span.muted', 'Trace '), h('code', traceId), copyButton(traceId, 'Copy id'));
  const summary = h('div.trace-summary');
  const progress = h('span.progress', { role: 'status' });
  const search = h('input.search', {
    type: 'search', placeholder: 'Search spans (name, kind, id)', 'aria-label': 'Search spans',
    oninput: () => runSearch(),
    onkeydown: (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        stepMatch(event.shiftKey ? -1 : 1);
      }
      if (event.key === 'Escape') search.blur();
    },
  });
  const matchCount = h('span.match-count');
  const scroller = h('div.tree-scroll', { tabindex: 0, role: 'tree', 'aria-label': 'Spans' });
  const details = h('section.span-pane', { 'aria-label': 'Span details' });
  const list = new VirtualList(scroller, rowHeight, renderRow);

  replace(outlet,
    h('header.page-header',
      h('div.crumbs', h('a', { href: '/projects' }, 'Projects'), h('span', '/'),
        h('a.project-crumb', { href: `${base}/traces` }, '…'), h('span', '/'), title),
      h('div.toolbar', h('span.hint', 'j / k: next / previous trace · ↑ ↓ ← →: move in the tree'))),
    summary,
    h('div.trace-layout',
      h('section.tree-pane',
        h('div.tree-toolbar', search, matchCount,
          h('button', { type: 'button', onclick: () => { collapsed.clear(); refresh(); } }, 'Expand all'),
          h('button', {
            type: 'button',
            onclick: () => {
              for (const node of tree.nodes.values()) if (node.children.length) collapsed.add(node.span.spanId);
              refresh();
            },
          }, 'Collapse all'),
          progress),
        scroller),
      details));

  function renderRow(node) {
    const span = node.span;
    const isSelected = span.id === selected;
    const offset = ((Date.parse(span.startTime) - tree.start) / tree.duration) * 100;
    const width = Math.max(((span.latencyMs ?? 0) / tree.duration) * 100, 0.3);
    const hasChildren = node.children.length > 0;
    const open = !collapsed.has(span.spanId);
    const isMatch = matches.length > 0 && matchSet.has(span.spanId);
    return h('div.tree-row', {
      role: 'treeitem',
      'aria-selected': isSelected ? 'true' : 'false',
      'aria-expanded': hasChildren ? String(open) : null,
      'aria-level': node.depth + 1,
      class: [isSelected ? 'selected' : '', span.statusCode === 'ERROR' ? 'error' : '', isMatch ? 'match' : ''].join(' '),
      dataset: { spanId: span.spanId },
      onclick: () => {
        chosen = true;
        select(span.id);
      },
    },
    h('div.tree-label', { style: { paddingLeft: `${node.depth * 14 + 4}px` } },
      hasChildren
        ? h('button.toggle', {
          type: 'button',
          'aria-label': open ? 'Collapse' : 'Expand',
          onclick: (event) => {
            event.stopPropagation();
            toggle(span.spanId);
          },
        }, open ? '▾' : '▸')
        : h('span.toggle-space'),
      kindBadge(span.spanKind),
      h('span.span-name', { title: span.name }, span.name),
      node.orphan ? h('span.orphan', { title: 'Its parent span was not received' }, 'parent missing') : null,
      span.statusCode === 'ERROR' ? h('span.error-mark', { title: 'Error' }, '●') : null),
    h('div.tree-time', format.duration(span.latencyMs)),
    h('div.waterfall', h('div.bar', { style: { left: `${offset}%`, width: `${Math.min(width, 100 - offset)}%` } })));
  }

  function refresh() {
    rows = tree.visible(collapsed);
    list.setItems(rows);
  }

  function toggle(spanId, open) {
    const isOpen = !collapsed.has(spanId);
    if (open === isOpen) return;
    if (isOpen) collapsed.add(spanId);
    else collapsed.delete(spanId);
    refresh();
  }

  function select(nodeId, { reveal = true } = {}) {
    selected = nodeId;
    updateQuery({ selectedSpanNodeId: nodeId });
    const node = [...tree.nodes.values()].find((candidate) => candidate.span.id === nodeId);
    if (node) {
      let changed = false;
      for (const ancestor of tree.ancestors(node)) changed = collapsed.delete(ancestor.span.spanId) || changed;
      if (changed) refresh();
    }
    const index = rows.findIndex((row) => row.span.id === nodeId);
    if (reveal && index >= 0) list.reveal(index);
    list.draw(true);
    spanDetails(details, nodeId, { signal, traceStart: tree.start });
  }

  function runSearch() {
    const needle = search.value.trim().toLowerCase();
    matches = needle ? tree.all().filter(({ span }) =>
      span.name.toLowerCase().includes(needle) || span.spanKind?.toLowerCase() === needle || span.spanId.includes(needle)) : [];
    matchSet = new Set(matches.map((node) => node.span.spanId));
    matchIndex = -1;
    matchCount.textContent = needle ? `${matches.length} match${matches.length === 1 ? '' : 'es'}` : '';
    list.draw(true);
  }

  function stepMatch(step) {
    if (!matches.length) return;
    chosen = true;
    matchIndex = (matchIndex + step + matches.length) % matches.length;
    matchCount.textContent = `${matchIndex + 1} of ${matches.length}`;
    select(matches[matchIndex].span.id);
  }

  function onKey(event) {
    if (event.target.closest('input, textarea, select') || event.metaKey || event.ctrlKey || event.altKey) return;
    chosen = true;
    const index = rows.findIndex((row) => row.span.id === selected);
    const node = rows[index];
    switch (event.key) {
      case 'ArrowDown':
        if (index < rows.length - 1) select(rows[index + 1].span.id);
        break;
      case 'ArrowUp':
        if (index > 0) select(rows[index - 1].span.id);
        break;
      case 'ArrowRight':
        if (node?.children.length) {
          if (collapsed.has(node.span.spanId)) toggle(node.span.spanId, true);
          else select(node.children[0].span.id);
        }
        break;
      case 'ArrowLeft':
        if (node && node.children.length && !collapsed.has(node.span.spanId)) toggle(node.span.spanId, false);
        else if (node?.parent) select(node.parent.span.id);
        break;
      case 'j':
      case 'k': {
        const next = neighbour(projectId, traceId, event.key === 'j' ? 1 : -1);
        if (next) navigate(`${base}/traces/${encodeURIComponent(next)}`);
        break;
      }
      case '/':
        search.focus();
        break;
      default:
        return;
    }
    event.preventDefault();
  }
  document.addEventListener('keydown', onKey);
  // The screen may be left while spans are still loading: clean up when it is, not when loading ends.
  signal.addEventListener('abort', () => {
    document.removeEventListener('keydown', onKey);
    list.destroy();
  }, { once: true });

  async function loadAll() {
    let after = null;
    let first = true;
    do {
      const { node } = await graphql(traceQuery, { id: projectId, traceId, after }, { signal });
      const trace = node?.trace;
      if (!trace) throw new Error(`No trace ${traceId} in this project.`);
      if (first) {
        outlet.querySelector('.project-crumb').textContent = node.name;
        document.title = `Trace ${traceId.slice(0, 8)} · ${node.name} · Cinder`;
        replace(summary,
          stat('Latency', format.duration(trace.latencyMs)),
          stat('Spans', format.count(trace.numSpans)),
          stat('Started', format.time(trace.startTime)));
      }
      spans.push(...trace.spans.edges.map((edge) => edge.node));
      tree = SpanTree.of(spans);
      const errors = spans.filter((span) => span.statusCode === 'ERROR').length;
      if (first && errors) summary.append(stat('Errors', format.count(errors)));
      after = trace.spans.pageInfo.hasNextPage ? trace.spans.pageInfo.endCursor : null;
      progress.textContent = after ? `Loaded ${format.count(spans.length)} of ${format.count(trace.numSpans)} spans…` : '';
      refresh();
      if (first) {
        const initial = selected && spans.some((span) => span.id === selected) ? selected : tree.roots[0]?.span.id;
        if (initial) select(initial);
        scroller.focus({ preventScroll: true });
      }
      first = false;
    } while (after && !signal.aborted);
    // Pages arrive newest first: until the last one, the trace's root may not be there. A span the
    // person did not choose gives way to the root once everything is loaded.
    const root = tree.roots[0]?.span.id;
    if (!chosen && root && selected !== root && !signal.aborted) select(root);
  }

  try {
    await loadAll();
  } catch (error) {
    throw isUnknownNode(error) ? new Error('This project does not exist in this organization.') : error;
  }
  return null;
}
