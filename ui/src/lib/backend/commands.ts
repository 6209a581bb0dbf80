// Typed wrappers over the Tauri commands. Every function rejects with an
// AppError `{code, message, fields?}`. Names, arguments and results come from
// the generated map `Commands` (src-tauri/src/command_list.rs): a command
// renamed or retyped in Rust fails the type check here.
import { Channel, invoke } from "@tauri-apps/api/core";
import type {
  AttachProgress,
  Commands,
  InstallationFlags,
  InstallationMedia,
  InstallationPage,
  InstallationQuery,
  InstallationSummary,
  ListPage,
  ReportDraft,
  SignatureStroke,
  Uuid,
} from "../types";
import { toAppError } from "./errors";

export type CommandName = keyof Commands;
export type CommandArgs<C extends CommandName> = Commands[C]["args"];
export type CommandResult<C extends CommandName> = Commands[C]["result"];

async function call<C extends CommandName>(command: C, args: CommandArgs<C>): Promise<CommandResult<C>> {
  try {
    return await invoke<CommandResult<C>>(command, args);
  } catch (raw) {
    throw toAppError(raw);
  }
}

// ---- session -----------------------------------------------------------------
export const appInfo = () => call("app_info", {});
export const currentSession = () => call("current_session", {});
export const signIn = (serverUrl: string, username: string, password: string) =>
  call("sign_in", { serverUrl, username, password });
export const signOut = (force: boolean) => call("sign_out", { force });

// ---- idle lock and customer signing --------------------------------------------
export const lockStatus = () => call("lock_status", {});
export const lockApp = () => call("lock_app", {});
export const unlockApp = (password: string) => call("unlock_app", { password });
export const setCustomerSigning = (signing: boolean) => call("set_customer_signing", { signing });
export const setIdleLockMinutes = (minutes: number) => call("set_idle_lock_minutes", { minutes });

// ---- installations -----------------------------------------------------------
/** A page with its total; a bare list (a shell without totals) is taken as a page of unknown total. */
export function normalisePage(raw: InstallationPage | InstallationSummary[]): ListPage {
  if (Array.isArray(raw)) return { items: raw, total: null };
  return { items: raw.items, total: raw.total };
}

export const listInstallations = async (query: InstallationQuery): Promise<ListPage> =>
  normalisePage(await call("list_installations", { query }));
export const getInstallation = (id: Uuid) => call("get_installation", { id });
/** The technician's jobs on the server (also those no longer on this device); fails `offline` without a connection. */
export const searchServer = (text: string) => call("search_server", { text });
export const startInstallation = (id: Uuid, overrideReason: string | null) =>
  call("start_installation", { id, overrideReason });
export const finishInstallation = (id: Uuid) => call("finish_installation", { id });
export const couldNotComplete = (id: Uuid, reason: string) =>
  call("could_not_complete", { id, reason });
export const setInstallationFlags = (id: Uuid, flags: InstallationFlags) =>
  call("set_installation_flags", { id, flags });
export const respondToAssignment = (
  assignmentId: Uuid,
  accept: boolean,
  declineReason: string | null,
) => call("respond_to_assignment", { assignmentId, accept, declineReason });

// ---- reports -----------------------------------------------------------------
export const getReportDraft = (installationId: Uuid) =>
  call("get_report_draft", { installationId });
export const saveReportDraft = (draft: ReportDraft) => call("save_report_draft", { draft });
export const signReport = (
  installationId: Uuid,
  pngBase64: string,
  strokes: SignatureStroke[],
  signerName: string,
) => call("sign_report", { installationId, pngBase64, strokes, signerName });
export const submitReport = (installationId: Uuid) =>
  call("submit_report", { installationId });
export const getReport = (installationId: Uuid) =>
  call("get_report", { installationId });

// ---- media -------------------------------------------------------------------
export function attachMedia(
  installationId: Uuid,
  paths: string[],
  onProgress: (progress: AttachProgress) => void,
): Promise<InstallationMedia[]> {
  const channel = new Channel<AttachProgress>();
  channel.onmessage = onProgress;
  return call("attach_media", { installationId, paths, onProgress: channel });
}
export const setMediaCaption = (mediaId: Uuid, caption: string) =>
  call("set_media_caption", { mediaId, caption });
export const removeMedia = (mediaId: Uuid) => call("remove_media", { mediaId });
export const labelOffers = (installationId: Uuid) => call("label_offers", { installationId });
export const makeCertificate = (installationId: Uuid) => call("make_certificate", { installationId });
export const saveCertificateCopy = (installationId: Uuid, path: string) =>
  call("save_certificate_copy", { installationId, path });
export const certificatePages = (installationId: Uuid) => call("certificate_pages", { installationId });

// ---- sync --------------------------------------------------------------------
export const syncStatus = () => call("sync_status", {});
export const syncNow = () => call("sync_now", {});
export const needsAttention = () => call("needs_attention", {});
export const retryOutboxEntry = (mutationId: Uuid) => call("retry_outbox_entry", { mutationId });
export const dismissOutboxEntry = (mutationId: Uuid) =>
  call("dismiss_outbox_entry", { mutationId });

// ---- held work (received after the job left this device's scope) -------------
export const dismissHeldWork = (id: Uuid) => call("dismiss_held_work", { id });

// ---- settings ----------------------------------------------------------------
export const storageUsage = () => call("storage_usage", {});
export const saveDiagnostics = (path: string) => call("save_diagnostics", { path });
export const keyStorage = () => call("key_storage", {});

// ---- updates -----------------------------------------------------------------
export const updateStatus = () => call("update_status", {});
/** Whether installing now is safe: the backend's rule (unsent work, a running sync). */
export const installReadiness = () => call("install_readiness", {});
/** Installs the downloaded update and restarts Fieldbook (after the technician agreed). */
export const installUpdate = () => call("install_update", {});
