import { describe, expect, it } from "vitest";
import { Autosave, type AutosaveState } from "./autosave";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A store whose saves take `ms` each and records what arrived in which order. */
function slowStore(ms: number) {
  const written: string[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  const save = async (value: string) => {
    concurrent++;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    await sleep(ms);
    written.push(value);
    concurrent--;
    return value.length;
  };
  return { save, written, maxConcurrent: () => maxConcurrent };
}

describe("Autosave", () => {
  it("coalesces quick typing into one save of the newest value", async () => {
    const store = slowStore(5);
    const autosave = new Autosave({ save: store.save, delayMs: 40 });
    for (const v of ["S", "SN", "SN-", "SN-1"]) {
      autosave.schedule(v);
      await sleep(5);
    }
    expect(autosave.state).toBe("pending");
    await sleep(120);
    expect(store.written).toEqual(["SN-1"]);
    expect(autosave.state).toBe("saved");
  });

  it("never overlaps saves and writes the last value last", async () => {
    const store = slowStore(60);
    const autosave = new Autosave({ save: store.save, delayMs: 10 });
    autosave.schedule("a");
    await sleep(25); // "a" is being saved now
    autosave.schedule("ab");
    await sleep(25);
    autosave.schedule("abc"); // typed while "a" is still in flight
    await autosave.flush();
    expect(store.maxConcurrent()).toBe(1);
    expect(store.written[store.written.length - 1]).toBe("abc");
    expect(store.written).toEqual(["a", "abc"]);
    expect(autosave.state).toBe("saved");
  });

  it("flush saves immediately and resolves once written", async () => {
    const store = slowStore(5);
    const autosave = new Autosave({ save: store.save, delayMs: 10_000 });
    autosave.schedule("typed");
    await autosave.flush();
    expect(store.written).toEqual(["typed"]);
  });

  it("reports pending → saving → saved", async () => {
    const states: AutosaveState[] = [];
    const store = slowStore(10);
    const autosave = new Autosave({ save: store.save, delayMs: 5, onState: (s) => states.push(s) });
    autosave.schedule("x");
    await sleep(60);
    expect(states).toEqual(["pending", "saving", "saved"]);
  });

  it("keeps a value whose save failed and writes it on retry", async () => {
    let fail = true;
    const written: string[] = [];
    const errors: unknown[] = [];
    const autosave = new Autosave({
      save: async (v: string) => {
        if (fail) throw { code: "database", message: "disk full" };
        written.push(v);
      },
      delayMs: 5,
      onError: (e) => errors.push(e),
    });
    autosave.schedule("notes");
    await sleep(30);
    expect(autosave.state).toBe("error");
    expect(errors).toHaveLength(1);
    await expect(autosave.flush()).rejects.toMatchObject({ code: "database" });
    fail = false;
    await autosave.retry();
    expect(written).toEqual(["notes"]);
    expect(autosave.state).toBe("saved");
  });
});
