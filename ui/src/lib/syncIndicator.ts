import { num, plural, relativeTime } from "./format";
import type { SyncStatus } from "./types";

export type IndicatorTone = "ok" | "busy" | "offline" | "attention" | "unknown";

export interface SyncIndicatorView {
  tone: IndicatorTone;
  /** Short headline: "Offline", "Syncing…", "Synced", "Sign in to sync"… */
  headline: string;
  /** Pending mutations + pending blobs. */
  pending: number;
  /** "3 changes waiting", "All changes sent", … */
  detail: string;
  lastSynced: string;
}

const PHASE_LABELS = {
  pushing: "Sending changes…",
  pulling: "Getting updates…",
  uploading: "Uploading files…",
} as const;

/** Everything the header's sync indicator shows, from one SyncStatus. */
export function describeSync(status: SyncStatus | null, now: Date): SyncIndicatorView {
  if (!status) {
    return { tone: "unknown", headline: "Starting…", pending: 0, detail: "", lastSynced: "Never synced" };
  }
  const pending = num(status.pending_mutations) + num(status.pending_blobs);
  const attention = num(status.needs_attention);
  const lastSynced = status.last_success_at
    ? `Last synced ${relativeTime(status.last_success_at, now)}`
    : "Never synced";
  const waiting =
    pending === 0
      ? "All changes sent"
      : [
          num(status.pending_mutations) > 0 ? plural(num(status.pending_mutations), "change") : null,
          num(status.pending_blobs) > 0 ? plural(num(status.pending_blobs), "file") : null,
        ]
          .filter(Boolean)
          .join(" and ") + " waiting";
  const detail = attention > 0 ? `${waiting} · ${attention} need${attention === 1 ? "s" : ""} attention` : waiting;

  if (status.needs_sign_in) {
    return { tone: "attention", headline: "Sign in to sync", pending, detail, lastSynced };
  }
  if (status.phase !== "idle") {
    return { tone: "busy", headline: PHASE_LABELS[status.phase], pending, detail, lastSynced };
  }
  if (status.connection === "offline") {
    return { tone: "offline", headline: "Offline", pending, detail, lastSynced };
  }
  if (attention > 0) {
    return { tone: "attention", headline: "Needs attention", pending, detail, lastSynced };
  }
  if (status.connection === "unknown") {
    return { tone: "unknown", headline: "Not synced yet", pending, detail, lastSynced };
  }
  return { tone: "ok", headline: pending === 0 ? "Synced" : "Online", pending, detail, lastSynced };
}
