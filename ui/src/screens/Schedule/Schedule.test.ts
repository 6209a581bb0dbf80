import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render } from "vitest-browser-svelte";
import Schedule from "./Schedule.svelte";
import { installMockBackend, removeMockBackend } from "../../lib/backend/mock/install";
import type { InstallationQuery } from "../../lib/types";

afterEach(async () => {
  await cleanup();
  removeMockBackend();
});

describe("Schedule screen", () => {
  it("renders 10,000 jobs a page at a time, today first, and keeps every row reachable", async () => {
    const backend = installMockBackend({ jobs: 10_000 });
    const started = performance.now();
    const screen = await render(Schedule, {});
    const rows = screen.getByTestId("schedule-row");
    await expect.element(rows.first()).toBeVisible();
    const firstPaint = performance.now() - started;
    const headings = screen.getByTestId("day-heading");
    await expect.element(headings.first()).toHaveTextContent("Today");
    // One page, not the whole list, is in the DOM at first.
    expect(rows.elements().length).toBe(200);
    await expect.element(screen.getByText("10,000 installations")).toBeVisible();

    // Scroll to the end: pages arrive as the list nears the bottom.
    const count = () => document.querySelectorAll("[data-testid=schedule-row]").length;
    const scrollStart = performance.now();
    for (let i = 0; i < 3000 && count() < 10_000; i++) {
      window.scrollTo(0, document.body.scrollHeight);
      await new Promise((r) => setTimeout(r, 5));
    }
    const scrollAll = performance.now() - scrollStart;
    expect(count()).toBe(10_000);
    const ids = new Set([...document.querySelectorAll("[data-testid=schedule-row]")].map((e) => e.getAttribute("data-installation-id")));
    expect(ids.size).toBe(10_000);
    const queries = backend.calls.filter((c) => c.cmd === "list_installations").map((c) => c.args.query as InstallationQuery);
    expect(Math.max(...queries.map((q) => q.limit))).toBe(200);
    console.info(
      `schedule with 10,000 jobs: first page on screen in ${firstPaint.toFixed(0)} ms; scrolled through all ${queries.length - 1} pages in ${scrollAll.toFixed(0)} ms`,
    );
    // Generous bound for a shared 2-core machine; the point is "not seconds".
    expect(firstPaint).toBeLessThan(3000);
  });

  it("searches and filters by status", async () => {
    const backend = installMockBackend({ jobs: 200 });
    const screen = await render(Schedule, {});
    await expect.element(screen.getByTestId("schedule-row").first()).toBeVisible();
    const target = backend.jobs[57];
    await screen.getByTestId("schedule-search").fill(target.installation.installation_id);
    await expect.poll(() => screen.getByTestId("schedule-row").elements().length).toBe(1);
    await expect.element(screen.getByTestId("schedule-row")).toHaveAttribute("data-installation-id", target.installation.id);

    await screen.getByTestId("schedule-search").fill("");
    await screen.getByTestId("status-filter").selectOptions("cancelled");
    await expect.poll(() => {
      const statuses = screen.getByTestId("schedule-row").elements().map((e) => e.getAttribute("data-status"));
      return statuses.length > 0 && statuses.every((s) => s === "cancelled");
    }).toBe(true);

    await screen.getByTestId("schedule-search").fill("no such customer anywhere");
    await expect.element(screen.getByText("No installations match")).toBeVisible();
  });
});
