import type { Count, InstallationStatus, TimeSlot, AssignmentStatus } from "./types";

export const STATUS_LABELS: Record<InstallationStatus, string> = {
  planned: "Planned",
  material_pending: "Materials pending",
  material_ready: "Materials ready",
  confirmed: "Confirmed",
  in_progress: "In progress",
  completed: "Completed",
  report_submitted: "Report submitted",
  closed: "Closed",
  rescheduled: "Rescheduled",
  cancelled: "Cancelled",
};

export const ALL_STATUSES = Object.keys(STATUS_LABELS) as InstallationStatus[];

/** Tone of a status badge: what the technician should take from it at a glance. */
export function statusTone(status: InstallationStatus): "neutral" | "info" | "active" | "done" | "warn" | "muted" {
  switch (status) {
    case "confirmed":
      return "info";
    case "in_progress":
      return "active";
    case "completed":
    case "report_submitted":
    case "closed":
      return "done";
    case "rescheduled":
    case "cancelled":
      return "muted";
    case "material_pending":
      return "warn";
    default:
      return "neutral";
  }
}

export const TIME_SLOT_LABELS: Record<TimeSlot, string> = {
  morning: "Morning 08:00–12:00",
  afternoon: "Afternoon 12:00–16:00",
  evening: "Evening 16:00–20:00",
  full_day: "Full day",
};

export const TIME_SLOT_SHORT: Record<TimeSlot, { name: string; window: string }> = {
  morning: { name: "Morning", window: "08:00–12:00" },
  afternoon: { name: "Afternoon", window: "12:00–16:00" },
  evening: { name: "Evening", window: "16:00–20:00" },
  full_day: { name: "Full day", window: "08:00–20:00" },
};

export const ASSIGNMENT_LABELS: Record<AssignmentStatus, string> = {
  assigned: "Waiting for your answer",
  accepted: "Accepted",
  declined: "Declined",
  completed: "Completed",
  withdrawn: "Withdrawn",
};

/** The local calendar date as `YYYY-MM-DD` (not UTC: "today" is the technician's today). */
export function localIsoDate(date: Date): string {
  const y = date.getFullYear();
  const m = String(date.getMonth() + 1).padStart(2, "0");
  const d = String(date.getDate()).padStart(2, "0");
  return `${y}-${m}-${d}`;
}

/** Parses `YYYY-MM-DD` as a local date at midnight. */
export function parseIsoDate(iso: string): Date {
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(y, m - 1, d);
}

export function addDays(iso: string, days: number): string {
  const date = parseIsoDate(iso);
  date.setDate(date.getDate() + days);
  return localIsoDate(date);
}

/** Whole days from `from` to `to` (both `YYYY-MM-DD`). */
export function daysBetween(from: string, to: string): number {
  return Math.round((parseIsoDate(to).getTime() - parseIsoDate(from).getTime()) / 86_400_000);
}

// Dates and numbers in the app's one language, British English, written
// out here rather than with Intl: the first Intl formatter a WebKit page
// makes loads the locale's data, which cost the cold start tens of
// milliseconds before the schedule could show (and the text is fixed).
const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

const twoDigits = (n: number) => String(n).padStart(2, "0");

/** "09:05" (24-hour clock). */
function clockTime(date: Date): string {
  return `${twoDigits(date.getHours())}:${twoDigits(date.getMinutes())}`;
}

/** "Monday, 30 November 2026". */
export function longDate(iso: string): string {
  const date = parseIsoDate(iso);
  return `${WEEKDAYS[date.getDay()]}, ${date.getDate()} ${MONTHS[date.getMonth()]} ${date.getFullYear()}`;
}

/** A count with thousands separators: "4,851". */
export function formatCount(n: number): string {
  const [whole, fraction] = String(n).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return fraction === undefined ? grouped : `${grouped}.${fraction}`;
}

/** "Today", "Tomorrow", "Yesterday", or the long date. */
export function dayLabel(iso: string, today: string): string {
  const delta = daysBetween(today, iso);
  if (delta === 0) return "Today";
  if (delta === 1) return "Tomorrow";
  if (delta === -1) return "Yesterday";
  return longDate(iso);
}

/** "30 Nov 2026, 09:05" (local time). */
export function dateTime(iso: string): string {
  const date = new Date(iso);
  return `${date.getDate()} ${MONTHS[date.getMonth()].slice(0, 3)} ${date.getFullYear()}, ${clockTime(date)}`;
}

/** "just now", "5 min ago", "at 14:03", or the date for anything older than today. */
export function relativeTime(iso: string, now: Date): string {
  const then = new Date(iso);
  const seconds = Math.round((now.getTime() - then.getTime()) / 1000);
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  if (localIsoDate(then) === localIsoDate(now)) return `today at ${clockTime(then)}`;
  return dateTime(iso);
}

export function num(value: Count | null | undefined): number {
  return value == null ? 0 : Number(value);
}

export function bytes(value: Count): string {
  const n = Number(value);
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The file name of a path, for progress messages. */
export function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}
