// Completion for a filter box: as a person types, the names the server says the filter can use (its
// vocabulary), and after `==`/`in` the values a name takes; an empty box offers example conditions.
// Arrow keys move, Enter or Tab accepts, Escape closes. Accepting a suggestion never submits the box:
// the box's own Enter handler sees `defaultPrevented`.
import { h, replace } from './dom.js';

const maxShown = 12;
let lists = 0;

/** The name being typed just before the caret: letters, digits, `_`, `.`, and `['…']` parts. */
const namePrefix = /[A-Za-z_][\w.]*(?:\[['"][^'"\]]*['"]?\]?\.?\w*)*$|\[?$/;
/** `<name> == '<prefix>` or `<name> in ['…', '<prefix>` just before the caret. */
const valuePrefix = /([A-Za-z_][\w.]*)\s*(?:==|!=|in\s*\[(?:\s*'[^']*'\s*,)*)\s*'([^']*)$/;

const keywords = new Set(['and', 'or', 'not', 'in', 'is', 'None', 'True', 'False']);

/** Example conditions of the span language, with one on an annotation the project has. */
export function spanSnippets(terms) {
  const annotation = terms.find((t) => t.category === 'annotation' && t.type === 'number');
  return [
    { insert: "span_kind == 'LLM'", note: 'LLM calls' },
    { insert: "status_code == 'ERROR'", note: 'spans that failed' },
    { insert: 'latency_ms >= 10_000', note: 'slower than 10 s' },
    { insert: "'text' in input.value", note: 'input containing a text' },
    { insert: 'parent_id is None', note: 'root spans' },
    annotation ? { insert: `${annotation.name} < 0.5`, note: 'a low annotation score' } : null,
  ].filter(Boolean);
}

/** Example conditions of the session language. */
export function sessionSnippets(terms) {
  const annotation = terms.find((t) => t.category === 'annotation' && t.type === 'number');
  return [
    { insert: 'num_traces >= 5', note: 'long conversations' },
    { insert: 'num_traces_with_error > 0', note: 'sessions with a failure' },
    { insert: "'refund' in any_input", note: 'any input mentioning a text' },
    { insert: 'total_cost > 1', note: 'costlier than 1' },
    { insert: "user.id == 'user-1'", note: "one user's sessions" },
    annotation ? { insert: `${annotation.name} < 0.5`, note: 'a low annotation score' } : null,
  ].filter(Boolean);
}

/**
 * attachCompletion(input, { loadTerms, snippets }) — `loadTerms()` resolves to FilterVocabularyTerm objects;
 * it is called once, on first focus. `snippets(terms)` gives the examples an empty box offers. Returns the
 * listbox element to place after the input.
 */
export function attachCompletion(input, { loadTerms, snippets = spanSnippets }) {
  const id = `filter-completions-${++lists}`;
  const list = h('ul.completions', { id, role: 'listbox', 'aria-label': 'Suggestions', hidden: true });
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', id);
  input.setAttribute('aria-expanded', 'false');
  let terms = null;
  let loading = null;
  let items = [];
  let active = -1;

  function ensureTerms() {
    loading ??= loadTerms().then((loaded) => { terms = loaded; }, () => { terms = []; });
    return loading;
  }

  /** Suggestions for the text before the caret: [{ label, insert, start, note, type }]. */
  function suggestionsAt(text) {
    if (!terms) return [];
    if (!text.trim()) return snippets(terms).map((s) => ({ label: s.insert, insert: s.insert, start: 0, note: s.note }));
    const value = valuePrefix.exec(text);
    if (value) {
      const term = terms.find((t) => t.name === value[1]);
      const prefix = value[2].toLowerCase();
      const start = text.length - value[2].length - 1;
      return (term?.values ?? []).filter((v) => v.toLowerCase().startsWith(prefix))
        .map((v) => ({ label: `'${v}'`, insert: `'${v}'`, start, note: term.name }));
    }
    const typed = namePrefix.exec(text)?.[0] ?? '';
    if (!typed || keywords.has(typed)) return [];
    const lower = typed.toLowerCase();
    const starts = terms.filter((t) => t.name.toLowerCase().startsWith(lower));
    const contains = terms.filter((t) => !t.name.toLowerCase().startsWith(lower) && t.name.toLowerCase().includes(lower));
    return [...starts, ...contains]
      .filter((t) => t.name !== typed)
      .map((t) => ({ label: t.name, insert: t.name, start: text.length - typed.length, note: t.description, type: t.type }));
  }

  function render() {
    replace(list, items.slice(0, maxShown).map((item, i) => h('li', {
      id: `${id}-${i}`,
      role: 'option',
      'aria-selected': i === active ? 'true' : 'false',
      class: i === active ? 'active' : null,
      // mousedown, not click: the box keeps focus, so the caret stays where it was.
      onmousedown: (event) => {
        event.preventDefault();
        accept(i);
      },
    }, h('code', item.label), item.type ? h('span.term-type', item.type) : null, h('span.muted', item.note ?? ''))));
    const open = items.length > 0;
    list.hidden = !open;
    input.setAttribute('aria-expanded', String(open));
    if (active >= 0 && open) input.setAttribute('aria-activedescendant', `${id}-${active}`);
    else input.removeAttribute('aria-activedescendant');
  }

  function update() {
    if (document.activeElement !== input) return close();
    const caret = input.selectionStart ?? input.value.length;
    const before = input.value.slice(0, caret);
    items = suggestionsAt(before);
    // Examples wait to be chosen with the arrows: Enter in an empty box clears the filter.
    active = items.length && before.trim() ? 0 : -1;
    render();
  }

  function close() {
    items = [];
    active = -1;
    render();
  }

  function accept(index) {
    const item = items[index];
    if (!item) return;
    const caret = input.selectionStart ?? input.value.length;
    const before = input.value.slice(0, item.start);
    const after = input.value.slice(caret);
    const spacer = after.startsWith(' ') || item.insert.endsWith("'") && after.startsWith("'") ? '' : ' ';
    const rest = item.insert.endsWith("'") && after.startsWith("'") ? after.slice(1) : after;
    input.value = `${before}${item.insert}${spacer}${rest}`;
    const position = before.length + item.insert.length + spacer.length;
    input.setSelectionRange(position, position);
    close();
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }

  input.addEventListener('focus', () => ensureTerms().then(update));
  input.addEventListener('input', update);
  input.addEventListener('click', update);
  input.addEventListener('blur', close);
  input.addEventListener('keydown', (event) => {
    if (list.hidden) {
      if (event.key === 'ArrowDown') update();
      return;
    }
    const shown = Math.min(items.length, maxShown);
    if (event.key === 'Enter' && active < 0) {
      close();  // nothing chosen: the box is being submitted, and the list must not cover the results
    } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      active = (active + (event.key === 'ArrowDown' ? 1 : shown - 1)) % shown;
      render();
    } else if ((event.key === 'Enter' || event.key === 'Tab') && active >= 0) {
      event.preventDefault();
      accept(active);
    } else if (event.key === 'Escape') {
      event.preventDefault();
      close();
    }
  });
  return list;
}
