import { afterEach, describe, expect, it } from "vitest";
import { userEvent } from "vitest/browser";
import { cleanup, render } from "vitest-browser-svelte";
import Schedule from "./Schedule.svelte";
import { installMockBackend, removeMockBackend } from "../../lib/backend/mock/install";
import type { InstallationQuery } from "../../lib/types";

afterEach(async () => {
  await cleanup();
  removeMockBackend();
});

describe("Schedule screen", () => {
  it("holds about a screenful of rows at 10,000 jobs, loads pages as it scrolls, and keeps every row reachable", async () => {
    const backend = installMockBackend({ jobs: 10_000 });
    const started = performance.now();
    const screen = await render(Schedule, {});
    const rows = screen.getByTestId("schedule-row");
    await expect.element(rows.first()).toBeVisible();
    const firstPaint = performance.now() - started;
    const headings = screen.getByTestId("day-heading");
    await expect.element(headings.first()).toHaveTextContent("Today");
    await expect.element(screen.getByText("10,000 installations")).toBeVisible();
    // A 768 px window shows ~8 rows; with the overscan a screenful is well under 40.
    const count = () => document.querySelectorAll("[data-testid=schedule-row]").length;
    expect(count()).toBeGreaterThan(4);
    expect(count()).toBeLessThan(40);

    // Scroll to the end: pages arrive as the list nears the bottom, the DOM stays small.
    const list = screen.getByTestId("schedule-list").element() as HTMLElement;
    const scrollStart = performance.now();
    let most = 0;
    for (let i = 0; i < 3000 && list.dataset.done !== "true"; i++) {
      window.scrollTo(0, document.body.scrollHeight);
      await new Promise((r) => setTimeout(r, 5));
      most = Math.max(most, count());
    }
    const scrollAll = performance.now() - scrollStart;
    expect(list.dataset.rows).toBe("10000");
    expect(most).toBeLessThan(40);
    const queries = backend.calls.filter((c) => c.cmd === "list_installations").map((c) => c.args.query as InstallationQuery);
    expect(Math.max(...queries.map((q) => q.limit))).toBe(200);

    // The bottom shows the oldest job: every row is reachable by scrolling.
    const oldest = [...backend.jobs].sort((a, b) =>
      a.installation.scheduled_date < b.installation.scheduled_date ? -1 : a.installation.scheduled_date > b.installation.scheduled_date ? 1 : 0,
    )[0];
    window.scrollTo(0, document.body.scrollHeight);
    await expect
      .poll(() => [...document.querySelectorAll("[data-testid=schedule-row]")].map((e) => e.getAttribute("data-installation-id")))
      .toSatisfy((ids: (string | null)[]) => backend.jobs.some((j) => j.installation.scheduled_date === oldest.installation.scheduled_date && ids.includes(j.installation.id)));
    // Half-way down, rows of a past day are there, under their day's name.
    window.scrollTo(0, document.body.scrollHeight / 2);
    await expect.poll(() => count()).toBeGreaterThan(4);
    await expect.element(screen.getByTestId("current-day")).toBeVisible();
    console.info(
      `schedule with 10,000 jobs: first page on screen in ${firstPaint.toFixed(0)} ms; scrolled through all ${queries.length - 1} pages in ${scrollAll.toFixed(0)} ms; at most ${most} rows and ${document.querySelectorAll("*").length} elements in the DOM`,
    );
    // Generous bound for a shared 2-core machine; the point is "not seconds".
    expect(firstPaint).toBeLessThan(3000);
  });

  it("Tab walks the rows past the first screenful and the focused row stays in the DOM", async () => {
    installMockBackend({ jobs: 2_000 });
    const screen = await render(Schedule, {});
    await expect.element(screen.getByTestId("schedule-row").first()).toBeVisible();
    const first = screen.getByTestId("schedule-row").first().element() as HTMLElement;
    first.focus();
    const seen: string[] = [first.dataset.installationId!];
    for (let i = 0; i < 40; i++) {
      await userEvent.keyboard("{Tab}");
      const active = document.activeElement as HTMLElement;
      expect(active.dataset.testid).toBe("schedule-row"); // a day's heading is not a Tab stop
      seen.push(active.dataset.installationId!);
    }
    expect(new Set(seen).size).toBe(41);
    expect(window.scrollY).toBeGreaterThan(1000);
    expect(document.querySelectorAll("[data-testid=schedule-row]").length).toBeLessThan(40);

    // Scrolled far away, the focused row is still rendered and focused.
    const focused = document.activeElement as HTMLElement;
    window.scrollTo(0, 0);
    await new Promise((r) => setTimeout(r, 100));
    expect(document.activeElement).toBe(focused);
    expect(focused.isConnected).toBe(true);
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

  it("asks the server for jobs that left the device, and says so when offline", async () => {
    const backend = installMockBackend({ jobs: 40 });
    const screen = await render(Schedule, {});
    await expect.element(screen.getByTestId("schedule-row").first()).toBeVisible();
    await screen.getByTestId("schedule-search").fill("Archie");
    await expect.element(screen.getByText("No installations match")).toBeVisible();
    // Without the app's header the sticky search bar sits over the button here: click it directly.
    (screen.getByTestId("server-search-button").element() as HTMLElement).click();
    const hit = screen.getByTestId("server-search-hit");
    await expect.element(hit).toHaveTextContent("INS-2026-900001");
    await expect.element(hit).toHaveTextContent("On the server only");
    expect(backend.calls.some((c) => c.cmd === "search_server" && c.args.text === "Archie")).toBe(true);

    backend.status.connection = "offline";
    await screen.getByTestId("schedule-search").fill("Archie O");
    await expect.element(screen.getByTestId("server-search-hit")).not.toBeInTheDocument();
    // Without the app's header the sticky search bar sits over the button here: click it directly.
    (screen.getByTestId("server-search-button").element() as HTMLElement).click();
    await expect.element(screen.getByTestId("server-search-error")).toHaveAttribute("data-code", "offline");
    await expect.element(screen.getByTestId("server-search-error")).toHaveTextContent("You are offline");
  });
});
