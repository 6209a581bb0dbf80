// App-wide state: who is signed in, the live sync status and the current
// screen. Screens read it; only the backend wrapper talks to the shell.
import * as backend from "./backend/commands";
import { onSyncStatus } from "./backend/events";
import { appLock } from "./appLock.svelte";
import { parseHash, routeHash, type Route } from "./router";
import { scheduleFeed, type ScheduleFeed } from "./schedule";
import { localIsoDate } from "./format";
import { answeringFrom } from "./boot";
import { errorText } from "./errorText";
import { toAppError } from "./backend/errors";
import type { AppInfo, BootState, Session, SyncStatus } from "./types";

class AppState {
  info = $state<AppInfo | null>(null);
  session = $state<Session | null>(null);
  sync = $state<SyncStatus | null>(null);
  route = $state<Route>(parseHash(typeof location === "undefined" ? "" : location.hash));
  /** Ticks every 30 s so "last synced 5 min ago" stays true. */
  now = $state(new Date());
  /** A start-up failure the person must see (e.g. the data folder is locked). */
  fatal = $state<string | null>(null);
}

export const app = new AppState();

export function navigate(route: Route): void {
  if (appLock.status?.customer_signing) return;
  const hash = routeHash(route);
  if (location.hash !== hash) location.hash = hash;
  app.route = route;
  // A new screen starts at its top, not where the last one was scrolled to.
  window.scrollTo({ top: 0 });
}

let started = false;

/** The schedule's unfiltered first page, asked for with the start calls. */
let firstSchedule: { today: string; feed: ScheduleFeed } | null = null;

/**
 * The schedule's first page asked for at start, once, if it is still for
 * `today`; `null` otherwise (then the schedule asks itself).
 */
export function takeFirstSchedule(today: string): ScheduleFeed | null {
  const first = firstSchedule;
  firstSchedule = null;
  return first && first.today === today ? first.feed : null;
}

/** The first screen is not the schedule: a later one asks afresh. */
export function dropFirstSchedule(): void {
  firstSchedule = null;
}

/**
 * Loads app info and the cached session (from `boot` when the shell handed
 * them over with the page) and keeps sync status and route current.
 */
export async function startApp(boot: BootState | null = null): Promise<void> {
  if (started) return;
  started = true;
  window.addEventListener("hashchange", () => {
    // The customer holds the laptop to sign: no way off the signature pad
    // (history keys, the mouse's back button).
    if (appLock.status?.customer_signing) {
      history.replaceState(null, "", routeHash(app.route));
      return;
    }
    const route = parseHash(location.hash);
    // navigate() already set it; only a typed URL or history step changes it here.
    if (routeHash(route) !== routeHash(app.route)) app.route = route;
  });
  setInterval(() => {
    app.now = new Date();
  }, 30_000);
  // The schedule's first page goes out now, in the same round as the
  // calls below, when it is the screen asked for (and, as far as the shell
  // said, the one shown); see takeFirstSchedule. The shell may have
  // answered it already.
  if (app.route.name === "schedule" && (!boot || (boot.session && !boot.lock.locked))) {
    const today = localIsoDate(new Date());
    const list = boot ? answeringFrom(boot.schedule, backend.listInstallations) : backend.listInstallations;
    firstSchedule = {
      today,
      feed: scheduleFeed(list, { text: "", statuses: [] }, today).prefetch(),
    };
  }
  let heard = false;
  const syncKnown = Promise.all([
    onSyncStatus((status) => {
      heard = true;
      app.sync = status;
      // Central Ops had this computer wiped: nothing is left to show.
      if (status.wiped && app.session) app.session = null;
    }),
    backend.syncStatus().catch(() => null),
  ]).then(([, status]) => {
    // An event that came meanwhile is newer than the answer.
    if (!heard && status) app.sync = status;
  });
  if (boot) {
    app.info = boot.info;
    app.session = boot.session;
    // The first screen does not wait for the sync status: it shows once known.
    syncKnown.catch((e) => (app.fatal = errorText(toAppError(e))));
  } else {
    // One round of calls, not three in a row: each is a round trip to the
    // shell, and the first screen waits for all of them (cold start).
    const [info, session] = await Promise.all([backend.appInfo(), backend.currentSession(), syncKnown]);
    app.info = info;
    app.session = session;
  }
  performance.mark("fieldbook:started");
}

export async function refreshSyncStatus(): Promise<void> {
  try {
    app.sync = await backend.syncStatus();
  } catch {
    // The event stream keeps it current; a failed poll changes nothing shown.
  }
}
