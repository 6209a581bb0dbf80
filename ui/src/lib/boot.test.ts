import { describe, expect, it } from "vitest";
import { takeBootState } from "./boot";
import type { BootState } from "./bindings";

function boot(id: string): BootState {
  return {
    id,
    info: { version: "1.0.0", data_dir: "/tmp/x", default_server_url: null, test_hooks: false, insecure_http_host: null },
    session: null,
    lock: { locked: false, customer_signing: false, must_sign_in: false, failed_unlocks: 0, idle_lock_minutes: 10, can_unlock_offline: false },
    schedule: [],
  };
}

function memoryStorage() {
  const items = new Map<string, string>();
  return { getItem: (k: string) => items.get(k) ?? null, setItem: (k: string, v: string) => void items.set(k, v) };
}

describe("takeBootState", () => {
  it("hands the start facts over once, and not again to a reload of the same start", () => {
    const storage = memoryStorage();
    const win: { __FIELDBOOK_BOOT__?: BootState } = { __FIELDBOOK_BOOT__: boot("a") };
    expect(takeBootState(win, storage)?.id).toBe("a");
    expect(win.__FIELDBOOK_BOOT__).toBeUndefined();
    expect(takeBootState(win, storage)).toBeNull();
    // The page reloaded: the shell's script set the same facts again.
    win.__FIELDBOOK_BOOT__ = boot("a");
    expect(takeBootState(win, storage)).toBeNull();
    // A new start of the app has a new id.
    win.__FIELDBOOK_BOOT__ = boot("b");
    expect(takeBootState(win, storage)?.id).toBe("b");
  });

  it("gives nothing without facts or without a place to note them", () => {
    expect(takeBootState({}, memoryStorage())).toBeNull();
    expect(takeBootState({ __FIELDBOOK_BOOT__: boot("a") }, null)).toBeNull();
    const broken = {
      getItem: () => null,
      setItem: () => {
        throw new Error("quota");
      },
    };
    expect(takeBootState({ __FIELDBOOK_BOOT__: boot("a") }, broken)).toBeNull();
  });
});
