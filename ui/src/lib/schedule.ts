import { addDays, dayLabel } from "./format";
import type { ListPage, InstallationQuery, InstallationStatus, InstallationSummary, TimeSlot } from "./types";

export type DaySection = "today" | "upcoming" | "past";

export interface DayGroup {
  date: string;
  label: string;
  section: DaySection;
  rows: InstallationSummary[];
}

const SLOT_RANK: Record<TimeSlot, number> = { morning: 1, afternoon: 2, evening: 3, full_day: 4 };

function bySlotThenId(a: InstallationSummary, b: InstallationSummary): number {
  const slot = SLOT_RANK[a.scheduled_time_slot] - SLOT_RANK[b.scheduled_time_slot];
  if (slot !== 0) return slot;
  return a.installation_id < b.installation_id ? -1 : a.installation_id > b.installation_id ? 1 : 0;
}

export function sectionOf(date: string, today: string): DaySection {
  if (date === today) return "today";
  return date > today ? "upcoming" : "past";
}

/**
 * Groups rows by scheduled date: today first, then upcoming days (soonest
 * first), then past days (most recent first). Within a day rows are in
 * time-slot order (morning, afternoon, evening, full day), then by id.
 */
export function groupByDay(rows: InstallationSummary[], today: string): DayGroup[] {
  const byDate = new Map<string, InstallationSummary[]>();
  for (const row of rows) {
    const list = byDate.get(row.scheduled_date);
    if (list) list.push(row);
    else byDate.set(row.scheduled_date, [row]);
  }
  const groups: DayGroup[] = [...byDate.entries()].map(([date, dayRows]) => ({
    date,
    label: dayLabel(date, today),
    section: sectionOf(date, today),
    rows: dayRows.sort(bySlotThenId),
  }));
  const rank: Record<DaySection, number> = { today: 0, upcoming: 1, past: 2 };
  groups.sort((a, b) => {
    if (a.section !== b.section) return rank[a.section] - rank[b.section];
    if (a.section === "past") return a.date < b.date ? 1 : a.date > b.date ? -1 : 0;
    return a.date < b.date ? -1 : a.date > b.date ? 1 : 0;
  });
  return groups;
}

/**
 * Adds a page to groups already on screen without touching the groups it
 * does not change (so a 10,000-row list re-renders only what is new). Pages
 * arrive in display order, so only a day split across two pages merges.
 */
export function appendGroups(groups: DayGroup[], page: InstallationSummary[], today: string): DayGroup[] {
  if (page.length === 0) return groups;
  const added = groupByDay(page, today);
  const out = groups.slice();
  for (const group of added) {
    const index = out.findIndex((g) => g.date === group.date);
    if (index >= 0) {
      out[index] = { ...out[index], rows: [...out[index].rows, ...group.rows].sort(bySlotThenId) };
    } else {
      out.push(group);
    }
  }
  // Normally already in order; a page from an unexpected place still lands right.
  const rank: Record<DaySection, number> = { today: 0, upcoming: 1, past: 2 };
  const ordered = out.every((g, i) => {
    if (i === 0) return true;
    const prev = out[i - 1];
    if (prev.section !== g.section) return rank[prev.section] < rank[g.section];
    return g.section === "past" ? prev.date > g.date : prev.date < g.date;
  });
  return ordered ? out : groupByDay(out.flatMap((g) => g.rows), today);
}

/** Rows per page of the schedule. */
export const SCHEDULE_PAGE = 200;

/**
 * Rows that fill a first screen, a tall one included: a new list loads
 * these first and the rest of its first page right after (cold start).
 * The shell answers this first screen at start with the same number
 * (`SCHEDULE_FIRST_SCREEN` in src-tauri/src/boot.rs); were they to differ,
 * the page would only ask the shell instead.
 */
export const SCHEDULE_FIRST_SCREEN = 40;

export interface ScheduleFilter {
  text: string;
  statuses: InstallationStatus[];
}

export type ListInstallations = (query: InstallationQuery) => Promise<ListPage>;

/**
 * Pages through the technician's installations in display order without ever
 * loading them all: first today and later (ascending), then the past, newest
 * first. The store pages in ascending date order, so the past is read from
 * its end; the first call also asks how many past rows there are (a page of
 * zero rows carries the total).
 */
export class ScheduleFeed {
  rows: InstallationSummary[] = [];
  /** Rows matching the filter, when the shell reports totals. */
  total: number | null = null;
  done = false;
  private started = false;
  private currentDone = false;
  private currentOffset = 0;
  /** Past rows: read backwards from `pastEnd` when the total is known, else forwards. */
  private pastTotal: number | null = null;
  private pastEnd = 0;
  private pastOffset = 0;
  /** The first page, asked for by `prefetch()`; `null` in it: that failed. */
  private prefetched: Promise<InstallationSummary[] | null> | null = null;

  /**
   * `firstPage` rows come first (what fills a screen), then pages of
   * `pageSize`: the first screen does not wait for a long page to be read,
   * sent through the IPC and parsed (cold start).
   */
  constructor(
    private readonly list: ListInstallations,
    private readonly filter: ScheduleFilter,
    private readonly today: string,
    private readonly pageSize = 200,
    readonly firstPage = pageSize,
  ) {}

  private query(from: string | null, to: string | null, offset: number, limit: number): InstallationQuery {
    return {
      from_date: from,
      to_date: to,
      statuses: this.filter.statuses,
      text: this.filter.text.trim(),
      limit,
      offset,
    };
  }

  /**
   * Sends the first page's queries now, before anyone shows the list; the
   * first `loadMore()` takes their answer. If they fail, that call asks
   * again (and reports what fails then).
   */
  prefetch(): this {
    if (!this.started && !this.prefetched) {
      this.prefetched = this.loadFirst().catch(() => {
        this.started = false;
        return null;
      });
    }
    return this;
  }

  /** Loads the next page; returns the rows it added. */
  async loadMore(): Promise<InstallationSummary[]> {
    if (this.prefetched) {
      const rows = await this.prefetched;
      this.prefetched = null;
      if (rows) return rows;
    }
    if (this.done) return [];
    if (!this.started) return this.loadFirst();
    const yesterday = addDays(this.today, -1);
    if (!this.currentDone) {
      return this.takeCurrent(await this.list(this.query(this.today, null, this.currentOffset, this.pageSize)), this.pageSize);
    }
    if (this.pastTotal == null) {
      const page = await this.list(this.query(null, yesterday, this.pastOffset, this.pageSize));
      this.pastOffset += page.items.length;
      if (page.items.length < this.pageSize) this.done = true;
      this.rows.push(...page.items);
      return page.items;
    }
    const start = Math.max(0, this.pastEnd - this.pageSize);
    const page = await this.list(this.query(null, yesterday, start, this.pastEnd - start));
    this.pastEnd = start;
    if (start === 0) this.done = true;
    this.rows.push(...page.items);
    return page.items;
  }

  /** Today and later, and how many past rows there are. */
  private async loadFirst(): Promise<InstallationSummary[]> {
    this.started = true;
    const [page, pastCount] = await Promise.all([
      this.list(this.query(this.today, null, 0, this.firstPage)),
      this.list(this.query(null, addDays(this.today, -1), 0, 0)),
    ]);
    this.pastTotal = pastCount.total;
    this.pastEnd = pastCount.total ?? 0;
    this.total = page.total != null && pastCount.total != null ? page.total + pastCount.total : null;
    return this.takeCurrent(page, this.firstPage);
  }

  private takeCurrent(page: ListPage, limit: number): InstallationSummary[] {
    this.currentOffset += page.items.length;
    this.rows.push(...page.items);
    if (page.items.length < limit || (page.total != null && this.currentOffset >= page.total)) {
      this.currentDone = true;
      if (this.pastTotal === 0) this.done = true;
    }
    return page.items;
  }
}

/**
 * The feed of a list of `filter` that must hold at least `keep` rows. A new
 * list (`keep` at most a page) loads a first screen first; a list kept
 * after a sync comes back whole, so the reader stays where they were.
 */
export function scheduleFeed(list: ListInstallations, filter: ScheduleFilter, today: string, keep = SCHEDULE_PAGE): ScheduleFeed {
  const fresh = keep <= SCHEDULE_PAGE;
  return new ScheduleFeed(list, filter, today, Math.max(SCHEDULE_PAGE, keep), fresh ? SCHEDULE_FIRST_SCREEN : keep);
}

/** One line of the virtual schedule: a day's heading or one of its jobs. */
export type ScheduleItem =
  | { kind: "day"; key: string; group: DayGroup }
  | { kind: "row"; key: string; row: InstallationSummary; group: DayGroup };

/** Flattens day groups into the lines the virtual list renders, each day's heading before its jobs. */
export function scheduleItems(groups: DayGroup[]): ScheduleItem[] {
  const items: ScheduleItem[] = [];
  for (const group of groups) {
    items.push({ kind: "day", key: `day:${group.date}`, group });
    for (const row of group.rows) items.push({ kind: "row", key: `row:${row.id}`, row, group });
  }
  return items;
}
