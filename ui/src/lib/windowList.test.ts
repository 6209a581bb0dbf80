import { describe, expect, it } from "vitest";
import { withKept } from "./windowList.svelte";

describe("withKept", () => {
  it("adds the focused item to the rendered range, in order", () => {
    expect(withKept([10, 11, 12], 3, 100)).toEqual([3, 10, 11, 12]);
    expect(withKept([10, 11, 12], 50, 100)).toEqual([10, 11, 12, 50]);
  });
  it("changes nothing when nothing is focused, the item is already rendered, or it is gone", () => {
    expect(withKept([10, 11, 12], null, 100)).toEqual([10, 11, 12]);
    expect(withKept([10, 11, 12], 11, 100)).toEqual([10, 11, 12]);
    expect(withKept([10, 11, 12], 120, 100)).toEqual([10, 11, 12]);
  });
});
