// Touch-first: every control a finger must hit is at least 44 px tall, on every screen.
import "../app.css";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render } from "vitest-browser-svelte";
import App from "../App.svelte";
import { screens as lazyScreens } from "../screens/lazy";
import { installMockBackend, removeMockBackend } from "../lib/backend/mock/install";
import { smallTargets } from "./touch";

afterEach(async () => {
  await cleanup();
  removeMockBackend();
});

describe("touch targets", () => {
  it("are at least 44 px on every screen", async () => {
    const backend = installMockBackend({ jobs: 30, withPendingWork: true });
    const inProgress = backend.jobs.find((j) => j.installation.status === "in_progress")!.installation.id;
    const screens = ["#/schedule", `#/installation/${inProgress}`, `#/installation/${inProgress}/report`, "#/sync", "#/settings"];
    // Screens other than the schedule load on first use: loaded here first,
    // so each hash below is checked with its screen on the page.
    await Promise.all(Object.values(lazyScreens).map((load) => load()));
    location.hash = screens[0];
    const screen = await render(App, {});
    for (const hash of screens) {
      location.hash = hash;
      await new Promise((r) => setTimeout(r, 250));
      await expect.element(screen.getByTestId("app-header")).toBeVisible();
      expect(smallTargets(), hash).toEqual([]);
    }
    // The check itself notices a small control.
    const tiny = Object.assign(document.createElement("button"), { textContent: "x" });
    tiny.style.cssText = "min-height:0;min-width:0;height:20px;width:20px;padding:0";
    document.body.append(tiny);
    expect(smallTargets()).toEqual(["button[x] 20x20"]);
    tiny.remove();
  });
});
