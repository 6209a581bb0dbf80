// A list that scrolls with the window and keeps only the items near the
// viewport in the DOM. The measuring and the scroll bookkeeping are
// @tanstack/virtual-core's; this file wires it to Svelte's runes and adds
// one rule of ours: the item that holds keyboard focus stays rendered, so
// Tab and screen readers never lose their place when it scrolls away.
import {
  Virtualizer,
  defaultRangeExtractor,
  measureElement,
  observeWindowOffset,
  observeWindowRect,
  windowScroll,
  type Range,
  type VirtualItem,
} from "@tanstack/virtual-core";

export interface WindowListOptions {
  /** A first guess of an item's height in px, before it was measured. */
  estimateSize: (index: number) => number;
  /** A stable key per item, so measured sizes survive a reload of the list. */
  getItemKey: (index: number) => string;
  /** Items rendered beyond each edge of the viewport once the first frame is painted (smooth touch flings). */
  overscan?: number;
}

/** The indexes to render: the visible range, plus the focused item wherever it is. */
export function withKept(indexes: number[], kept: number | null, count: number): number[] {
  if (kept == null || kept >= count || indexes.includes(kept)) return indexes;
  return [...indexes, kept].sort((a, b) => a - b);
}

export class WindowList {
  /** What to render: index, key and offset of each item near the viewport. */
  items = $state.raw<VirtualItem[]>([]);
  /** Height of the whole list in px (rendered or not). */
  totalSize = $state(0);
  /** Where the list's top is on the page; items' `start` counts from the page's top. */
  scrollMargin = $state(0);
  /** How far the window is scrolled, in px. */
  scrollOffset = $state(0);

  private focused: number | null = null;
  /** None until the first frame is painted (see `mount`). */
  private overscan = 0;
  private count = 0;
  private readonly virtualizer: Virtualizer<Window, HTMLElement>;

  constructor(private readonly options: WindowListOptions) {
    this.virtualizer = new Virtualizer<Window, HTMLElement>(this.virtualizerOptions());
  }

  private virtualizerOptions() {
    return {
      count: this.count,
      getScrollElement: () => (typeof window === "undefined" ? null : window),
      estimateSize: this.options.estimateSize,
      getItemKey: this.options.getItemKey,
      overscan: this.overscan,
      scrollMargin: this.scrollMargin,
      observeElementRect: observeWindowRect,
      observeElementOffset: observeWindowOffset,
      scrollToFn: windowScroll,
      measureElement,
      rangeExtractor: (range: Range) => withKept(defaultRangeExtractor(range), this.focused, this.count),
      onChange: (instance: Virtualizer<Window, HTMLElement>) => this.publish(instance),
    };
  }

  private publish(instance: Virtualizer<Window, HTMLElement>) {
    this.items = instance.getVirtualItems();
    this.totalSize = instance.getTotalSize();
    this.scrollOffset = instance.scrollOffset ?? 0;
  }

  /** Starts listening to the window; returns the function that stops it. */
  mount(): () => void {
    const stop = this.virtualizer._didMount();
    this.virtualizer._willUpdate();
    this.publish(this.virtualizer);
    // The first frame holds only what is on screen (cold start: each row
    // more is DOM, style and layout before anything shows); the rows
    // beyond the edges follow once it is painted, long before a fling.
    let frame = requestAnimationFrame(() => {
      frame = requestAnimationFrame(() => {
        this.overscan = this.options.overscan ?? 6;
        this.update(this.count, this.scrollMargin);
      });
    });
    return () => {
      cancelAnimationFrame(frame);
      stop();
    };
  }

  /** The list now has `count` items and starts `scrollMargin` px down the page. */
  update(count: number, scrollMargin: number) {
    this.count = count;
    this.scrollMargin = scrollMargin;
    if (this.focused != null && this.focused >= count) this.focused = null;
    this.virtualizer.setOptions(this.virtualizerOptions());
    this.virtualizer._willUpdate();
    this.publish(this.virtualizer);
  }

  /** Svelte action for each rendered item (it must carry `data-index`): measures its real height. */
  measure = (node: HTMLElement) => {
    this.virtualizer.measureElement(node);
  };

  /** Keeps item `index` rendered while it holds focus (`null`: nothing focused in the list). */
  keepFocused(index: number | null) {
    if (index === this.focused) return;
    this.focused = index;
    this.update(this.count, this.scrollMargin);
  }

  /** The item at a point `px` below the top of the window. */
  itemAtViewport(px: number): VirtualItem | undefined {
    return this.virtualizer.getVirtualItemForOffset(this.scrollOffset + px);
  }

  scrollToIndex(index: number) {
    this.virtualizer.scrollToIndex(index, { align: "start" });
  }
}
