import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render } from "vitest-browser-svelte";
import Sync from "./Sync.svelte";
import { app } from "../../lib/app.svelte";
import { installMockBackend, removeMockBackend } from "../../lib/backend/mock/install";
import { onSyncStatus } from "../../lib/backend/events";

afterEach(async () => {
  await cleanup();
  removeMockBackend();
});

describe("Sync panel", () => {
  it("lists refused changes with the server's reason; dismissing one removes it", async () => {
    const backend = installMockBackend({ jobs: 10, withPendingWork: true });
    app.sync = backend.status;
    const screen = await render(Sync, {});
    const item = screen.getByTestId("needs-attention-item");
    await expect.element(item).toHaveTextContent("Start installation");
    await expect.element(item).toHaveTextContent("Central Ops cancelled it after you started");
    await item.getByRole("button", { name: "Dismiss" }).click();
    await expect.element(item).not.toBeInTheDocument();
    expect(backend.calls.some((c) => c.cmd === "dismiss_outbox_entry")).toBe(true);
  });

  it("Sync now shows the phases with progress, then when it last synced", async () => {
    const backend = installMockBackend({ jobs: 10, withPendingWork: true });
    backend.setStatus({ connection: "online" }); // the server is back
    app.sync = backend.status;
    const unlisten = await onSyncStatus((s) => (app.sync = s));
    const screen = await render(Sync, {});
    const phases = new Set<string>();
    const observer = new MutationObserver(() => {
      const phase = document.querySelector('[data-testid="sync-progress"]')?.getAttribute("data-phase");
      if (phase) phases.add(phase);
    });
    observer.observe(document.body, { subtree: true, attributes: true, childList: true });
    await screen.getByTestId("sync-now").click();
    await expect.element(screen.getByTestId("sync-progress")).toHaveTextContent(/of/);
    await expect.element(screen.getByTestId("sync-progress")).toHaveAttribute("data-phase", "idle");
    observer.disconnect();
    unlisten();
    expect([...phases]).toEqual(expect.arrayContaining(["pushing", "pulling", "uploading", "idle"]));
    await expect.element(screen.getByTestId("last-synced")).toHaveTextContent("just now");
  });
});
