/**
 * Calendar arithmetic for the board. Dates are the server's `YYYY-MM-DD`
 * strings (a plain date, no time zone): everything here works on UTC
 * midnights so a daylight-saving change never shifts a day.
 */

export type IsoDate = string;

function parse(date: IsoDate): Date {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

function format(date: Date): IsoDate {
  return date.toISOString().slice(0, 10);
}

export function addDays(date: IsoDate, days: number): IsoDate {
  const d = parse(date);
  d.setUTCDate(d.getUTCDate() + days);
  return format(d);
}

/** The Monday of the week `date` is in (ops plan Monday to Sunday). */
export function weekStart(date: IsoDate): IsoDate {
  const weekday = (parse(date).getUTCDay() + 6) % 7; // Monday = 0
  return addDays(date, -weekday);
}

/** The seven days of the week starting at `monday`. */
export function weekDays(monday: IsoDate): IsoDate[] {
  return Array.from({ length: 7 }, (_, i) => addDays(monday, i));
}

/** Today in the browser's own time zone (what the person at the desk calls today). */
export function today(now: Date = new Date()): IsoDate {
  const y = now.getFullYear();
  const m = String(now.getMonth() + 1).padStart(2, "0");
  const d = String(now.getDate()).padStart(2, "0");
  return `${y}-${m}-${d}`;
}

const dayName = new Intl.DateTimeFormat("en-GB", { weekday: "short", timeZone: "UTC" });
const dayMonth = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
const longDate = new Intl.DateTimeFormat("en-GB", { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });

/** "Mon", "12 Jan". */
export function dayLabel(date: IsoDate): { weekday: string; day: string } {
  const d = parse(date);
  return { weekday: dayName.format(d), day: dayMonth.format(d) };
}

/** "Monday 12 January 2026". */
export function longDateLabel(date: IsoDate): string {
  return longDate.format(parse(date));
}

/** "12 – 18 Jan 2026" for the week starting at `monday`. */
export function weekLabel(monday: IsoDate): string {
  const start = parse(monday);
  const end = parse(addDays(monday, 6));
  const sameMonth = start.getUTCMonth() === end.getUTCMonth();
  const startText = sameMonth
    ? String(start.getUTCDate())
    : new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", timeZone: "UTC" }).format(start);
  const endText = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" }).format(end);
  return `${startText} – ${endText}`;
}
