// A trace's spans as a tree: parents before children, children by start time. Spans whose parent
// never arrived are shown as roots, marked, rather than dropped.

/** Microseconds since the epoch of an ISO time: spans of one trace often start within a millisecond. */
export function micros(iso) {
  const fraction = /\.(\d+)/.exec(iso)?.[1] ?? '';
  return Date.parse(iso) * 1000 + Number(fraction.padEnd(6, '0').slice(3, 6));
}

export class SpanTree {
  constructor() {
    this.nodes = new Map(); // spanId → node
    this.roots = [];
    this.start = Infinity;
    this.end = -Infinity;
  }

  /** Builds the tree from every span of the trace (call again with all spans when more arrive). */
  static of(spans) {
    const tree = new SpanTree();
    for (const [order, span] of spans.entries()) {
      tree.nodes.set(span.spanId, { span, children: [], parent: null, depth: 0, orphan: false, start: micros(span.startTime), order });
      const start = Date.parse(span.startTime);
      const end = span.endTime ? Date.parse(span.endTime) : start + (span.latencyMs ?? 0);
      if (start < tree.start) tree.start = start;
      if (end > tree.end) tree.end = end;
    }
    for (const node of tree.nodes.values()) {
      const parent = node.span.parentId ? tree.nodes.get(node.span.parentId) : null;
      if (parent) {
        node.parent = parent;
        parent.children.push(node);
      } else {
        node.orphan = Boolean(node.span.parentId);
        tree.roots.push(node);
      }
    }
    const byStart = (a, b) => a.start - b.start || a.order - b.order;
    tree.roots.sort(byStart);
    // Depths and child order without recursion: a 10,000-span chain must not overflow the stack.
    const stack = [...tree.roots];
    while (stack.length) {
      const node = stack.pop();
      node.children.sort(byStart);
      for (const child of node.children) {
        child.depth = node.depth + 1;
        stack.push(child);
      }
    }
    return tree;
  }

  get duration() {
    return Math.max(this.end - this.start, 1);
  }

  /** The rows on screen: a depth-first walk that skips the children of collapsed spans. */
  visible(collapsed) {
    const rows = [];
    const stack = [...this.roots].reverse();
    while (stack.length) {
      const node = stack.pop();
      rows.push(node);
      if (!collapsed.has(node.span.spanId)) {
        for (let i = node.children.length - 1; i >= 0; i -= 1) stack.push(node.children[i]);
      }
    }
    return rows;
  }

  /** Every span in tree order (for search). */
  all() {
    return this.visible(new Set());
  }

  ancestors(node) {
    const out = [];
    for (let at = node.parent; at; at = at.parent) out.push(at);
    return out;
  }
}
