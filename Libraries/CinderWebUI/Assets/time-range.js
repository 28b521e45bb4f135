// The time range every tracing screen shares, kept in the URL (?range=7d, or ?range=custom&start=…&end=…)
// so a link keeps it.
import { h } from './dom.js';
import { updateQuery } from './router.js';

export const presets = [
  { id: '15m', label: 'Last 15 min', ms: 15 * 60_000 },
  { id: '1h', label: 'Last hour', ms: 3_600_000 },
  { id: '12h', label: 'Last 12 hours', ms: 12 * 3_600_000 },
  { id: '1d', label: 'Last day', ms: 86_400_000 },
  { id: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { id: '30d', label: 'Last 30 days', ms: 30 * 86_400_000 },
  { id: 'all', label: 'All time', ms: null },
  { id: 'custom', label: 'Custom range…', ms: null },
];

const defaultPreset = '7d';

function validDate(text) {
  return text && !Number.isNaN(Date.parse(text)) ? new Date(text).toISOString() : null;
}

/** { id, start?, end? } from the URL; an unknown or incomplete range is the default. */
export function rangeFromQuery(query) {
  const id = query.get('range');
  if (id === 'custom') {
    const start = validDate(query.get('start'));
    const end = validDate(query.get('end'));
    if (start || end) return { id, start, end };
  }
  return { id: presets.some((preset) => preset.id === id && id !== 'custom') ? id : defaultPreset };
}

/** The GraphQL TimeRange of a range (presets end now); null for all time. */
export function timeRangeOf(range) {
  if (range.id === 'custom') return { start: range.start, end: range.end };
  const preset = presets.find((candidate) => candidate.id === range.id);
  if (!preset?.ms) return null;
  const end = new Date();
  return { start: new Date(end.getTime() - preset.ms).toISOString(), end: end.toISOString() };
}

/** The value a datetime-local input shows for an ISO time, in the person's time zone. */
function localInput(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** A preset select (and, for a custom range, start and end fields) that writes the URL and calls onchange(range). */
export function rangePicker(range, onchange) {
  const start = h('input', { type: 'datetime-local', 'aria-label': 'From', value: localInput(range.start) });
  const end = h('input', { type: 'datetime-local', 'aria-label': 'To', value: localInput(range.end) });
  const custom = h('span.custom-range', { hidden: range.id !== 'custom' }, start, '–', end,
    h('button', {
      type: 'button',
      onclick: () => {
        const chosen = { id: 'custom', start: validDate(start.value), end: validDate(end.value) };
        if (!chosen.start && !chosen.end) return;
        updateQuery({ range: 'custom', start: chosen.start, end: chosen.end });
        onchange(chosen);
      },
    }, 'Apply'));
  const select = h('select.range-picker', {
    'aria-label': 'Time range',
    onchange: () => {
      custom.hidden = select.value !== 'custom';
      if (select.value === 'custom') return;
      updateQuery({ range: select.value === defaultPreset ? null : select.value, start: null, end: null });
      onchange({ id: select.value });
    },
  }, presets.map((preset) => h('option', { value: preset.id, selected: preset.id === range.id }, preset.label)));
  return h('span.range', select, custom);
}
