import { describe, expect, it } from "vitest";
import { describeSync } from "./syncIndicator";
import type { SyncStatus } from "./types";

const now = new Date("2026-11-27T14:00:00Z");

function status(patch: Partial<SyncStatus>): SyncStatus {
  return {
    connection: "online",
    phase: "idle",
    signed_in: true,
    needs_sign_in: false,
    pending_mutations: 0,
    pending_blobs: 0,
    pending_blob_bytes: 0,
    needs_attention: 0,
    last_success_at: "2026-11-27T13:55:00Z",
    last_attempt_at: null,
    next_attempt_at: null,
    last_error: null,
    progress: null,
    first_sync: false,
    pulled_at: null,
    wiped: null,
    ...patch,
  };
}

describe("describeSync", () => {
  it("online with nothing waiting is Synced", () => {
    const v = describeSync(status({}), now);
    expect(v).toMatchObject({ tone: "ok", headline: "Synced", pending: 0, detail: "All changes sent" });
    expect(v.lastSynced).toBe("Last synced 5 min ago");
  });

  it("offline counts changes and files waiting", () => {
    const v = describeSync(status({ connection: "offline", pending_mutations: 3, pending_blobs: 1 }), now);
    expect(v).toMatchObject({ tone: "offline", headline: "Offline", pending: 4, detail: "3 changes and 1 file waiting" });
  });

  it("a running sync shows its phase, even while offline was last known", () => {
    expect(describeSync(status({ phase: "uploading", connection: "offline" }), now)).toMatchObject({
      tone: "busy",
      headline: "Uploading files…",
    });
    expect(describeSync(status({ phase: "pushing" }), now).headline).toBe("Sending changes…");
    expect(describeSync(status({ phase: "pulling" }), now).headline).toBe("Getting updates…");
  });

  it("refused changes and an expired session ask for attention", () => {
    expect(describeSync(status({ needs_attention: 2 }), now)).toMatchObject({
      tone: "attention",
      headline: "Needs attention",
      detail: "All changes sent · 2 need attention",
    });
    expect(describeSync(status({ needs_sign_in: true, phase: "pushing" }), now).headline).toBe("Sign in to sync");
  });

  it("never synced and unknown connection say so", () => {
    const v = describeSync(status({ connection: "unknown", last_success_at: null, pending_mutations: 1 }), now);
    expect(v).toMatchObject({ tone: "unknown", headline: "Not synced yet", pending: 1, lastSynced: "Never synced" });
    expect(describeSync(null, now).headline).toBe("Starting…");
  });
});
