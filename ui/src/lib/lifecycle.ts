// Which lifecycle moves a technician may make now (crates/domain lifecycle.rs).
import type { InstallationStatus } from "./types";

export interface TechnicianActions {
  /** "Start installation" is possible; `needsOverride` means the "start anyway" path with a reason. */
  start: { needsOverride: boolean } | null;
  finish: boolean;
  couldNotComplete: boolean;
}

const START_ANYWAY_FROM: InstallationStatus[] = ["planned", "material_pending", "material_ready"];

export function technicianActions(status: InstallationStatus): TechnicianActions {
  return {
    start:
      status === "confirmed"
        ? { needsOverride: false }
        : START_ANYWAY_FROM.includes(status)
          ? { needsOverride: true }
          : null,
    finish: status === "in_progress",
    couldNotComplete: status === "in_progress",
  };
}

/** The report can be opened once work has begun on site. */
export function reportAvailable(status: InstallationStatus, hasDraftOrReport: boolean): boolean {
  return hasDraftOrReport || ["in_progress", "completed", "report_submitted", "closed"].includes(status);
}

/** A draft can be submitted only after "Finish installation". */
export function canSubmitReport(status: InstallationStatus): boolean {
  return status === "completed";
}
