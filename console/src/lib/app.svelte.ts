import type { ConsoleSession, NavCounts } from "./bindings";
import * as api from "./api";

/**
 * What every screen shares: who is signed in, the navigation's counts and
 * the server's change sequence. Screens re-read their data when `seq` moves
 * (the live feed), so nothing needs a reload.
 */
export const app = $state({
  session: null as ConsoleSession | null,
  /** False until the first session check answered. */
  ready: false,
  counts: null as NavCounts | null,
  /** Held work waiting for a decision (not in the server's review counts). */
  heldWaiting: 0,
  /** The server's change sequence as last announced by the live feed. */
  seq: 0,
  live: false,
  /** A short confirmation of the last action ("Assigned to North Crew"). */
  notice: null as string | null,
});

let stopFeed: (() => void) | null = null;
let noticeTimer: ReturnType<typeof setTimeout> | undefined;

export function announce(text: string): void {
  app.notice = text;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (app.notice = null), 3000);
}

export async function refreshCounts(): Promise<void> {
  try {
    const [counts, held] = await Promise.all([api.navCounts(), api.heldWork({ status: "waiting" })]);
    app.counts = counts;
    app.heldWaiting = held.length;
  } catch {
    // The badges keep their last numbers; the screen shows its own errors.
  }
}

/** After sign-in (or a page load with a live session): start following the server. */
export function startSession(session: ConsoleSession): void {
  app.session = session;
  stopFeed?.();
  stopFeed = api.followChanges(
    (event) => {
      if (event.seq !== app.seq) {
        app.seq = event.seq;
        void refreshCounts();
      }
    },
    (live) => (app.live = live),
  );
  void refreshCounts();
}

export function endSession(): void {
  stopFeed?.();
  stopFeed = null;
  app.session = null;
  app.counts = null;
  app.heldWaiting = 0;
  app.live = false;
}

api.whenSignedOut(endSession);
