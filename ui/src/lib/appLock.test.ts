import { describe, expect, it } from "vitest";
import { idleLockDue, isLockShortcut } from "./appLock.svelte";

describe("idle lock", () => {
  it("is due once the idle minutes have passed without input", () => {
    const start = Date.UTC(2026, 10, 30, 9, 0, 0);
    expect(idleLockDue(start, start + 9 * 60_000 + 59_000, 10)).toBe(false);
    expect(idleLockDue(start, start + 10 * 60_000, 10)).toBe(true);
    expect(idleLockDue(start, start + 2 * 60_000, 2)).toBe(true);
  });

  it("locks on Ctrl+L or Cmd+L only", () => {
    const key = { key: "l", ctrlKey: false, metaKey: false, altKey: false, shiftKey: false };
    expect(isLockShortcut({ ...key, ctrlKey: true })).toBe(true);
    expect(isLockShortcut({ ...key, metaKey: true, key: "L" })).toBe(true);
    expect(isLockShortcut(key)).toBe(false);
    expect(isLockShortcut({ ...key, ctrlKey: true, shiftKey: true })).toBe(false);
    expect(isLockShortcut({ ...key, ctrlKey: true, key: "k" })).toBe(false);
  });
});
