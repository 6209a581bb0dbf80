// The facts the shell hands the page before it loads (src-tauri/src/boot.rs):
// app info, the cached session and the lock's status, so that the first
// screen does not wait for a round trip to the shell (cold start).
import type { BootState } from "./bindings";

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
