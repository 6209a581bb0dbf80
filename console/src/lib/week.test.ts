import { describe, expect, it } from "vitest";
import { addDays, weekDays, weekLabel, weekStart } from "./week";

describe("week arithmetic", () => {
  it("finds the Monday of any day, Sunday included", () => {
    expect(weekStart("2026-03-04")).toBe("2026-03-02"); // Wednesday
    expect(weekStart("2026-03-02")).toBe("2026-03-02"); // Monday
    expect(weekStart("2026-03-08")).toBe("2026-03-02"); // Sunday
  });

  it("crosses months, years and daylight-saving changes", () => {
    expect(addDays("2026-12-30", 3)).toBe("2027-01-02");
    expect(weekDays("2026-03-23")).toEqual([
      "2026-03-23", "2026-03-24", "2026-03-25", "2026-03-26", "2026-03-27", "2026-03-28", "2026-03-29",
    ]);
  });

  it("labels a week inside one month and across two", () => {
    expect(weekLabel("2026-03-02")).toBe("2 – 8 Mar 2026");
    expect(weekLabel("2026-03-30")).toBe("30 Mar – 5 Apr 2026");
  });
});
