import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { SyncStatus } from "../types";

export const SYNC_STATUS_EVENT = "sync://status";

/** Calls `handler` with every SyncStatus the shell forwards from the engine. */
export function onSyncStatus(handler: (status: SyncStatus) => void): Promise<UnlistenFn> {
  return listen<SyncStatus>(SYNC_STATUS_EVENT, (event) => handler(event.payload));
}
