import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { LabelsRead, SyncStatus, UpdateStatus } from "../types";

export const SYNC_STATUS_EVENT = "sync://status";
export const UPDATE_STATUS_EVENT = "update://status";
export const LABELS_READ_EVENT = "labels://read";
export const NO_HANDLER_EVENT = "navigation://no-handler";

/** Calls `handler` with every UpdateStatus of the background updater. */
export function onUpdateStatus(handler: (status: UpdateStatus) => void): Promise<UnlistenFn> {
  return listen<UpdateStatus>(UPDATE_STATUS_EVENT, (event) => handler(event.payload));
}

/** Calls `handler` with every SyncStatus the shell forwards from the engine. */
export function onSyncStatus(handler: (status: SyncStatus) => void): Promise<UnlistenFn> {
  return listen<SyncStatus>(SYNC_STATUS_EVENT, (event) => handler(event.payload));
}

/**
 * Calls `handler` when the system had no app for a tapped `tel:` or
 * `mailto:` link (src-tauri/src/navigation.rs), with that scheme.
 */
export function onNoHandler(handler: (scheme: "tel" | "mailto") => void): Promise<UnlistenFn> {
  return listen<string>(NO_HANDLER_EVENT, (event) => handler(event.payload === "tel" ? "tel" : "mailto"));
}

/** Calls `handler` each time a photo's label search finished (it runs after the import). */
export function onLabelsRead(handler: (read: LabelsRead) => void): Promise<UnlistenFn> {
  return listen<LabelsRead>(LABELS_READ_EVENT, (event) => handler(event.payload));
}
