// A chart of values over time bins, drawn as SVG: stacked bars or lines, a value axis, time labels,
// a legend, and the values of the bin under the pointer. Sized to its container and redrawn when that
// changes; colours come from CSS classes (`tone-<name>`), so both themes apply.
import { h, replace, svg } from './dom.js';

const height = 220;
const margin = { top: 12, right: 16, bottom: 26, left: 56 };

/** Up to five round tick values from 0 to at least `max`. */
function ticks(max) {
  if (!(max > 0)) return [0, 1];
  const rough = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough);
  const out = [];
  for (let v = 0; v < max + step / 2 && out.length < 6; v += step) out.push(Number(v.toPrecision(12)));
  if (out[out.length - 1] < max) out.push(out[out.length - 1] + step);
  return out;
}

/** Labels for bin starts: time of day for bins shorter than a day, dates otherwise. */
function binLabel(ms, binMs) {
  const date = new Date(ms);
  if (binMs < 86_400_000) return date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (binMs < 28 * 86_400_000) return date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  return date.toLocaleDateString(undefined, { month: 'short', year: 'numeric' });
}

function binTitle(ms, binMs) {
  const date = new Date(ms);
  return binMs < 86_400_000 ? date.toLocaleString() : date.toLocaleDateString();
}

/**
 * timeChart({ title, times: [ms], series: [{ label, tone, values }], mode: 'stacked' | 'lines', format })
 * Values may be null (no data in that bin): bars leave a gap, lines break.
 */
export function timeChart({ title, times, series, mode = 'stacked', format = String, empty = 'No data in this time range.' }) {
  const plot = h('div.chart-plot');
  const tip = h('div.chart-tip', { role: 'status', hidden: true });
  const legend = h('ul.chart-legend', series.map((s) => h('li', h('span.swatch', { class: `tone-${s.tone}` }), s.label)));
  const figure = h('figure.chart', { 'aria-label': title }, h('figcaption', title), legend, plot, tip);
  const hasData = series.some((s) => s.values.some((v) => v != null && v !== 0));
  if (!hasData) {
    replace(plot, h('p.chart-empty', empty));
    return figure;
  }

  const binMs = times.length > 1 ? times[1] - times[0] : 3_600_000;
  const top = mode === 'stacked'
    ? Math.max(...times.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0)))
    : Math.max(...series.flatMap((s) => s.values.filter((v) => v != null)));
  const axis = ticks(top);
  const ceiling = axis[axis.length - 1] || 1;

  function draw() {
    const width = Math.max(plot.clientWidth, 240);
    const innerW = width - margin.left - margin.right;
    const innerH = height - margin.top - margin.bottom;
    const slot = innerW / Math.max(times.length, 1);
    const x = (i) => margin.left + i * slot;
    const y = (v) => margin.top + innerH - (v / ceiling) * innerH;
    const parts = [];
    for (const t of axis) {
      parts.push(svg('line', { class: 'grid', x1: margin.left, x2: width - margin.right, y1: y(t), y2: y(t) }));
      parts.push(svg('text', { class: 'axis', x: margin.left - 6, y: y(t) + 4, 'text-anchor': 'end' }, format(t)));
    }
    const labelEvery = Math.max(1, Math.ceil(times.length / Math.max(2, Math.floor(innerW / 90))));
    times.forEach((ms, i) => {
      if (i % labelEvery) return;
      parts.push(svg('text', { class: 'axis', x: x(i) + slot / 2, y: height - 8, 'text-anchor': 'middle' }, binLabel(ms, binMs)));
    });
    if (mode === 'stacked') {
      const barW = Math.max(1, slot * 0.72);
      times.forEach((_, i) => {
        let base = 0;
        for (const s of series) {
          const v = s.values[i];
          if (!v) continue;
          parts.push(svg('rect', {
            class: `tone-${s.tone}`, x: x(i) + (slot - barW) / 2, y: y(base + v), width: barW,
            height: Math.max(1, y(base) - y(base + v)),
          }));
          base += v;
        }
      });
    } else {
      for (const s of series) {
        // Consecutive points with values form one path; a null breaks it.
        let d = '';
        s.values.forEach((v, i) => {
          if (v == null) return;
          const joined = i > 0 && s.values[i - 1] != null;
          d += `${joined ? 'L' : 'M'}${(x(i) + slot / 2).toFixed(1)},${y(v).toFixed(1)}`;
          if (!joined && (i + 1 >= s.values.length || s.values[i + 1] == null)) {
            parts.push(svg('circle', { class: `tone-${s.tone}`, cx: x(i) + slot / 2, cy: y(v), r: 2.5 }));
          }
        });
        if (d) parts.push(svg('path', { class: `line tone-${s.tone}`, d }));
      }
    }
    const guide = svg('line', { class: 'guide', y1: margin.top, y2: margin.top + innerH, visibility: 'hidden' });
    parts.push(guide);
    const chart = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title }, parts);
    chart.addEventListener('pointermove', (event) => {
      const bounds = chart.getBoundingClientRect();
      const i = Math.floor((event.clientX - bounds.left - margin.left) / slot);
      if (i < 0 || i >= times.length) return hide();
      const cx = x(i) + slot / 2;
      guide.setAttribute('x1', cx);
      guide.setAttribute('x2', cx);
      guide.setAttribute('visibility', 'visible');
      replace(tip, h('strong', binTitle(times[i], binMs)),
        series.map((s) => h('div', h('span.swatch', { class: `tone-${s.tone}` }), `${s.label}: `,
          s.values[i] == null ? '—' : format(s.values[i]))));
      tip.hidden = false;
      tip.style.left = `${Math.min(cx + 12, width - 180)}px`;
    });
    const hide = () => {
      guide.setAttribute('visibility', 'hidden');
      tip.hidden = true;
    };
    chart.addEventListener('pointerleave', hide);
    replace(plot, chart);
  }

  // Drawn once the figure is in the page (its width is known then), and again when that width changes.
  let drawnWidth = -1;
  const observer = new ResizeObserver(() => {
    if (plot.clientWidth === drawnWidth || !plot.isConnected) return;
    drawnWidth = plot.clientWidth;
    draw();
  });
  observer.observe(plot);
  return figure;
}
