import { describe, expect, it } from "vitest";
import { render } from "vitest-browser-svelte";
import SyncIndicator from "./SyncIndicator.svelte";
import type { SyncStatus } from "../lib/types";

const base: SyncStatus = {
  connection: "online",
  phase: "idle",
  signed_in: true,
  needs_sign_in: false,
  pending_mutations: 0,
  pending_blobs: 0,
  pending_blob_bytes: 0,
  needs_attention: 0,
  last_success_at: new Date().toISOString(),
  last_attempt_at: null,
  next_attempt_at: null,
  last_error: null,
  progress: null,
  first_sync: false,
  pulled_at: null,
  wiped: null,
};

describe("SyncIndicator", () => {
  it("exposes connection, phase and pending count for the E2E tests", async () => {
    let opened = 0;
    const screen = await render(SyncIndicator, {
      status: { ...base, connection: "offline", pending_mutations: 4, pending_blobs: 3 },
      now: new Date(),
      onopen: () => opened++,
    });
    const indicator = screen.getByTestId("sync-indicator");
    await expect.element(indicator).toHaveAttribute("data-connection", "offline");
    await expect.element(indicator).toHaveAttribute("data-phase", "idle");
    await expect.element(indicator).toHaveAttribute("data-pending", "7");
    await expect.element(indicator).toHaveTextContent("Offline");
    await expect.element(indicator).toHaveTextContent("7 waiting");
    await indicator.click();
    expect(opened).toBe(1);
  });

  it("follows the status as it changes", async () => {
    const screen = await render(SyncIndicator, { status: base, now: new Date(), onopen: () => {} });
    const indicator = screen.getByTestId("sync-indicator");
    await expect.element(indicator).toHaveTextContent("Synced");
    await expect.element(indicator).toHaveAttribute("data-pending", "0");
    await screen.rerender({ status: { ...base, phase: "uploading", pending_blobs: 2 } });
    await expect.element(indicator).toHaveAttribute("data-phase", "uploading");
    await expect.element(indicator).toHaveTextContent("Uploading files…");
    await expect.element(indicator).toHaveAttribute("data-pending", "2");
  });

  it("says unknown before the first status arrives", async () => {
    const screen = await render(SyncIndicator, { status: null, now: new Date(), onopen: () => {} });
    await expect.element(screen.getByTestId("sync-indicator")).toHaveAttribute("data-connection", "unknown");
  });
});
