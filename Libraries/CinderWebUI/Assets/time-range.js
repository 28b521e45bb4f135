// The time range every tracing screen shares, kept in the URL (?range=7d) so a link keeps it.
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
];

const defaultPreset = '7d';

export function rangeFromQuery(query) {
  const id = query.get('range');
  return presets.some((preset) => preset.id === id) ? id : defaultPreset;
}

/** The GraphQL TimeRange for a preset, ending now; null for all time. */
export function timeRangeOf(id) {
  const preset = presets.find((candidate) => candidate.id === id);
  if (!preset?.ms) return null;
  const end = new Date();
  return { start: new Date(end.getTime() - preset.ms).toISOString(), end: end.toISOString() };
}

/** A select that writes the choice to the URL and calls onchange(id). */
export function rangePicker(selected, onchange) {
  return h('select.range-picker', {
    'aria-label': 'Time range',
    onchange: (event) => {
      updateQuery({ range: event.target.value === defaultPreset ? null : event.target.value });
      onchange(event.target.value);
    },
  }, presets.map((preset) => h('option', { value: preset.id, selected: preset.id === selected }, preset.label)));
}
