// /graphql in a browser: write a query, run it (Ctrl/⌘+Enter), read the answer, and browse the
// schema from introspection. Served with the rest of the UI, so it works offline.
import { h, replace } from '../dom.js';
import { graphql, APIError } from '../api.js';

const storageKey = 'cinder-graphql-query';
const example = `# Ctrl+Enter (⌘+Enter) runs the query.
query Projects {
  projects(first: 10) {
    edges { node { id name traceCount } }
  }
}
`;

const introspection = `query Schema {
  __schema {
    queryType { name } mutationType { name }
    types {
      name kind description
      fields { name description args { name type { ...TypeName } } type { ...TypeName } }
      inputFields { name type { ...TypeName } }
      enumValues { name }
    }
  }
}
fragment TypeName on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }`;

function typeName(type) {
  if (!type) return '';
  if (type.kind === 'NON_NULL') return `${typeName(type.ofType)}!`;
  if (type.kind === 'LIST') return `[${typeName(type.ofType)}]`;
  return type.name;
}

function namedType(type) {
  let at = type;
  while (at?.ofType) at = at.ofType;
  return at?.name;
}

export async function graphqlExplorerScreen({ outlet, signal }) {
  document.title = 'GraphQL · Cinder';
  const query = h('textarea.code-input', { 'aria-label': 'Query', spellcheck: false, rows: 18 });
  query.value = localStorage.getItem(storageKey) ?? example;
  const variables = h('textarea.code-input', { 'aria-label': 'Variables', spellcheck: false, rows: 4, placeholder: '{ }' });
  const result = h('pre.code.result', { 'aria-label': 'Result', role: 'region' });
  const run = h('button.primary', { type: 'button' }, 'Run');
  const docs = h('aside.schema', { 'aria-label': 'Schema' }, h('p.muted', 'Loading the schema…'));
  let types = new Map();

  async function execute() {
    localStorage.setItem(storageKey, query.value);
    let vars = {};
    if (variables.value.trim()) {
      try {
        vars = JSON.parse(variables.value);
      } catch (error) {
        result.textContent = `Variables are not JSON: ${error.message}`;
        return;
      }
    }
    run.disabled = true;
    result.textContent = 'Running…';
    try {
      // The raw answer, errors included: that is what a developer here wants to see.
      const response = await fetch('/graphql', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ query: query.value, variables: vars }),
        signal,
      });
      const text = await response.text();
      try {
        result.textContent = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        result.textContent = `${response.status} ${text}`;
      }
    } catch (error) {
      if (error.name !== 'AbortError') result.textContent = error.message;
    } finally {
      run.disabled = false;
    }
  }

  function showType(name) {
    const type = types.get(name);
    if (!type) return;
    const link = (t) => {
      const target = namedType(t);
      return types.get(target)?.fields || types.get(target)?.inputFields || types.get(target)?.enumValues
        ? h('a', { href: '#', onclick: (event) => { event.preventDefault(); showType(target); } }, typeName(t))
        : h('span', typeName(t));
    };
    replace(docs,
      h('h2', type.name), type.description ? h('p.muted', type.description) : null,
      h('ul.schema-fields',
        (type.fields ?? []).map((field) => h('li',
          h('strong', field.name),
          field.args.length ? ['(', field.args.map((arg, i) => [i ? ', ' : '', `${arg.name}: `, link(arg.type)]), ')'] : null,
          ': ', link(field.type),
          field.description ? h('div.muted', field.description) : null)),
        (type.inputFields ?? []).map((field) => h('li', h('strong', field.name), ': ', link(field.type))),
        (type.enumValues ?? []).map((value) => h('li', h('code', value.name)))),
      h('button', { type: 'button', onclick: showRoots }, 'Back to Query'));
  }

  let roots = [];
  function showRoots() {
    replace(docs, h('h2', 'Schema'), h('ul.schema-fields', roots.map((name) => h('li',
      h('a', { href: '#', onclick: (event) => { event.preventDefault(); showType(name); } }, name)))));
  }

  run.onclick = execute;
  const onKey = (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      execute();
    }
  };
  query.addEventListener('keydown', onKey);
  variables.addEventListener('keydown', onKey);

  replace(outlet,
    h('header.page-header', h('h1', 'GraphQL'), h('div.toolbar', h('span.hint', 'POST /graphql · Ctrl+Enter runs'), run)),
    h('div.explorer', h('div.explorer-editor', query, h('label.muted', 'Variables (JSON)', variables)), result, docs));

  try {
    const { __schema: schema } = await graphql(introspection, {}, { signal });
    types = new Map(schema.types.map((type) => [type.name, type]));
    roots = [schema.queryType?.name, schema.mutationType?.name].filter(Boolean);
    showRoots();
  } catch (error) {
    if (error.name === 'AbortError') return null;
    if (!(error instanceof APIError)) throw error;
    replace(docs, h('p.form-error', `The schema could not be read: ${error.message}`));
  }
  return null;
}
