import { describe, expect, it } from "vitest";
import { SCHEDULE_FIRST_SCREEN, ScheduleFeed, appendGroups, groupByDay, scheduleFeed, scheduleItems } from "./schedule";
import { makeJobs } from "./backend/mock/data";
import { answeringFrom } from "./boot";
import type { ListPage, InstallationQuery, InstallationSummary } from "./types";

function row(id: string, date: string, slot: InstallationSummary["scheduled_time_slot"] = "morning"): InstallationSummary {
  return {
    id,
    installation_id: `INS-2026-${id.padStart(6, "0")}`,
    scheduled_date: date,
    scheduled_time_slot: slot,
    status: "confirmed",
    material_ready: true,
    customer_confirmed: false,
    demo_completed: false,
    customer_name: `Customer ${id}`,
    address_line1: "",
    address_line2: "",
    city: "",
    postcode: "",
    phone: "",
    assignment_status: "accepted",
    has_pending_changes: false,
    left_scope: false,
    draft_superseded: false,
  };
}

describe("groupByDay", () => {
  const today = "2026-11-27";

  it("puts today first, then upcoming soonest first, then past most recent first", () => {
    const rows = [
      row("1", "2026-11-20"),
      row("2", "2026-11-26"),
      row("3", "2026-11-27"),
      row("4", "2026-11-28"),
      row("5", "2026-12-03"),
      row("6", "2026-11-25"),
    ];
    const groups = groupByDay(rows, today);
    expect(groups.map((g) => g.date)).toEqual([
      "2026-11-27",
      "2026-11-28",
      "2026-12-03",
      "2026-11-26",
      "2026-11-25",
      "2026-11-20",
    ]);
    expect(groups.map((g) => g.section)).toEqual(["today", "upcoming", "upcoming", "past", "past", "past"]);
    expect(groups.slice(0, 2).map((g) => g.label)).toEqual(["Today", "Tomorrow"]);
    expect(groups[3].label).toBe("Yesterday");
    expect(groups[2].label).toMatch(/^Thursday,? 3 December 2026$/);
  });

  it("orders a day by time slot, then id, whatever order the rows came in", () => {
    const rows = [
      row("9", today, "full_day"),
      row("8", today, "evening"),
      row("7", today, "morning"),
      row("6", today, "afternoon"),
      row("5", today, "morning"),
    ];
    const [group] = groupByDay(rows, today);
    expect(group.rows.map((r) => r.id)).toEqual(["5", "7", "6", "8", "9"]);
  });

  it("has no today group on a day without jobs", () => {
    const groups = groupByDay([row("1", "2026-11-28"), row("2", "2026-11-26")], today);
    expect(groups.map((g) => g.section)).toEqual(["upcoming", "past"]);
  });
});

/** The store's list: sorted ascending by date, paged, with the total. */
function fakeList(all: InstallationSummary[], withTotal: boolean) {
  const queries: InstallationQuery[] = [];
  const list = async (q: InstallationQuery): Promise<ListPage> => {
    queries.push(q);
    const matching = all.filter(
      (r) => (!q.from_date || r.scheduled_date >= q.from_date) && (!q.to_date || r.scheduled_date <= q.to_date),
    );
    return { items: matching.slice(q.offset, q.offset + q.limit), total: withTotal ? matching.length : null };
  };
  return { list, queries };
}

describe("scheduleItems", () => {
  it("puts each day's heading before its jobs, in display order, with keys that say what they are", () => {
    const groups = groupByDay([row("1", "2026-11-26"), row("2", "2026-11-27"), row("3", "2026-11-27", "evening")], "2026-11-27");
    const items = scheduleItems(groups);
    expect(items.map((i) => i.key)).toEqual(["day:2026-11-27", "row:2", "row:3", "day:2026-11-26", "row:1"]);
    expect(items.map((i) => i.group.date)).toEqual(["2026-11-27", "2026-11-27", "2026-11-27", "2026-11-26", "2026-11-26"]);
    expect(scheduleItems([])).toEqual([]);
  });
});

describe("ScheduleFeed", () => {
  const today = "2026-11-27";
  const jobs = makeJobs(1000, today).map((j) => row(j.installation.id, j.installation.scheduled_date));

  it("loads today and later first, then the past from its most recent end, without repeats", async () => {
    const { list, queries } = fakeList(jobs, true);
    const feed = new ScheduleFeed(list, { text: "", statuses: [] }, today, 100);
    await feed.loadMore();
    expect(feed.rows.every((r) => r.scheduled_date >= today)).toBe(true);
    expect(feed.rows[0].scheduled_date).toBe(today);

    const pages: InstallationSummary[][] = [];
    while (!feed.done) pages.push(await feed.loadMore());
    expect(feed.rows).toHaveLength(1000);
    expect(new Set(feed.rows.map((r) => r.id)).size).toBe(1000);
    expect(feed.total).toBe(1000);
    // The first past page read is the one just before today; later ones go further back.
    const pastPages = pages.filter((p) => p.length > 0 && p[0].scheduled_date < today);
    const newest = (p: InstallationSummary[]) => p.map((r) => r.scheduled_date).sort().pop()!;
    expect(newest(pastPages[0])).toBe("2026-11-26");
    for (let i = 1; i < pastPages.length; i++) expect(newest(pastPages[i]) <= pastPages[i - 1][0].scheduled_date).toBe(true);
    // Pages stay bounded: nothing ever asks for everything at once.
    expect(Math.max(...queries.map((q) => q.limit))).toBe(100);
    // The total is known from the first call, before any past row is read.
    const fresh = new ScheduleFeed(list, { text: "", statuses: [] }, today, 100);
    await fresh.loadMore();
    expect(fresh.total).toBe(1000);
  });

  it("still reaches every row when the shell gives no total", async () => {
    const { list } = fakeList(jobs, false);
    const feed = new ScheduleFeed(list, { text: "", statuses: [] }, today, 64);
    while (!feed.done) await feed.loadMore();
    expect(new Set(feed.rows.map((r) => r.id)).size).toBe(1000);
    expect(feed.total).toBeNull();
  });

  it("loads a first screen first, then whole pages, and still every row once", async () => {
    const { list, queries } = fakeList(jobs, true);
    const feed = new ScheduleFeed(list, { text: "", statuses: [] }, today, 100, 10);
    const first = await feed.loadMore();
    expect(first).toHaveLength(10);
    expect(first[0].scheduled_date).toBe(today);
    expect(feed.total).toBe(1000);
    // The next page carries on after the first screen, at the full size.
    const next = await feed.loadMore();
    expect(next).toHaveLength(100);
    expect(queries.at(-1)).toMatchObject({ offset: 10, limit: 100 });
    while (!feed.done) await feed.loadMore();
    expect(feed.rows).toHaveLength(1000);
    expect(new Set(feed.rows.map((r) => r.id)).size).toBe(1000);
  });

  it("asks for the first page when prefetched, and hands that answer to the first loadMore", async () => {
    const { list, queries } = fakeList(jobs, true);
    const feed = new ScheduleFeed(list, { text: "", statuses: [] }, today, 100, 10).prefetch();
    // Sent at once: the first page and the count of past rows.
    expect(queries).toHaveLength(2);
    expect(await feed.loadMore()).toHaveLength(10);
    expect(queries).toHaveLength(2);
    expect(await feed.loadMore()).toHaveLength(100);
    expect(queries).toHaveLength(3);
  });

  it("takes the first screen the shell answered at start without asking, and asks for the rest", async () => {
    const { list, queries } = fakeList(jobs, true);
    // The shell's answers (src-tauri/src/boot.rs): today and later, the past's count.
    const asked = async (query: InstallationQuery) => {
      const page = await list(query);
      return { query, page: { items: page.items, total: page.total ?? 0 } };
    };
    const filter = { text: "", statuses: [] };
    const answers = [
      await asked({ from_date: today, to_date: null, statuses: [], text: "", limit: SCHEDULE_FIRST_SCREEN, offset: 0 }),
      await asked({ from_date: null, to_date: "2026-11-26", statuses: [], text: "", limit: 0, offset: 0 }),
    ];
    queries.length = 0;

    const feed = scheduleFeed(answeringFrom(answers, list), filter, today).prefetch();
    expect(await feed.loadMore()).toEqual(answers[0].page.items);
    expect(feed.total).toBe(1000);
    expect(queries).toEqual([]);
    // The rest of the list is asked for as usual, and every row comes once.
    while (!feed.done) await feed.loadMore();
    expect(new Set(feed.rows.map((r) => r.id)).size).toBe(1000);
    expect(queries.length).toBeGreaterThan(0);

    // Each answer serves once; another day's list asks the shell.
    queries.length = 0;
    const again = answeringFrom(answers, list);
    await scheduleFeed(again, filter, "2026-11-28").loadMore();
    expect(queries).toHaveLength(2);
    await scheduleFeed(again, filter, today).loadMore();
    await scheduleFeed(again, filter, today).loadMore();
    expect(queries).toHaveLength(4);
  });

  it("asks again when the prefetch failed, and reports what fails then", async () => {
    const { list: works } = fakeList(jobs, true);
    let failures = 1;
    const firstPageAsks: number[] = [];
    const flaky = async (q: InstallationQuery): Promise<ListPage> => {
      if (q.limit === 10) firstPageAsks.push(q.offset);
      if (failures > 0) {
        failures--;
        throw new Error("store busy");
      }
      return works(q);
    };
    const feed = new ScheduleFeed(flaky, { text: "", statuses: [] }, today, 100, 10).prefetch();
    expect(await feed.loadMore()).toHaveLength(10);
    expect(feed.rows).toHaveLength(10);
    // Asked at the prefetch (failed), then again by loadMore.
    expect(firstPageAsks).toEqual([0, 0]);

    const broken = new ScheduleFeed(
      async () => {
        throw new Error("store gone");
      },
      { text: "", statuses: [] },
      today,
    ).prefetch();
    await expect(broken.loadMore()).rejects.toThrow("store gone");
  });

  it("starts a new list with a first screen, and brings a kept list back whole", async () => {
    const { list, queries } = fakeList(jobs, true);
    await scheduleFeed(list, { text: "", statuses: [] }, today).loadMore();
    expect(queries[0]).toMatchObject({ from_date: today, limit: SCHEDULE_FIRST_SCREEN });
    const kept = scheduleFeed(list, { text: "", statuses: [] }, today, 450);
    await kept.loadMore();
    expect(queries[2]).toMatchObject({ from_date: today, limit: 450 });
    expect(kept.firstPage).toBe(450);
  });

  it("passes the filter to every query", async () => {
    const { list, queries } = fakeList(jobs, true);
    const feed = new ScheduleFeed(list, { text: "  mill lane ", statuses: ["confirmed"] }, today, 500);
    while (!feed.done) await feed.loadMore();
    expect(queries.every((q) => q.text === "mill lane" && q.statuses.join() === "confirmed")).toBe(true);
  });
});

describe("appendGroups", () => {
  const today = "2026-11-27";

  it("adds a page without replacing the day groups it does not touch", () => {
    const first = groupByDay([row("1", today), row("2", "2026-11-28"), row("3", "2026-11-29", "morning")], today);
    const next = appendGroups(first, [row("4", "2026-11-29", "evening"), row("5", "2026-11-30")], today);
    expect(next.map((g) => g.date)).toEqual(["2026-11-27", "2026-11-28", "2026-11-29", "2026-11-30"]);
    expect(next[0]).toBe(first[0]);
    expect(next[1]).toBe(first[1]);
    expect(next[2].rows.map((r) => r.id)).toEqual(["3", "4"]);
  });

  it("ends up exactly like grouping everything at once, whatever the pages", () => {
    const all = makeJobs(300, today).map((j) => row(j.installation.id, j.installation.scheduled_date, j.installation.scheduled_time_slot));
    let groups = appendGroups([], all.slice(0, 50), today);
    for (let i = 50; i < all.length; i += 37) groups = appendGroups(groups, all.slice(i, i + 37), today);
    const expected = groupByDay(all, today);
    expect(groups.map((g) => [g.date, g.rows.map((r) => r.id)])).toEqual(expected.map((g) => [g.date, g.rows.map((r) => r.id)]));
  });
});
