/**
 * The console's only door to the server: every HTTP call goes through here.
 *
 * The session is an HttpOnly cookie the browser sends by itself (same
 * origin); state-changing requests also carry the CSRF token the server
 * gave at sign-in, which a page on another site cannot read.
 */

import type {
  AcceptedHeldWork,
  ChangeEvent,
  HeldWork,
  HeldWorkStatus,
  ConsoleSession,
  CreateSurveyRequest,
  NavCounts,
  OpsInstallationDetail,
  OpsInstallationPage,
  OpsInstallationQuery,
  People,
  PlanInstallationRequest,
  PlannedInstallation,
  ReassignResponse,
  ReviewQueue,
  TransitionRequest,
  UnplannedSurvey,
} from "./bindings";

/** Header of the CSRF token (crates/protocol/src/ops.rs `CSRF_HEADER`). */
const CSRF_HEADER = "x-csrf-token";

/** A failed call, by the server's stable `{code, message}` (or `network` when there was no answer). */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly fields: { field: string; message: string }[] = [],
    readonly retryAfterSecs: number | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

let csrfToken: string | null = null;
let onSignedOut: (() => void) | null = null;

/** Called when the server says the session is gone (expired, revoked): the app shows sign-in. */
export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

async function call<T>(method: Method, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers[CSRF_HEADER] = csrfToken;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (e) {
    throw new ApiError("network", e instanceof Error ? e.message : String(e), 0);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const json: unknown = text ? safeJson(text) : undefined;
  if (!response.ok) {
    const err = (json ?? {}) as { code?: string; message?: string; fields?: { field: string; message: string }[]; retry_after_secs?: number };
    const error = new ApiError(
      err.code ?? (response.status >= 500 ? "internal" : "bad_request"),
      err.message ?? `${response.status} ${response.statusText}`,
      response.status,
      err.fields ?? [],
      err.retry_after_secs ?? null,
    );
    if (error.code === "unauthorized") {
      csrfToken = null;
      onSignedOut?.();
    }
    throw error;
  }
  return json as T;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function query(params: Record<string, string | number | boolean | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "" || value === false) continue;
    search.set(key, String(value));
  }
  const s = search.toString();
  return s ? `?${s}` : "";
}

// ---- session ---------------------------------------------------------------

/** Signs in with an ops account; the server sets the session cookie. */
export async function signIn(username: string, password: string): Promise<ConsoleSession> {
  const session = await call<ConsoleSession>("POST", "/api/v1/ops/session", { username, password });
  csrfToken = session.csrf_token;
  return session;
}

/** The current session, or null when not signed in (on page load). */
export async function currentSession(): Promise<ConsoleSession | null> {
  try {
    const session = await call<ConsoleSession>("GET", "/api/v1/ops/session");
    csrfToken = session.csrf_token;
    return session;
  } catch (e) {
    if (e instanceof ApiError && e.code === "unauthorized") return null;
    throw e;
  }
}

export async function signOut(): Promise<void> {
  await call<void>("DELETE", "/api/v1/ops/session");
  csrfToken = null;
}

// ---- reading ---------------------------------------------------------------

export function installations(q: Partial<OpsInstallationQuery>): Promise<OpsInstallationPage> {
  return call("GET", `/api/v1/ops/installations${query({ ...q })}`);
}

export function installation(id: string): Promise<OpsInstallationDetail> {
  return call("GET", `/api/v1/ops/installations/${encodeURIComponent(id)}`);
}

export function reviewQueue(): Promise<ReviewQueue> {
  return call("GET", "/api/v1/ops/review");
}

export function navCounts(): Promise<NavCounts> {
  return call("GET", "/api/v1/ops/counts");
}

export function unplannedSurveys(): Promise<UnplannedSurvey[]> {
  return call("GET", "/api/v1/ops/surveys/unplanned");
}

export function people(): Promise<People> {
  return call("GET", "/api/v1/ops/people");
}

/** Address of a blob's bytes (photos, videos, the signature image): used directly in <img>/<video>. */
export function blobUrl(sha256: string): string {
  return `/api/v1/blobs/${encodeURIComponent(sha256)}`;
}

/** Address of a blob's 320 px thumbnail (images only). */
export function thumbnailUrl(sha256: string): string {
  return `/api/v1/blobs/${encodeURIComponent(sha256)}/thumbnail`;
}

/** The installation's completion certificate (PDF), as a download. */
export function certificateUrl(installationId: string): string {
  return `/api/v1/ops/installations/${encodeURIComponent(installationId)}/certificate`;
}

// ---- ops actions -------------------------------------------------------------

export function createSurvey(request: CreateSurveyRequest): Promise<UnplannedSurvey> {
  return call("POST", "/api/v1/ops/surveys", request);
}

export function planInstallation(surveyId: string, request: PlanInstallationRequest): Promise<PlannedInstallation> {
  return call("POST", `/api/v1/ops/surveys/${encodeURIComponent(surveyId)}/installation`, request);
}

export function transition(installationId: string, request: TransitionRequest): Promise<unknown> {
  return call("POST", `/api/v1/admin/installations/${encodeURIComponent(installationId)}/transition`, request);
}

export function assign(installationId: string, teamId: string, isPrimary: boolean): Promise<unknown> {
  return call("POST", `/api/v1/admin/installations/${encodeURIComponent(installationId)}/assignments`, {
    team_id: teamId,
    is_primary: isPrimary,
  });
}

export function withdraw(assignmentId: string, reason: string | null): Promise<unknown> {
  return call("POST", `/api/v1/admin/assignments/${encodeURIComponent(assignmentId)}/withdraw`, { reason });
}

export function reassign(assignmentId: string, teamId: string, reason: string | null): Promise<ReassignResponse> {
  return call("POST", `/api/v1/ops/assignments/${encodeURIComponent(assignmentId)}/reassign`, { team_id: teamId, reason });
}

export function revokeSession(sessionId: string): Promise<void> {
  return call("POST", `/api/v1/ops/sessions/${encodeURIComponent(sessionId)}/revoke`);
}

export function revokeDevice(deviceId: string): Promise<unknown> {
  return call("POST", `/api/v1/ops/devices/${encodeURIComponent(deviceId)}/revoke`);
}

// ---- live changes ------------------------------------------------------------

/**
 * Follows the server's change feed (server-sent events, cookie-authenticated):
 * `onchange` gets each new change sequence. EventSource reconnects by itself
 * after a network cut; `onstate` says whether the feed is connected.
 */
export function followChanges(onchange: (event: ChangeEvent) => void, onstate: (live: boolean) => void): () => void {
  const source = new EventSource("/api/v1/ops/changes", { withCredentials: true });
  source.addEventListener("change", (message) => {
    const data = safeJson((message as MessageEvent<string>).data) as ChangeEvent | undefined;
    if (data && typeof data.seq === "number") onchange(data);
  });
  source.onopen = () => onstate(true);
  source.onerror = () => onstate(false);
  return () => source.close();
}

/** Work that arrived after its assignment was withdrawn (held-work's routes), oldest first. */
export function heldWork(filter: { status?: HeldWorkStatus; installation_id?: string }): Promise<HeldWork[]> {
  return call("GET", `/api/v1/admin/held-work${query(filter)}`);
}

/** Attach held work's report and media to its installation (refused when it already has a report). */
export function acceptHeldWork(id: string, note: string | null): Promise<AcceptedHeldWork> {
  return call("POST", `/api/v1/admin/held-work/${encodeURIComponent(id)}/accept`, { note });
}

/** Keep held work on record without attaching it; the reason is shown to the technician. */
export function keepHeldWork(id: string, reason: string): Promise<HeldWork> {
  return call("POST", `/api/v1/admin/held-work/${encodeURIComponent(id)}/keep`, { reason });
}

/** Central Ops send a submitted report back to the technician with what to correct (held-work's route). */
export function sendBack(installationId: string, note: string): Promise<unknown> {
  return call("POST", `/api/v1/admin/installations/${encodeURIComponent(installationId)}/send-back`, { note });
}
