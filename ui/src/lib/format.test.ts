import { describe, expect, it } from "vitest";
import { dateTime, dayLabel, formatCount, longDate, relativeTime } from "./format";

describe("dates and counts in British English, without Intl", () => {
  it("writes long dates with the weekday", () => {
    expect(longDate("2026-11-30")).toBe("Monday, 30 November 2026");
    expect(longDate("2027-01-03")).toBe("Sunday, 3 January 2027");
    expect(dayLabel("2026-12-01", "2026-11-30")).toBe("Tomorrow");
    expect(dayLabel("2026-12-04", "2026-11-30")).toBe("Friday, 4 December 2026");
  });

  it("writes a date and time, and today's time on a 24-hour clock", () => {
    const at = new Date(2026, 10, 30, 9, 5).toISOString();
    expect(dateTime(at)).toBe("30 Nov 2026, 09:05");
    expect(relativeTime(at, new Date(2026, 10, 30, 17, 45))).toBe("today at 09:05");
  });

  it("groups thousands", () => {
    expect(formatCount(0)).toBe("0");
    expect(formatCount(999)).toBe("999");
    expect(formatCount(4851)).toBe("4,851");
    expect(formatCount(1234567)).toBe("1,234,567");
  });
});
