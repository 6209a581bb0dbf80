// The facts the shell hands the page before it loads (src-tauri/src/boot.rs):
// app info, the cached session, the lock's status and the schedule's first
// screen, so that the first screen does not wait for a round trip to the
// shell (cold start).
import type { BootListAnswer, BootState, InstallationQuery } from "./bindings";
import { normalisePage } from "./backend/commands";
import type { ListInstallations } from "./schedule";

declare global {
  interface Window {
    __FIELDBOOK_BOOT__?: BootState;
  }
}

const USED_KEY = "fieldbook:boot-used";

/**
 * The shell's start facts, once per start: a page reloaded in the same
 * window runs the same script again, and by then the facts may be stale (a
 * sign-out, a lock), so an id already used here gives `null` and the page
 * asks the shell instead.
 */
export function takeBootState(
  win: Pick<Window, "__FIELDBOOK_BOOT__"> = window,
  storage: Pick<Storage, "getItem" | "setItem"> | null = sessionStorage,
): BootState | null {
  const boot = win.__FIELDBOOK_BOOT__;
  delete win.__FIELDBOOK_BOOT__;
  if (!boot || !storage) return null;
  try {
    if (storage.getItem(USED_KEY) === boot.id) return null;
    storage.setItem(USED_KEY, boot.id);
  } catch {
    // Without a place to note it, it cannot be told apart from a reload's.
    return null;
  }
  return boot;
}

const queryKey = (q: InstallationQuery) => JSON.stringify([q.from_date, q.to_date, q.statuses, q.text, q.limit, q.offset]);

/**
 * `list`, except that a query the shell answered at start is answered from
 * there, once; any other query (another day after midnight, another first
 * screen) goes to the shell as usual.
 */
export function answeringFrom(answers: BootListAnswer[], list: ListInstallations): ListInstallations {
  const left = new Map(answers.map((a) => [queryKey(a.query), a.page]));
  return (query) => {
    const key = queryKey(query);
    const page = left.get(key);
    if (!page) return list(query);
    left.delete(key);
    return Promise.resolve(normalisePage(page));
  };
}
