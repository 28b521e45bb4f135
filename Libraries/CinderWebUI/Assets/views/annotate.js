// Annotating a span by hand: one control per annotation config of the organization (categorical labels,
// a continuous score within its bounds, free text), and notes. Writes through Phoenix's REST routes
// (`POST /v1/span_annotations`, `POST /v1/span_notes`); the caller reloads the span afterwards.
import { h } from '../dom.js';
import { rest } from '../api.js';
import * as format from '../format.js';

let configs = null;

/** The organization's annotation configs (asked once per page load). */
async function annotationConfigs() {
  configs ??= (async () => {
    const all = [];
    let cursor = null;
    do {
      const page = await rest('GET', `/v1/annotation_configs?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      all.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor);
    return all;
  })().catch((error) => {
    configs = null;
    throw error;
  });
  return configs;
}

function control(config, current) {
  if (config.type === 'CATEGORICAL') {
    return h('select', { 'aria-label': config.name },
      h('option', { value: '' }, '—'),
      config.values.map((value) => h('option', { value: value.label, selected: current?.label === value.label }, value.label)));
  }
  if (config.type === 'CONTINUOUS') {
    return h('input', {
      type: 'number', step: 'any', 'aria-label': config.name, value: current?.score ?? '',
      min: config.lower_bound ?? null, max: config.upper_bound ?? null,
    });
  }
  return h('input', { type: 'text', 'aria-label': config.name, value: current?.explanation ?? '' });
}

/** What the control holds as an annotation result, or null when it is empty. */
function result(config, input) {
  const raw = input.value.trim();
  if (!raw) return null;
  if (config.type === 'CATEGORICAL') {
    const value = config.values.find((candidate) => candidate.label === raw);
    return { label: raw, score: value?.score ?? null };
  }
  if (config.type === 'CONTINUOUS') {
    const score = Number(raw);
    if (!Number.isFinite(score)) throw new Error(`${config.name}: enter a number`);
    if (config.lower_bound != null && score < config.lower_bound) throw new Error(`${config.name}: at least ${config.lower_bound}`);
    if (config.upper_bound != null && score > config.upper_bound) throw new Error(`${config.name}: at most ${config.upper_bound}`);
    return { score };
  }
  return { explanation: raw };
}

/** The annotate card: controls for each config, notes, and a note form. `onSaved` reloads the span. */
export function annotationCard(span, onSaved) {
  const status = h('p.form-error', { role: 'alert', hidden: true });
  const form = h('div.annotate-form', h('p.muted', 'Loading annotation configs…'));
  const fail = (error) => {
    status.textContent = error.message;
    status.hidden = false;
  };

  annotationConfigs().then((list) => {
    if (list.length === 0) {
      form.replaceChildren(h('p.muted', 'No annotation configs yet: create them with POST /v1/annotation_configs.'));
      return;
    }
    const mine = new Map(span.spanAnnotations.filter((a) => a.annotatorKind === 'HUMAN').map((a) => [a.name, a]));
    form.replaceChildren(...list.map((config) => {
      const input = control(config, mine.get(config.name));
      const save = h('button', {
        type: 'button',
        onclick: async () => {
          status.hidden = true;
          try {
            const value = result(config, input);
            if (!value) return;
            save.disabled = true;
            await rest('POST', '/v1/span_annotations?sync=true', {
              data: [{ span_id: span.spanId, name: config.name, annotator_kind: 'HUMAN', result: value }],
            });
            onSaved();
          } catch (error) {
            save.disabled = false;
            fail(error);
          }
        },
      }, 'Save');
      return h('div.annotate-row', h('label', h('span', config.name), input), save);
    }));
  }).catch(fail);

  const note = h('textarea.code-input', { rows: 2, 'aria-label': 'Note', placeholder: 'Add a note…' });
  const addNote = h('button', {
    type: 'button',
    onclick: async () => {
      const text = note.value.trim();
      if (!text) return;
      status.hidden = true;
      addNote.disabled = true;
      try {
        await rest('POST', '/v1/span_notes', { data: { span_id: span.spanId, note: text } });
        onSaved();
      } catch (error) {
        addNote.disabled = false;
        fail(error);
      }
    },
  }, 'Add note');

  return h('section.card', { 'aria-label': 'Annotate' },
    h('h3', 'Annotate'),
    form,
    h('h3.notes-title', `Notes (${span.spanNotes.length})`),
    h('ul.notes', span.spanNotes.map((n) => h('li', h('span.muted', format.time(n.createdAt)), ' ', n.explanation ?? ''))),
    h('div.note-form', note, addNote),
    status);
}
