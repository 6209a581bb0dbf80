// The idle lock as the UI sees it: the backend decides (fieldbook-sync's
// app_lock); this module only notes input, asks to lock when the idle time
// the backend gave has passed or on Ctrl+L, and keeps the status on screen.
import * as backend from "./backend/commands";
import type { LockStatus, UnlockOutcome } from "./types";

class AppLockState {
  status = $state<LockStatus | null>(null);
}

export const appLock = new AppLockState();

/** The idle time has passed since the last input. */
export function idleLockDue(lastInputMs: number, nowMs: number, minutes: number): boolean {
  return nowMs - lastInputMs >= minutes * 60_000;
}

/** Ctrl+L (Cmd+L on a Mac) locks at once. */
export function isLockShortcut(e: Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "altKey" | "shiftKey">): boolean {
  return (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === "l";
}

let lastInput = Date.now();
let started = false;

/**
 * Starts watching input; `signedIn` says whether there is anyone to lock
 * for. `initial`: the status the shell handed over with the page (else it is
 * asked for).
 */
export async function startAppLock(signedIn: () => boolean, initial: LockStatus | null = null): Promise<void> {
  if (started) return;
  started = true;
  if (initial) appLock.status = initial;
  else await refreshLock();
  const noteInput = () => (lastInput = Date.now());
  for (const type of ["pointerdown", "pointermove", "keydown", "wheel", "touchstart"]) {
    window.addEventListener(type, noteInput, { capture: true, passive: true });
  }
  window.addEventListener(
    "keydown",
    (e) => {
      if (isLockShortcut(e) && signedIn()) {
        e.preventDefault();
        void lockNow();
      }
    },
    { capture: true },
  );
  setInterval(() => {
    const status = appLock.status;
    if (!status || status.locked || !signedIn()) return;
    if (idleLockDue(lastInput, Date.now(), status.idle_lock_minutes)) void lockNow();
  }, 5_000);
}

export async function refreshLock(): Promise<void> {
  appLock.status = await backend.lockStatus();
}

export async function lockNow(): Promise<void> {
  appLock.status = await backend.lockApp();
}

export async function unlock(password: string): Promise<UnlockOutcome> {
  const outcome = await backend.unlockApp(password);
  await refreshLock();
  lastInput = Date.now();
  return outcome;
}

/** The customer takes the laptop to sign (true) or hands it back (false). */
export async function setCustomerSigning(signing: boolean): Promise<void> {
  // At once for navigation in this same tick; the backend's answer follows.
  if (appLock.status) appLock.status = { ...appLock.status, customer_signing: signing };
  appLock.status = await backend.setCustomerSigning(signing);
}

export async function setIdleLockMinutes(minutes: number): Promise<void> {
  appLock.status = await backend.setIdleLockMinutes(minutes);
}
