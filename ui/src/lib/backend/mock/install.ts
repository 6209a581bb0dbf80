import { clearMocks, mockIPC, mockWindows } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import { LABELS_READ_EVENT, SYNC_STATUS_EVENT } from "../events";
import { MockBackend, type MockOptions } from "./backend";

/**
 * Routes every `invoke` to an in-memory MockBackend. Options default from the
 * page's query string in the browser preview: `?jobs=10000&signedOut=1&pending=1&held=1&update=1`.
 */
export function installMockBackend(options?: MockOptions): MockBackend {
  const params = typeof location === "undefined" ? new URLSearchParams() : new URLSearchParams(location.search);
  const backend = new MockBackend(
    options ?? {
      jobs: params.has("jobs") ? Number(params.get("jobs")) : 60,
      signedIn: !params.has("signedOut"),
      withPendingWork: params.has("pending"),
      withHeldWork: params.has("held"),
      connection: params.get("connection") === "offline" ? "offline" : "online",
      withUpdate: params.has("update"),
    },
  );
  mockWindows("main");
  mockIPC((cmd, args) => backend.handle(cmd, args), { shouldMockEvents: true });
  backend.emitStatus = (status) => void emit(SYNC_STATUS_EVENT, status);
  backend.emitLabelsRead = (read) => void emit(LABELS_READ_EVENT, read);
  return backend;
}

export function removeMockBackend(): void {
  clearMocks();
}
