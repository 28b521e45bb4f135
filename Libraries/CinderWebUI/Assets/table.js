// A data table with a column chooser (remembered per table), row selection (shift-click for a
// range) and CSV/JSON export of the selection. Rows arrive page by page; the caller appends them.
import { h, replace } from './dom.js';
import { download, toCSV } from './export.js';

/**
 * columns: [{ id, label, value(row), render?(row), num?, hidden? }]
 * options: { name, rowKey(row), onOpen(row), sort: { column, dir }, onSort(column) }
 */
export function dataTable(columns, options) {
  const storageKey = `cinder-columns-${options.name}`;
  const saved = JSON.parse(localStorage.getItem(storageKey) ?? 'null');
  const visible = new Set(saved ?? columns.filter((column) => !column.hidden).map((column) => column.id));
  const rows = [];
  const selected = new Set();
  let anchor = null;

  const tbody = h('tbody');
  const thead = h('thead');
  const table = h('table.data.selectable', { 'aria-label': options.label ?? options.name }, thead, tbody);
  const status = h('span.selection-status');
  const exportButtons = [
    h('button', { type: 'button', disabled: true, onclick: () => exportRows('csv') }, 'Export CSV'),
    h('button', { type: 'button', disabled: true, onclick: () => exportRows('json') }, 'Export JSON'),
  ];
  const chooser = h('details.column-chooser',
    h('summary', 'Columns'),
    h('div.menu', columns.map((column) => h('label',
      h('input', {
        type: 'checkbox',
        checked: visible.has(column.id),
        onchange: (event) => {
          if (event.target.checked) visible.add(column.id);
          else visible.delete(column.id);
          localStorage.setItem(storageKey, JSON.stringify([...visible]));
          redraw();
        },
      }),
      column.label))));
  const toolbar = h('div.table-toolbar', status, exportButtons, chooser);

  const shown = () => columns.filter((column) => visible.has(column.id));

  function header() {
    const all = h('input', {
      type: 'checkbox',
      'aria-label': 'Select all',
      checked: rows.length > 0 && selected.size === rows.length,
      onchange: (event) => {
        selected.clear();
        if (event.target.checked) rows.forEach((row) => selected.add(options.rowKey(row)));
        redraw();
      },
    });
    return h('tr', h('th.select', all), shown().map((column) => {
      const sortable = options.onSort && column.sortable;
      const dir = options.sort?.column === column.id ? options.sort.dir : null;
      return h('th', {
        class: [column.num ? 'num' : '', sortable ? 'sortable' : ''].join(' '),
        'aria-sort': dir ? (dir === 'asc' ? 'ascending' : 'descending') : null,
        onclick: sortable ? () => options.onSort(column.id) : null,
      }, column.label, dir ? h('span.sort-mark', dir === 'asc' ? ' ▲' : ' ▼') : null);
    }));
  }

  function rowElement(row, index) {
    const key = options.rowKey(row);
    const box = h('input', {
      type: 'checkbox',
      'aria-label': 'Select row',
      checked: selected.has(key),
      onclick: (event) => {
        event.stopPropagation();
        if (event.shiftKey && anchor != null) {
          const [from, to] = [Math.min(anchor, index), Math.max(anchor, index)];
          for (let i = from; i <= to; i += 1) selected.add(options.rowKey(rows[i]));
        } else if (selected.has(key)) selected.delete(key);
        else selected.add(key);
        anchor = index;
        redraw();
      },
    });
    return h('tr', {
      class: selected.has(key) ? 'selected' : null,
      dataset: { key },
      onclick: (event) => {
        if (event.target.closest('a, button, input')) return;
        options.onOpen?.(row);
      },
    }, h('td.select', box), shown().map((column) => h('td', { class: column.num ? 'num' : null },
      column.render ? column.render(row) : (column.value(row) ?? ''))));
  }

  function redraw() {
    replace(thead, header());
    replace(tbody, rows.map(rowElement));
    status.textContent = selected.size ? `${selected.size} selected` : '';
    exportButtons.forEach((button) => { button.disabled = selected.size === 0; });
  }

  function exportRows(kind) {
    const chosen = rows.filter((row) => selected.has(options.rowKey(row)));
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    if (kind === 'csv') download(`${options.name}-${stamp}.csv`, toCSV(chosen, columns), 'text/csv');
    else download(`${options.name}-${stamp}.json`, JSON.stringify(chosen.map(options.exportValue ?? ((row) => row)), null, 2), 'application/json');
  }

  redraw();
  return {
    element: h('div.data-table', toolbar, h('div.table-scroll', table)),
    append(more) {
      const start = rows.length;
      rows.push(...more);
      if (start === 0) redraw();
      else tbody.append(...more.map((row, i) => rowElement(row, start + i)));
    },
    /** Rows that belong before the others (newer ones, in live mode). */
    prepend(more) {
      rows.unshift(...more);
      anchor = null;
      redraw();
    },
    clear() {
      rows.length = 0;
      selected.clear();
      redraw();
    },
    get rows() { return rows; },
  };
}
