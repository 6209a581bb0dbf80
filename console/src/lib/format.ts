import type { AssignmentStatus, InstallationStatus, TimeSlot } from "./bindings";

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

/** In lifecycle order, for tabs and legends. */
export const ALL_STATUSES = Object.keys(STATUS_LABELS) as InstallationStatus[];

export type Tone = "neutral" | "info" | "active" | "done" | "warn" | "muted" | "review";

/** What ops should take from a status at a glance (colour only; the label always says it). */
export function statusTone(status: InstallationStatus): Tone {
  switch (status) {
    case "confirmed":
    case "material_ready":
      return "info";
    case "in_progress":
      return "active";
    case "report_submitted":
      return "review";
    case "completed":
    case "closed":
      return "done";
    case "rescheduled":
    case "cancelled":
      return "muted";
    case "material_pending":
      return "warn";
    case "planned":
      return "neutral";
  }
}

export const SLOT_LABELS: Record<TimeSlot, string> = {
  morning: "Morning",
  afternoon: "Afternoon",
  evening: "Evening",
  full_day: "Full day",
};

export const SLOT_WINDOWS: Record<TimeSlot, string> = {
  morning: "08:00–12:00",
  afternoon: "12:00–16:00",
  evening: "16:00–20:00",
  full_day: "08:00–20:00",
};

export const ALL_SLOTS = Object.keys(SLOT_LABELS) as TimeSlot[];

export const ASSIGNMENT_LABELS: Record<AssignmentStatus, string> = {
  assigned: "Awaiting answer",
  accepted: "Accepted",
  declined: "Declined",
  completed: "Completed",
  withdrawn: "Withdrawn",
};

/** The button label of an ops move to `status`. */
export const MOVE_LABELS: Record<InstallationStatus, string> = {
  planned: "Back to planned",
  material_pending: "Materials pending",
  material_ready: "Materials ready",
  confirmed: "Customer confirmed",
  in_progress: "Mark in progress",
  completed: "Send back to the technician…",
  report_submitted: "Mark report submitted",
  closed: "Close installation",
  rescheduled: "Reschedule…",
  cancelled: "Cancel…",
};

const dateTime = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
const shortDate = new Intl.DateTimeFormat("en-GB", { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });

/** "12 Mar 2026, 14:05" in the browser's time zone. */
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : dateTime.format(d);
}

/** "Thu 12 Mar" for a plain `YYYY-MM-DD` date. */
export function formatDate(date: string): string {
  const d = new Date(`${date}T00:00:00Z`);
  return Number.isNaN(d.getTime()) ? date : shortDate.format(d);
}

/** "3 min ago", "2 h ago", "5 days ago". */
export function ago(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "never";
  const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  const days = Math.floor(seconds / 86400);
  return days === 1 ? "yesterday" : `${days} days ago`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

export function shortHash(sha: string | null | undefined): string {
  return sha ? `${sha.slice(0, 10)}…${sha.slice(-6)}` : "—";
}
