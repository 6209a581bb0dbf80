import { addDays, dayLabel } from "./format";
import type { InstallationPage, InstallationQuery, InstallationStatus, InstallationSummary, TimeSlot } from "./types";

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

export interface ScheduleFilter {
  text: string;
  statuses: InstallationStatus[];
}

export type ListInstallations = (query: InstallationQuery) => Promise<InstallationPage>;

/**
 * Pages through the technician's installations in display order without ever
 * loading them all: first today and later (ascending), then the past, newest
 * first. The store pages in ascending date order, so the past is read from
 * its end once the first past page told how many there are.
 */
export class ScheduleFeed {
  rows: InstallationSummary[] = [];
  /** Rows matching the filter, once both ranges reported a total. */
  total: number | null = null;
  done = false;
  private phase: "current" | "past-probe" | "past" = "current";
  private currentOffset = 0;
  private currentTotal: number | null = null;
  /** Exclusive end of the past rows not loaded yet (past is read backwards). */
  private pastEnd = 0;
  private pastTotal: number | null = null;
  private pastAscendingOffset = 0;

  constructor(
    private readonly list: ListInstallations,
    private readonly filter: ScheduleFilter,
    private readonly today: string,
    private readonly pageSize = 200,
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

  /** Loads the next page; returns the rows it added. */
  async loadMore(): Promise<InstallationSummary[]> {
    if (this.done) return [];
    const yesterday = addDays(this.today, -1);
    if (this.phase === "current") {
      const page = await this.list(this.query(this.today, null, this.currentOffset, this.pageSize));
      this.currentOffset += page.items.length;
      this.currentTotal = page.total;
      if (page.items.length < this.pageSize) this.phase = "past-probe";
      this.rows.push(...page.items);
      this.updateTotal();
      if (page.items.length === 0) return this.loadMore();
      return page.items;
    }
    if (this.phase === "past-probe") {
      const page = await this.list(this.query(null, yesterday, 0, this.pageSize));
      this.pastTotal = page.total;
      this.updateTotal();
      if (page.total == null || page.total <= this.pageSize) {
        // Everything fits in this page (or the shell gives no total: keep ascending).
        this.phase = "past";
        this.pastAscendingOffset = page.items.length;
        this.pastEnd = 0;
        const added = [...page.items].reverse();
        this.rows.push(...added);
        if (page.total != null || page.items.length < this.pageSize) this.done = true;
        return added;
      }
      this.phase = "past";
      this.pastEnd = page.total;
      return this.loadMore();
    }
    if (this.pastTotal == null) {
      const page = await this.list(this.query(null, yesterday, this.pastAscendingOffset, this.pageSize));
      this.pastAscendingOffset += page.items.length;
      if (page.items.length < this.pageSize) this.done = true;
      this.rows.push(...page.items);
      return page.items;
    }
    const start = Math.max(0, this.pastEnd - this.pageSize);
    const page = await this.list(this.query(null, yesterday, start, this.pastEnd - start));
    this.pastEnd = start;
    if (start === 0) this.done = true;
    const added = [...page.items].reverse();
    this.rows.push(...added);
    return added;
  }

  private updateTotal() {
    this.total =
      this.currentTotal != null && this.pastTotal != null ? this.currentTotal + this.pastTotal : null;
  }
}
