import { describe, expect, it } from "vitest";
import { WindowList, withKept } from "./windowList.svelte";

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

describe("WindowList", () => {
  const nextFrame = () => new Promise<void>((resolve) => requestAnimationFrame(() => resolve()));
  const indexes = (list: WindowList) => list.items.map((item) => item.index);

  it("renders only what is on screen until the first frame is painted, then the rows beyond the edge", async () => {
    const list = new WindowList({ estimateSize: () => 100, getItemKey: (i) => `item-${i}`, overscan: 4 });
    const stop = list.mount();
    try {
      list.update(1_000, 0);
      const onScreen = Math.ceil(window.innerHeight / 100);
      expect(indexes(list)).toEqual([...Array(onScreen).keys()]);

      await nextFrame();
      await nextFrame();
      expect(indexes(list)).toEqual([...Array(onScreen + 4).keys()]);
    } finally {
      stop();
    }
  });

  it("stopped before its first frame, it changes nothing afterwards", async () => {
    const list = new WindowList({ estimateSize: () => 100, getItemKey: (i) => `item-${i}`, overscan: 4 });
    const stop = list.mount();
    list.update(1_000, 0);
    const before = indexes(list);
    stop();
    await nextFrame();
    await nextFrame();
    expect(indexes(list)).toEqual(before);
  });
});
