// Typed wrappers over the Tauri commands. Every
// function rejects with an AppError `{code, message, fields?}`.
import { Channel, invoke } from "@tauri-apps/api/core";
import type {
  AppInfo,
  DraftSaved,
  AttachProgress,
  InstallationDetail,
  InstallationFlags,
  InstallationMedia,
  InstallationPage,
  InstallationQuery,
  ListPage,
  InstallationReport,
  InstallationSummary,
  OutboxEntry,
  ReportDraft,
  Session,
  SignatureStroke,
  StorageUsage,
  SyncStatus,
  Uuid,
} from "../types";
import { toAppError } from "./errors";

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (raw) {
    throw toAppError(raw);
  }
}

// ---- session -----------------------------------------------------------------
export const appInfo = () => call<AppInfo>("app_info");
export const currentSession = () => call<Session | null>("current_session");
export const signIn = (serverUrl: string, username: string, password: string) =>
  call<Session>("sign_in", { serverUrl, username, password });
export const signOut = (force: boolean) => call<void>("sign_out", { force });

// ---- installations -----------------------------------------------------------
/** A page with its total; a bare list (a shell without totals) is taken as a page of unknown total. */
export function normalisePage(raw: InstallationPage | InstallationSummary[]): ListPage {
  if (Array.isArray(raw)) return { items: raw, total: null };
  return { items: raw.items, total: raw.total };
}

export const listInstallations = async (query: InstallationQuery): Promise<ListPage> =>
  normalisePage(await call<InstallationPage>("list_installations", { query }));
export const getInstallation = (id: Uuid) => call<InstallationDetail>("get_installation", { id });
export const startInstallation = (id: Uuid, overrideReason: string | null) =>
  call<unknown>("start_installation", { id, overrideReason });
export const finishInstallation = (id: Uuid) => call<unknown>("finish_installation", { id });
export const couldNotComplete = (id: Uuid, reason: string) =>
  call<unknown>("could_not_complete", { id, reason });
export const setInstallationFlags = (id: Uuid, flags: InstallationFlags) =>
  call<unknown>("set_installation_flags", { id, flags });
export const respondToAssignment = (
  assignmentId: Uuid,
  accept: boolean,
  declineReason: string | null,
) => call<unknown>("respond_to_assignment", { assignmentId, accept, declineReason });

// ---- reports -----------------------------------------------------------------
export const getReportDraft = (installationId: Uuid) =>
  call<ReportDraft | null>("get_report_draft", { installationId });
export const saveReportDraft = (draft: ReportDraft) => call<DraftSaved>("save_report_draft", { draft });
export const signReport = (
  installationId: Uuid,
  pngBase64: string,
  strokes: SignatureStroke[],
  signerName: string,
) => call<ReportDraft>("sign_report", { installationId, pngBase64, strokes, signerName });
export const submitReport = (installationId: Uuid) =>
  call<InstallationReport>("submit_report", { installationId });
export const getReport = (installationId: Uuid) =>
  call<InstallationReport | null>("get_report", { installationId });

// ---- media -------------------------------------------------------------------
export function attachMedia(
  installationId: Uuid,
  paths: string[],
  onProgress: (progress: AttachProgress) => void,
): Promise<InstallationMedia[]> {
  const channel = new Channel<AttachProgress>();
  channel.onmessage = onProgress;
  return call<InstallationMedia[]>("attach_media", { installationId, paths, onProgress: channel });
}
export const setMediaCaption = (mediaId: Uuid, caption: string) =>
  call<unknown>("set_media_caption", { mediaId, caption });
export const removeMedia = (mediaId: Uuid) => call<void>("remove_media", { mediaId });

// ---- sync --------------------------------------------------------------------
export const syncStatus = () => call<SyncStatus>("sync_status");
export const syncNow = () => call<void>("sync_now");
export const needsAttention = () => call<OutboxEntry[]>("needs_attention");
export const retryOutboxEntry = (mutationId: Uuid) => call<void>("retry_outbox_entry", { mutationId });
export const dismissOutboxEntry = (mutationId: Uuid) =>
  call<void>("dismiss_outbox_entry", { mutationId });

// ---- held work (received after the job left this device's scope) -------------
export const dismissHeldWork = (id: Uuid) => call<boolean>("dismiss_held_work", { id });

// ---- settings ----------------------------------------------------------------
export const storageUsage = () => call<StorageUsage>("storage_usage");
