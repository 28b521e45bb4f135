// The selected span: what it did, shown by kind (LLM messages, retrieved documents, tool calls,
// embeddings), exceptions with their stack traces, annotations, every attribute and the raw span.
import { h, replace } from '../dom.js';
import { graphql } from '../api.js';
import * as format from '../format.js';
import { copyButton, jsonTree, kindBadge, statusMark, textOrJSON } from './span-parts.js';
import { annotationCard } from './annotate.js';

const detailsQuery = `query SpanDetails($id: ID!) {
  node(id: $id) { ... on Span {
    id spanId parentId name spanKind statusCode statusMessage startTime endTime latencyMs
    tokenCountPrompt tokenCountCompletion tokenCountTotal
    attributes
    input { mimeType value } output { mimeType value }
    events { name message timestamp attributes }
    spanAnnotations { id name annotatorKind label score explanation }
    spanNotes { id explanation createdAt }
    trace { traceId }
  } }
}`;

let inFlight = null;

export async function spanDetails(pane, nodeId, { signal }) {
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  signal.addEventListener('abort', () => controller.abort(), { once: true });
  pane.setAttribute('aria-busy', 'true');
  try {
    const { node: span } = await graphql(detailsQuery, { id: nodeId }, { signal: controller.signal });
    if (!span) {
      replace(pane, h('p.empty', 'This span no longer exists.'));
      return;
    }
    render(pane, span, () => spanDetails(pane, nodeId, { signal }));
  } catch (error) {
    if (error.name !== 'AbortError') replace(pane, h('p.form-error', { role: 'alert' }, error.message));
  } finally {
    if (inFlight === controller) pane.removeAttribute('aria-busy');
  }
}

function parseAttributes(text) {
  if (!text) return {};
  if (typeof text === 'object') return text;
  try {
    return JSON.parse(text) ?? {};
  } catch {
    return {};
  }
}

function render(pane, span, reload) {
  const attributes = parseAttributes(span.attributes);
  const sections = {
    Info: () => info(span, attributes),
    Annotate: () => annotationCard(span, reload),
    Attributes: () => h('div.json-root', jsonTree(attributes, 3)),
    Events: () => events(span.events),
    Raw: () => h('div',
      h('div.section-tools', copyButton(JSON.stringify({ ...span, attributes }, null, 2), 'Copy JSON')),
      h('pre.code', JSON.stringify({ ...span, attributes }, null, 2))),
  };
  const body = h('div.pane-body');
  const tabs = h('nav.tabs.small', { role: 'tablist' });
  const show = (name) => {
    for (const tab of tabs.children) tab.setAttribute('aria-selected', tab.dataset.tab === name ? 'true' : 'false');
    replace(body, sections[name]());
  };
  for (const name of Object.keys(sections)) {
    const label = name === 'Events' && span.events.length ? `Events (${span.events.length})` : name;
    tabs.append(h('button', { type: 'button', role: 'tab', dataset: { tab: name }, onclick: () => show(name) }, label));
  }
  replace(pane,
    h('header.span-header',
      h('div.span-title', kindBadge(span.spanKind), h('h2', span.name), statusMark(span.statusCode)),
      h('dl.span-facts',
        fact('Span id', h('span', h('code', span.spanId), copyButton(span.spanId))),
        fact('Latency', format.duration(span.latencyMs)),
        fact('Start', format.time(span.startTime)),
        span.tokenCountTotal ? fact('Tokens', `${format.count(span.tokenCountTotal)} (${format.count(span.tokenCountPrompt)} prompt, ${format.count(span.tokenCountCompletion)} completion)`) : null),
      span.statusCode === 'ERROR' && span.statusMessage ? h('p.status-message', span.statusMessage) : null),
    tabs, body);
  show('Info');
}

function fact(label, value) {
  return h('div', h('dt', label), h('dd', value));
}

function card(title, ...content) {
  return h('section.card', h('h3', title), ...content);
}

/** What the span did, by kind; always the exceptions and annotations. */
function info(span, attributes) {
  const kind = String(span.spanKind ?? '').toUpperCase();
  const parts = [];
  const exceptions = span.events.filter((event) => event.name === 'exception');
  for (const exception of exceptions) parts.push(exceptionCard(exception));
  if (kind === 'LLM') parts.push(...llm(attributes));
  else if (kind === 'RETRIEVER') parts.push(documentsCard('Retrieved documents', attributes.retrieval?.documents));
  else if (kind === 'RERANKER') {
    parts.push(h('p.muted', `Model: ${attributes.reranker?.model_name ?? 'unknown'} · query: ${attributes.reranker?.query ?? ''}`));
    parts.push(documentsCard('Input documents', attributes.reranker?.input_documents));
    parts.push(documentsCard('Output documents', attributes.reranker?.output_documents));
  } else if (kind === 'TOOL' && attributes.tool) {
    const tool = attributes.tool;
    parts.push(card(`Tool ${tool.name ?? ''}`,
      tool.description ? h('p', tool.description) : null,
      tool.parameters ? textOrJSON(typeof tool.parameters === 'string' ? tool.parameters : JSON.stringify(tool.parameters)) : null));
  } else if (kind === 'EMBEDDING') {
    const embeddings = attributes.embedding?.embeddings ?? [];
    parts.push(card(`Embeddings (${embeddings.length})${attributes.embedding?.model_name ? ` · ${attributes.embedding.model_name}` : ''}`,
      h('ol.documents', embeddings.map((item) => h('li', h('pre.text', item.embedding?.text ?? '(no text)'))))));
  }
  // Input and output, unless absent or already shown as messages.
  if (span.input?.value && !(kind === 'LLM' && attributes.llm?.input_messages)) parts.push(card('Input', textOrJSON(span.input.value)));
  if (span.output?.value && !(kind === 'LLM' && attributes.llm?.output_messages)) parts.push(card('Output', textOrJSON(span.output.value)));
  if (parts.length === 0) parts.push(h('p.empty', 'This span has no input, output or exception. Its attributes are under Attributes.'));
  if (span.spanAnnotations.length) parts.push(annotationsCard(span.spanAnnotations));
  if (attributes.metadata) parts.push(card('Metadata', h('div.json-root', jsonTree(attributes.metadata))));
  return h('div.info', parts.filter(Boolean));
}

function llm(attributes) {
  const model = attributes.llm ?? {};
  const parts = [];
  const facts = [model.model_name && `Model ${model.model_name}`, model.provider && `provider ${model.provider}`].filter(Boolean);
  if (facts.length) parts.push(h('p.muted', facts.join(' · ')));
  if (model.prompt_template?.template) {
    parts.push(card('Prompt template', h('pre.text', model.prompt_template.template),
      model.prompt_template.variables ? textOrJSON(typeof model.prompt_template.variables === 'string'
        ? model.prompt_template.variables : JSON.stringify(model.prompt_template.variables)) : null));
  }
  if (model.input_messages) parts.push(card('Input messages', messages(model.input_messages)));
  if (model.output_messages) parts.push(card('Output messages', messages(model.output_messages)));
  if (model.invocation_parameters) {
    parts.push(card('Invocation parameters', textOrJSON(typeof model.invocation_parameters === 'string'
      ? model.invocation_parameters : JSON.stringify(model.invocation_parameters))));
  }
  if (model.tools) {
    parts.push(card(`Tools (${model.tools.length})`, h('div.json-root', jsonTree(model.tools.map((tool) => {
      const schema = tool.tool?.json_schema;
      try {
        return typeof schema === 'string' ? JSON.parse(schema) : schema ?? tool;
      } catch {
        return schema;
      }
    }), 1))));
  }
  return parts;
}

function messageText(message) {
  if (message.content != null) return String(message.content);
  if (Array.isArray(message.contents)) {
    return message.contents.map((part) => part.message_content?.text ?? '').filter(Boolean).join('\n');
  }
  return '';
}

function messages(list) {
  return h('ol.messages', (Array.isArray(list) ? list : []).map((item) => {
    const message = item.message ?? item;
    const role = message.role ?? 'unknown';
    const calls = message.tool_calls ?? [];
    return h('li.message', { dataset: { role } },
      h('div.role', role),
      h('pre.text', messageText(message)),
      calls.map((call) => h('div.tool-call',
        h('span.muted', `tool call ${call.tool_call?.function?.name ?? ''}`),
        textOrJSON(call.tool_call?.function?.arguments))));
  }));
}

function documentsCard(title, documents) {
  const list = Array.isArray(documents) ? documents : [];
  return card(`${title} (${list.length})`, h('ol.documents', list.map((item) => {
    const doc = item.document ?? item;
    return h('li',
      h('div.doc-head', doc.id != null ? h('code', String(doc.id)) : null, doc.score != null ? h('span.score', `score ${Number(doc.score).toFixed(3)}`) : null),
      h('pre.text', doc.content ?? ''),
      doc.metadata ? h('div.json-root', jsonTree(doc.metadata, 0)) : null);
  })));
}

function exceptionCard(event) {
  const attributes = parseAttributes(event.attributes);
  // Event attributes arrive flat (`exception.type`), as OpenTelemetry names them; nested is accepted too.
  const field = (name) => attributes[`exception.${name}`] ?? attributes.exception?.[name];
  return h('section.card.exception',
    h('h3.exception-title', `${field('type') ?? 'Exception'} at ${format.time(event.timestamp)}`),
    h('p', field('message') ?? event.message ?? ''),
    field('stacktrace') ? h('pre.text.stacktrace', field('stacktrace')) : null);
}

function annotationsCard(annotations) {
  return card('Annotations', h('table.data.compact',
    h('thead', h('tr', ['Name', 'Label', 'Score', 'Annotator', 'Explanation'].map((label) => h('th', label)))),
    h('tbody', annotations.map((a) => h('tr',
      h('td', a.name), h('td', a.label ?? ''), h('td.num', a.score != null ? Number(a.score).toFixed(3) : ''),
      h('td', a.annotatorKind ?? ''), h('td', a.explanation ?? ''))))));
}

function events(list) {
  if (!list.length) return h('p.empty', 'No events.');
  return h('ol.events', list.map((event) => h('li', { class: event.name === 'exception' ? 'exception' : null },
    h('div.event-head', h('strong', event.name), h('span.muted', format.time(event.timestamp))),
    event.message ? h('p', event.message) : null,
    h('div.json-root', jsonTree(parseAttributes(event.attributes), 1)))));
}
