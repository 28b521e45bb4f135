// A list that creates elements only for the rows in view (plus a margin), so ten thousand rows
// scroll like fifty. Rows have one fixed height.

export class VirtualList {
  /**
   * container: the scrolling element; rowHeight in px; renderRow(item, index) → element.
   */
  constructor(container, rowHeight, renderRow) {
    this.container = container;
    this.rowHeight = rowHeight;
    this.renderRow = renderRow;
    this.items = [];
    this.spacer = document.createElement('div');
    this.spacer.className = 'virtual-spacer';
    this.container.replaceChildren(this.spacer);
    this.drawn = { from: -1, to: -1 };
    this.frame = 0;
    this.onScroll = () => {
      if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
    };
    this.container.addEventListener('scroll', this.onScroll, { passive: true });
    this.resize = new ResizeObserver(() => this.draw(true));
    this.resize.observe(this.container);
  }

  setItems(items) {
    this.items = items;
    this.spacer.style.height = `${items.length * this.rowHeight}px`;
    this.draw(true);
  }

  /** Redraws the rows in view; `force` also when the same rows are in view (their content changed). */
  draw(force = false) {
    const margin = 12;
    const top = this.container.scrollTop;
    const height = this.container.clientHeight || 600;
    const from = Math.max(0, Math.floor(top / this.rowHeight) - margin);
    const to = Math.min(this.items.length, Math.ceil((top + height) / this.rowHeight) + margin);
    if (!force && from === this.drawn.from && to === this.drawn.to) return;
    this.drawn = { from, to };
    const rows = [];
    for (let i = from; i < to; i += 1) {
      const row = this.renderRow(this.items[i], i);
      row.style.transform = `translateY(${i * this.rowHeight}px)`;
      rows.push(row);
    }
    this.spacer.replaceChildren(...rows);
  }

  /** Scrolls the least needed to show row `index`. */
  reveal(index) {
    const top = index * this.rowHeight;
    const bottom = top + this.rowHeight;
    const view = this.container;
    if (top < view.scrollTop) view.scrollTop = top;
    else if (bottom > view.scrollTop + view.clientHeight) view.scrollTop = bottom - view.clientHeight;
    this.draw();
  }

  destroy() {
    this.container.removeEventListener('scroll', this.onScroll);
    this.resize.disconnect();
    cancelAnimationFrame(this.frame);
  }
}
