import { describe, expect, it } from "vitest";
import { newestOnly, stale } from "./newest";

describe("newestOnly", () => {
  it("drops an older answer that arrives after a newer read started", async () => {
    const read = newestOnly();
    let release: (v: string) => void = () => {};
    const slow = read(() => new Promise<string>((r) => (release = r)));
    const fast = read(() => Promise.resolve("new"));
    release("old");
    expect(await fast).toBe("new");
    expect(await slow).toBe(stale);
  });

  it("drops an older failure too, and reports the newest one", async () => {
    const read = newestOnly();
    const old = read(() => Promise.reject(new Error("old")));
    const fresh = read(() => Promise.reject(new Error("fresh")));
    expect(await old).toBe(stale);
    await expect(fresh).rejects.toThrow("fresh");
  });
});
