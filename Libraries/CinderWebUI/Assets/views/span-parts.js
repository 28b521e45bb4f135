// Small pieces the tracing views share: kind badges, status marks, statistics, copy buttons, a JSON tree.
import { h } from '../dom.js';

const kindLabels = {
  LLM: 'LLM', CHAIN: 'Chain', TOOL: 'Tool', RETRIEVER: 'Retriever', EMBEDDING: 'Embedding', AGENT: 'Agent',
  RERANKER: 'Reranker', EVALUATOR: 'Evaluator', GUARDRAIL: 'Guardrail', PROMPT: 'Prompt', DECISION: 'Decision', UNKNOWN: 'Unknown',
};

export function kindBadge(kind) {
  if (!kind) return '';
  const name = String(kind).toUpperCase();
  return h('span.kind', { dataset: { kind: name.toLowerCase() } }, kindLabels[name] ?? name);
}

export function statusMark(code) {
  if (!code) return '';
  const name = String(code).toUpperCase();
  const label = name === 'ERROR' ? 'Error' : name === 'OK' ? 'OK' : 'Unset';
  return h('span.status', { dataset: { status: name.toLowerCase() }, title: label }, label);
}

/** One figure of a header (`Traces 2`); `detail` shows on hover. */
export function stat(label, value, detail) {
  return h('div.stat', { title: detail ?? '' }, h('dt', label), h('dd', value));
}

export function copyButton(text, label = 'Copy', title = `Copy ${text}`) {
  const button = h('button.copy', {
    type: 'button',
    title,
    onclick: async (event) => {
      event.stopPropagation();
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = 'Copied';
      } catch {
        button.textContent = 'Copy failed';
      }
      setTimeout(() => { button.textContent = label; }, 1200);
    },
  }, label);
  return button;
}

/** A collapsible tree of a JSON value; objects open to `openDepth` levels. */
export function jsonTree(value, openDepth = 2, depth = 0) {
  if (value === null) return h('span.json-null', 'null');
  if (Array.isArray(value) || typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    const summary = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
    if (entries.length === 0) return h('span.json-punct', Array.isArray(value) ? '[]' : '{}');
    return h('details.json', { open: depth < openDepth },
      h('summary', h('span.json-punct', summary)),
      h('ul', entries.map(([key, child]) => h('li',
        h('span.json-key', Array.isArray(value) ? `${key}` : JSON.stringify(key)), h('span.json-punct', ': '),
        jsonTree(child, openDepth, depth + 1)))));
  }
  if (typeof value === 'string') return h('span.json-string', JSON.stringify(value));
  return h('span.json-number', String(value));
}

/** Text that may hold JSON: shown as a tree when it parses, else as text. */
export function textOrJSON(text) {
  if (text == null || text === '') return h('span.muted', '(empty)');
  const trimmed = String(text).trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return h('div.json-root', jsonTree(JSON.parse(trimmed)));
    } catch {
      // not JSON after all
    }
  }
  return h('pre.text', String(text));
}
