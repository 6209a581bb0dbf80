// An in-memory stand-in for the Tauri shell: answers the same commands with
// the same shapes and error codes. Used by the Vitest tests (through mockIPC)
// and by `npm run build:mock`, the browser preview used for screenshots.
//
// It knows no rule of its own. Which moves a technician may make and what a
// report still needs are the domain crate's answers, generated into
// ./domainAnswers.ts (src-tauri/src/mock_answers.rs, stale-checked by a Rust
// test); the mock only looks them up for its job's status and its draft's
// shape. Its own bookkeeping: a signature counts until anything on the draft
// or its media changes after signing.
import { addDays, localIsoDate } from "../../format";
import type { CommandArgs, CommandName, CommandResult } from "../commands";
import type {
  AppError,
  ErrorCode,
  HeldWork,
  InstallReadiness,
  KeyStorage,
  InstallationDetail,
  InstallationMedia,
  InstallationQuery,
  InstallationReport,
  LabelOffer,
  LabelsRead,
  InstallationSummary,
  Mutation,
  OutboxEntry,
  ReportCheck,
  ReportDraft,
  Session,
  SyncStatus,
  LockStatus,
  TechnicianActions,
  UpdateStatus,
} from "../../types";
import { TEAM, TECHNICIAN, makeJobs, type MockJob } from "./data";
import {
  DEFAULT_TEMPLATE,
  REPORT_MISSING_BY_SHAPE,
  REPORT_PROBLEMS,
  REPORT_STATUS_PROBLEM,
  TECHNICIAN_ACTIONS,
  TEMPLATE_SCENARIOS,
} from "./domainAnswers";

export interface MockOptions {
  jobs?: number;
  today?: string;
  signedIn?: boolean;
  /** How long each save_report_draft takes (to test ordering). */
  saveDelayMs?: number;
  /** Start with some unsent work and one refused change. */
  withPendingWork?: boolean;
  /** Start with work held for Central Ops on one job and a report sent back on another. */
  withHeldWork?: boolean;
  connection?: SyncStatus["connection"];
  /** A newer version downloaded and ready to install. */
  withUpdate?: boolean;
}

export interface RecordedCall {
  cmd: string;
  args: Record<string, unknown>;
}

function fail(code: ErrorCode, message: string, fields?: AppError["fields"]): never {
  throw { code, message, fields: fields ?? null } satisfies AppError;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** JSON with object keys sorted, so equal data compares equal as text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The template scenarios by their draft state, for lookup. */
const TEMPLATE_CHECKS = new Map(
  TEMPLATE_SCENARIOS.map((s) => [canonical({ test_results: s.test_results, photo_slots: s.photo_slots }), s.check]),
);

/** A SHA-256-looking hex string derived from text (the mock does not read files). */
function fakeSha(text: string): string {
  let h1 = 0x811c9dc5;
  let out = "";
  for (let round = 0; round < 8; round++) {
    for (let i = 0; i < text.length; i++) h1 = Math.imul(h1 ^ text.charCodeAt(i), 16777619) >>> 0;
    h1 = Math.imul(h1 ^ round, 2246822519) >>> 0;
    out += h1.toString(16).padStart(8, "0");
  }
  return out;
}

/** One function per command of the generated map: a command missing or mistyped here fails the type check. */
type Handlers = { [C in CommandName]: (args: CommandArgs<C>) => Promise<CommandResult<C>> | CommandResult<C> };

export class MockBackend {
  readonly calls: RecordedCall[] = [];
  readonly jobs: MockJob[];
  /** Jobs only the server still has (closed long ago: they left the device by retention). */
  readonly archived: MockJob[];
  session: Session | null;
  drafts = new Map<string, ReportDraft>();
  /** What the label photos of a job say (the mock reads no pixels: tests put offers here). */
  labelOffers = new Map<string, LabelOffer[]>();
  reports = new Map<string, InstallationReport>();
  media = new Map<string, InstallationMedia[]>();
  /** Work the server holds for Central Ops, by installation. */
  heldWork = new Map<string, HeldWork[]>();
  /** Jobs that left this device's scope (kept for their work). */
  leftScope = new Set<string>();
  outbox: OutboxEntry[] = [];
  /** What each draft and its media were when the customer signed. */
  private signedContent = new Map<string, string>();
  status: SyncStatus;
  /** The background updater's state. */
  update: UpdateStatus;
  /**
   * What the shell's rule answers about installing now. Not computed here
   * (the rule is Rust's): tests set the answer they need.
   */
  readiness: InstallReadiness;
  /** Where the shell says the keys are kept (its answer; tests set it). */
  keyStorage: KeyStorage = {
    kind: "os_keyring",
    description: "Keys are kept in this computer's keyring, locked with your desktop sign-in.",
  };
  /** The idle lock as the shell's `lock_status` reports it. */
  lock: LockStatus = {
    locked: false,
    customer_signing: false,
    must_sign_in: false,
    failed_unlocks: 0,
    idle_lock_minutes: 10,
    can_unlock_offline: true,
  };
  /** install_update was accepted (the real shell restarts instead). */
  installedUpdate = false;
  /** Set by the installer: forwards a status to `sync://status` listeners. */
  emitStatus: (status: SyncStatus) => void = () => {};
  /** Set by the installer: forwards a finished label search to `labels://read` listeners. */
  emitLabelsRead: (read: LabelsRead) => void = () => {};
  private readonly saveDelayMs: number;
  private sequence = 0;

  /**
   * What the shell's background label reader does when it finished a photo
   * of the job: the offers change and the screen is told.
   */
  finishLabelSearch(installationId: string, offers: LabelOffer[]): void {
    this.labelOffers.set(installationId, offers);
    const media = this.media.get(installationId) ?? [];
    const mediaId = offers[0]?.media_id ?? media[media.length - 1]?.id ?? "00000000-0000-4000-a000-000000000000";
    this.emitLabelsRead({ installation_id: installationId, media_id: mediaId, codes: offers.length });
  }

  constructor(options: MockOptions = {}) {
    const today = options.today ?? localIsoDate(new Date());
    this.jobs = makeJobs(options.jobs ?? 60, today);
    const old = makeJobs(1, addDays(today, -120))[0];
    this.archived = [
      {
        ...old,
        installation: { ...old.installation, id: "00000000-0000-4000-8000-00000000a001", installation_id: "INS-2026-900001", status: "closed" },
        lead: { ...old.lead, customer_name: "Archie Oldfield" },
      },
    ];
    this.session = options.signedIn === false ? null : { user: TECHNICIAN, team_ids: [TEAM.id], signed_in_at: new Date().toISOString() };
    this.saveDelayMs = options.saveDelayMs ?? 15;
    this.status = {
      connection: options.connection ?? "online",
      phase: "idle",
      signed_in: this.session !== null,
      needs_sign_in: false,
      pending_mutations: 0,
      pending_blobs: 0,
      pending_blob_bytes: 0,
      needs_attention: 0,
      last_success_at: new Date(Date.now() - 4 * 60_000).toISOString(),
      last_attempt_at: new Date(Date.now() - 4 * 60_000).toISOString(),
      next_attempt_at: null,
      last_error: null,
      progress: null,
      first_sync: false,
      pulled_at: null,
      wiped: null,
    };
    this.update = {
      current_version: "0.1.0",
      available_version: options.withUpdate ? "0.2.0" : null,
      notes: options.withUpdate ? "Photos upload faster on weak connections. The schedule remembers its filter." : null,
      bytes_done: options.withUpdate ? 9_437_184 : 0,
      bytes_total: options.withUpdate ? 9_437_184 : 0,
      downloaded: options.withUpdate ?? false,
      paused: false,
      last_error: null,
    };
    this.readiness = options.withUpdate
      ? { state: "ready" }
      : { state: "wait", reason: "no update has been downloaded" };
    if (options.withPendingWork) {
      const job = this.jobs.find((j) => j.installation.status === "confirmed")!;
      const i = job.installation;
      this.queue(
        { kind: "installation.set_flags", payload: { installation_id: i.id, customer_confirmed: true, demo_completed: null, base_customer_confirmed: false, base_demo_completed: false } },
        i.id,
      );
      this.queue({ kind: "media.remove", payload: { media_id: "00000000-0000-4000-a000-000000000001" } }, i.id);
      const refused = this.queue(
        { kind: "installation.start", payload: { installation_id: i.id, expected_from: "confirmed", override_reason: null, at: new Date().toISOString() } },
        i.id,
      );
      refused.state = "needs_attention";
      refused.last_error = "The installation is cancelled, not confirmed: Central Ops cancelled it after you started.";
      this.status.pending_blobs = 2;
      this.status.pending_blob_bytes = 7_340_032;
      this.status.connection = "offline";
      this.recount();
    }
    if (options.withHeldWork) this.seedHeldWork();
  }

  /** One job taken off the team while it was worked offline (its work held), one report sent back. */
  private seedHeldWork(): void {
    const [held, sentBack] = this.jobs.filter((j) => j.installation.status === "completed");
    const heldId = held.installation.id;
    this.leftScope.add(heldId);
    this.heldWork.set(heldId, [
      {
        id: "00000000-0000-4000-a100-000000000001",
        installation_id: heldId,
        status: "waiting",
        message:
          "Central Ops took this job off your team (the assignment was withdrawn or reassigned) before this arrived. It was received and kept, and waits for Central Ops to accept it or keep it on record; their decision will show on this job.",
        decision_reason: null,
        decided_at: null,
        received_at: new Date(Date.now() - 600_000).toISOString(),
      },
    ]);
    sentBack.installation.status_reason = "The serial number does not match the photo of the label";
    const draft = this.ensureDraft(sentBack.installation.id);
    draft.charger_serial_number = "ZP-2026-000123";
    draft.charger_model = "Zappi 7kW";
    draft.installation_successful = true;
  }

  private job(id: unknown): MockJob {
    const job = this.jobs.find((j) => j.installation.id === id);
    if (!job) fail("not_found", `installation ${String(id)} is not on this device; sync and try again`);
    return job;
  }

  private queue(mutation: Mutation, installationId: string | null): OutboxEntry {
    const kind = mutation.kind;
    const entry: OutboxEntry = {
      mutation_id: `00000000-0000-4000-9000-${String(++this.sequence).padStart(12, "0")}`,
      device_id: "00000000-0000-4000-9999-000000000001",
      sequence: this.sequence,
      kind,
      installation_id: installationId,
      mutation,
      base_version: 1,
      created_at: new Date().toISOString(),
      state: "pending",
      attempts: 0,
      last_error: null,
    };
    this.outbox.push(entry);
    this.recount();
    return entry;
  }

  private recount() {
    this.status = {
      ...this.status,
      pending_mutations: this.outbox.filter((e) => e.state === "pending").length,
      needs_attention: this.outbox.filter((e) => e.state === "needs_attention").length,
    };
    this.emitStatus(this.status);
  }

  setStatus(patch: Partial<SyncStatus>) {
    this.status = { ...this.status, ...patch };
    this.emitStatus(this.status);
  }

  private requireSession(): Session {
    if (!this.session) fail("not_signed_in", "nobody is signed in on this device; sign in first");
    return this.session;
  }

  private summary(job: MockJob): InstallationSummary {
    const i = job.installation;
    return {
      id: i.id,
      installation_id: i.installation_id,
      scheduled_date: i.scheduled_date,
      scheduled_time_slot: i.scheduled_time_slot,
      status: i.status,
      material_ready: i.material_ready,
      customer_confirmed: i.customer_confirmed,
      demo_completed: i.demo_completed,
      customer_name: job.lead.customer_name,
      address_line1: job.lead.address_line1,
      address_line2: job.lead.address_line2,
      city: job.lead.city,
      postcode: job.lead.postcode,
      phone: job.lead.phone,
      assignment_status: job.assignment.status,
      has_pending_changes: this.outbox.some((e) => e.installation_id === i.id),
      left_scope: false,
      draft_superseded: false,
    };
  }

  private list(query: InstallationQuery) {
    const words = query.text.toLowerCase().split(/\s+/).filter(Boolean);
    const matching = this.jobs.filter((j) => {
      const i = j.installation;
      if (query.from_date && i.scheduled_date < query.from_date) return false;
      if (query.to_date && i.scheduled_date > query.to_date) return false;
      if (query.statuses.length && !query.statuses.includes(i.status)) return false;
      if (words.length) {
        const text = [j.lead.customer_name, j.lead.address_line1, j.lead.address_line2, j.lead.city, j.lead.postcode, i.installation_id]
          .join("\n")
          .toLowerCase();
        return words.every((w) => text.includes(w));
      }
      return true;
    });
    return {
      items: matching.slice(query.offset, query.offset + query.limit).map((j) => this.summary(j)),
      total: matching.length,
    };
  }

  private actions(id: string): TechnicianActions {
    const hasReport = this.drafts.has(id) || this.reports.has(id);
    const answers = TECHNICIAN_ACTIONS[this.job(id).installation.status];
    return hasReport ? answers.with_report : answers.without_report;
  }

  /** What the draft and its media are now, to tell whether a signature still counts. */
  private content(id: string, draft: ReportDraft): string {
    const { customer_signature: _signature, updated_at: _saved, ...typed } = draft;
    return JSON.stringify([typed, this.mediaHashes(id).sort()]);
  }

  /**
   * The domain's check of the draft's test results and photo slots, looked up
   * among the generated scenarios (a draft state outside them gets the empty
   * draft's answer: the mock cannot judge what the domain did not answer).
   */
  private templateCheck(id: string, draft: ReportDraft) {
    if (!draft.template) return null;
    const attached = new Set(this.mediaHashes(id));
    const photoSlots: Record<string, string> = {};
    for (const [key, fill] of Object.entries(draft.photo_slots)) {
      if (!fill) continue;
      photoSlots[key] =
        fill.kind === "photo"
          ? attached.has(fill.sha256)
            ? "photo"
            : "photo_removed"
          : fill.reason.trim()
            ? "no_photo"
            : "no_photo_blank";
    }
    const testResults: Record<string, { value: string; confirmed?: string | null }> = {};
    for (const [key, v] of Object.entries(draft.test_results)) {
      if (!v || !v.value.trim()) continue;
      testResults[key] = v.confirmed ? { value: v.value, confirmed: v.confirmed } : { value: v.value };
    }
    const found = TEMPLATE_CHECKS.get(canonical({ test_results: testResults, photo_slots: photoSlots }));
    return found ?? TEMPLATE_SCENARIOS[0].check;
  }

  /** The domain's check, looked up for this job's status and this draft's shape. */
  private reportCheck(id: string): ReportCheck {
    const draft = this.drafts.get(id) ?? this.emptyDraft(id);
    const filled = (text: string) => (text.trim() ? "1" : "0");
    const signed = draft.customer_signature;
    const signatureMatches = signed ? this.signedContent.get(id) === this.content(id, draft) : null;
    const shape = [
      filled(draft.charger_serial_number),
      filled(draft.charger_model),
      draft.installation_successful === null ? "n" : draft.installation_successful ? "t" : "f",
      filled(draft.issues_encountered),
      signatureMatches === null ? "n" : signatureMatches ? "v" : "x",
    ].join("");
    const statusProblem = REPORT_STATUS_PROBLEM[this.job(id).installation.status];
    const template = this.templateCheck(id, draft);
    // As the domain lists them: the report's own fields, then what the
    // template needs, then the signature.
    const own = REPORT_MISSING_BY_SHAPE[shape].map((i) => REPORT_PROBLEMS[i]);
    const signature = own.filter((p) => p.field === "customer_signature");
    const blocking = template ? [...template.missing, ...template.invalid, ...template.needs_confirmation] : [];
    return {
      problems: { errors: template ? [...template.invalid] : [] },
      missing: [
        ...(statusProblem ? [statusProblem] : []),
        ...own.filter((p) => p.field !== "customer_signature"),
        ...blocking,
        ...signature,
      ],
      signature_matches: signatureMatches,
      template,
    };
  }

  private detail(id: string): InstallationDetail {
    const job = this.job(id);
    const media = this.media.get(id) ?? [];
    return {
      installation: { ...job.installation },
      server_version: 1,
      lead: job.lead,
      survey: job.survey,
      assignments: [{ assignment: { ...job.assignment }, server_version: 1, team: TEAM, is_mine: true }],
      report_draft: this.drafts.get(id) ?? null,
      report: this.reports.get(id) ?? null,
      media,
      pending_changes: this.outbox.filter((e) => e.installation_id === id).length,
      left_scope_at: this.leftScope.has(id) ? new Date(Date.now() - 3_600_000).toISOString() : null,
      report_server_version: null,
      report_signature_file: null,
      report_draft_superseded_by: null,
      media_files: media.map((m) => ({ media_id: m.id, file: { on_this_device: true, on_server: null } })),
      held_work: this.heldWork.get(id) ?? [],
      actions: this.actions(id),
      report_check: this.reports.has(id) ? null : this.reportCheck(id),
      report_template: DEFAULT_TEMPLATE,
    };
  }

  private emptyDraft(id: string): ReportDraft {
    return {
      installation_id: id,
      charger_serial_number: "",
      charger_model: "",
      installation_successful: null,
      demo_given: false,
      issues_encountered: "",
      general_notes: "",
      start_override_reason: null,
      customer_signature: null,
      updated_at: new Date().toISOString(),
      // Like the store: a new draft is filled against the job's template.
      template: { id: DEFAULT_TEMPLATE.id, version: DEFAULT_TEMPLATE.version },
      test_results: {},
      photo_slots: {},
    };
  }

  private ensureDraft(id: string): ReportDraft {
    let draft = this.drafts.get(id);
    if (!draft) {
      draft = this.emptyDraft(id);
      this.drafts.set(id, draft);
    }
    return draft;
  }

  private refuseIfSubmitted(id: string) {
    if (this.reports.has(id)) fail("report_submitted", "the report for this installation has been submitted and can no longer be changed");
  }

  private mediaHashes(id: string): string[] {
    return (this.media.get(id) ?? []).map((m) => m.file.sha256);
  }

  async handle(cmd: string, raw: unknown): Promise<unknown> {
    const args = (raw ?? {}) as Record<string, unknown>;
    this.calls.push({ cmd, args });
    if (cmd === "plugin:dialog|open") {
      // The preview's stand-in for the native dialog: three photos from the camera roll.
      return ["/home/alex/Pictures/IMG_0412.jpg", "/home/alex/Pictures/IMG_0413.jpg", "/home/alex/Videos/walkthrough.mp4"];
    }
    if (cmd === "plugin:dialog|save") {
      // The preview's stand-in for the native save dialog: the suggested name in the home folder.
      const options = (args.options ?? {}) as { defaultPath?: string };
      return `/home/alex/${options.defaultPath ?? "fieldbook-diagnostics.zip"}`;
    }
    if (!(cmd in this.handlers)) return fail("internal", `command ${cmd} not found`);
    const handler = this.handlers[cmd as CommandName] as (args: unknown) => unknown;
    return handler(args);
  }

  private readonly handlers: Handlers = {
    app_info: () => ({
      version: "0.1.0",
      data_dir: "/home/alex/.local/share/fieldbook",
      default_server_url: "http://127.0.0.1:8787",
      test_hooks: false,
      insecure_http_host: null,
    }),
    current_session: () => this.session,
    sign_in: (args) => {
      if (!args.serverUrl.startsWith("http")) fail("invalid_server_url", "the server address is not a URL");
      if (args.password !== `${args.username}-demo-password`) {
        fail("bad_credentials", "the username or password is wrong");
      }
      this.session = { user: { ...TECHNICIAN, username: args.username }, team_ids: [TEAM.id], signed_in_at: new Date().toISOString() };
      this.setStatus({ signed_in: true, needs_sign_in: false });
      return this.session;
    },
    sign_out: (args) => {
      const unsent = this.outbox.length + Number(this.status.pending_blobs);
      if (unsent > 0 && !args.force) {
        fail("unsynced_work", `${unsent} change(s) and file(s) have not been sent to the server yet; sync first, or sign out anyway`);
      }
      this.session = null;
      this.setStatus({ signed_in: false });
      return null;
    },
    list_installations: (args) => {
      this.requireSession();
      return this.list(args.query);
    },
    get_installation: (args) => this.detail(args.id),
    search_server: (args) => {
      if (this.status.connection === "offline") fail("offline", "The server cannot be reached. Check the connection and try again.");
      const q = args.text.trim().toLowerCase();
      const hit = (j: MockJob, onDevice: boolean) => ({
        id: j.installation.id,
        installation_id: j.installation.installation_id,
        scheduled_date: j.installation.scheduled_date,
        status: j.installation.status,
        customer_name: j.lead.customer_name,
        postcode: j.lead.postcode,
        city: j.lead.city,
        on_device: onDevice,
      });
      const matches = (j: MockJob) =>
        [j.lead.customer_name, j.lead.postcode, j.installation.installation_id].some((t) => t.toLowerCase().includes(q));
      return [...this.archived.filter(matches).map((j) => hit(j, false)), ...this.jobs.filter(matches).map((j) => hit(j, true))].slice(0, 50);
    },
    start_installation: (args) => {
      const job = this.job(args.id);
      const from = job.installation.status;
      const start = this.actions(args.id).start;
      if (!start) return fail("lifecycle", `an installation cannot move from ${from} to in_progress`);
      const reason = args.overrideReason?.trim() ?? "";
      if (start.needs_override && !reason) {
        fail("validation", "override_reason: Override reason is required", [
          { field: "override_reason", code: "required", message: "Override reason is required" },
        ]);
      }
      job.installation.status = "in_progress";
      job.installation.material_ready = true;
      const draft = this.ensureDraft(job.installation.id);
      if (start.needs_override) draft.start_override_reason = reason;
      this.queue(
        {
          kind: "installation.start",
          payload: { installation_id: job.installation.id, expected_from: from, override_reason: start.needs_override ? reason : null, at: new Date().toISOString() },
        },
        job.installation.id,
      );
      return job.installation;
    },
    finish_installation: (args) => {
      const job = this.job(args.id);
      if (!this.actions(args.id).finish) fail("lifecycle", `an installation cannot move from ${job.installation.status} to completed`);
      job.installation.status = "completed";
      this.queue(
        { kind: "installation.finish", payload: { installation_id: job.installation.id, expected_from: "in_progress", at: new Date().toISOString() } },
        job.installation.id,
      );
      return job.installation;
    },
    could_not_complete: (args) => {
      const job = this.job(args.id);
      if (!this.actions(args.id).could_not_complete) {
        fail("lifecycle", `an installation cannot move from ${job.installation.status} to rescheduled`);
      }
      const reason = args.reason.trim();
      if (!reason) fail("validation", "reason: Reason is required", [{ field: "reason", code: "required", message: "Reason is required" }]);
      job.installation.status = "rescheduled";
      job.installation.status_reason = reason;
      this.queue(
        { kind: "installation.could_not_complete", payload: { installation_id: job.installation.id, expected_from: "in_progress", reason, at: new Date().toISOString() } },
        job.installation.id,
      );
      return job.installation;
    },
    set_installation_flags: (args) => {
      const job = this.job(args.id);
      const flags = args.flags;
      if (flags.customer_confirmed != null) job.installation.customer_confirmed = flags.customer_confirmed;
      if (flags.demo_completed != null) job.installation.demo_completed = flags.demo_completed;
      this.queue(
        {
          kind: "installation.set_flags",
          payload: { installation_id: job.installation.id, ...flags, base_customer_confirmed: false, base_demo_completed: false },
        },
        job.installation.id,
      );
      return job.installation;
    },
    respond_to_assignment: (args) => {
      const job = this.jobs.find((j) => j.assignment.id === args.assignmentId);
      if (!job) return fail("not_found", "assignment is not on this device; sync and try again");
      if (job.assignment.status !== "assigned") fail("lifecycle", `this assignment is ${job.assignment.status}; only a newly assigned job can be accepted or declined`);
      job.assignment.status = args.accept ? "accepted" : "declined";
      job.assignment.decline_reason = args.accept ? null : (args.declineReason ?? "");
      this.queue(
        {
          kind: "assignment.respond",
          payload: { assignment_id: job.assignment.id, response: job.assignment.status, reason: job.assignment.decline_reason, at: new Date().toISOString() },
        },
        job.installation.id,
      );
      return job.assignment;
    },
    get_report_draft: (args) => this.drafts.get(args.installationId) ?? null,
    save_report_draft: async (args) => {
      const incoming = args.draft;
      this.job(incoming.installation_id);
      this.refuseIfSubmitted(incoming.installation_id);
      await sleep(this.saveDelayMs);
      const stored = this.drafts.get(incoming.installation_id);
      const draft: ReportDraft = {
        ...incoming,
        customer_signature: stored?.customer_signature ?? null,
        start_override_reason: stored?.start_override_reason ?? null,
        template: stored ? stored.template : this.emptyDraft(incoming.installation_id).template,
        updated_at: new Date().toISOString(),
      };
      this.drafts.set(draft.installation_id, draft);
      return { draft, ...this.reportCheck(draft.installation_id) };
    },
    sign_report: (args) => {
      const id = args.installationId;
      this.refuseIfSubmitted(id);
      const strokes = args.strokes;
      const name = args.signerName.trim();
      if (!name) fail("validation", "signer_name: Signer name is required", [{ field: "signer_name", code: "required", message: "Signer name is required" }]);
      if (strokes.every((s) => s.points.length === 0)) {
        fail("validation", "customer_signature: The signature is empty", [
          { field: "customer_signature", code: "required", message: "The signature is empty: ask the customer to sign" },
        ]);
      }
      const draft = this.ensureDraft(id);
      const png = args.pngBase64;
      draft.customer_signature = {
        png: { sha256: fakeSha(png), size: Math.floor((png.length * 3) / 4), mime: "image/png" },
        strokes,
        signer_name: name,
        signed_at: new Date().toISOString(),
        content_hash: fakeSha(this.content(id, draft)),
      };
      this.signedContent.set(id, this.content(id, draft));
      return draft;
    },
    submit_report: (args) => {
      const id = args.installationId;
      const job = this.job(id);
      this.refuseIfSubmitted(id);
      const draft = this.ensureDraft(id);
      const [first, ...rest] = this.reportCheck(id).missing;
      if (first?.field === "installation_status") fail("lifecycle", `an installation cannot move from ${job.installation.status} to report_submitted`);
      const missing = first ? [first, ...rest] : [];
      if (missing.length) fail("validation", missing.map((m) => `${m.field}: ${m.message}`).join("; "), missing);
      const report: InstallationReport = {
        id: fakeSha(id).slice(0, 8) + "-0000-4000-8000-000000000000",
        installation_id: id,
        submitted_by: this.requireSession().user.id,
        charger_serial_number: draft.charger_serial_number,
        charger_model: draft.charger_model,
        installation_successful: draft.installation_successful ?? false,
        demo_given: draft.demo_given,
        customer_signature: draft.customer_signature,
        issues_encountered: draft.issues_encountered,
        general_notes: draft.general_notes,
        submitted_at: new Date().toISOString(),
        start_override_reason: draft.start_override_reason,
        content_hash: fakeSha(this.content(id, draft)),
        template: draft.template,
        test_results: draft.test_results,
        photo_slots: draft.photo_slots,
      };
      this.reports.set(id, report);
      job.installation.status = "report_submitted";
      job.installation.demo_completed = draft.demo_given;
      this.queue({ kind: "report.submit", payload: { report } }, id);
      return report;
    },
    get_report: (args) => this.reports.get(args.installationId) ?? null,
    make_certificate: (args) => {
      const report = this.reports.get(args.installationId);
      if (!report) return fail("not_found", `submitted report of installation ${args.installationId} is not on this device; sync and try again`);
      return {
        installation_id: report.installation_id,
        file: { sha256: fakeSha(`certificate ${report.content_hash}`), size: 180_000, mime: "application/pdf" },
        report_content_hash: report.content_hash,
        created_at: report.submitted_at,
      };
    },
    certificate_pages: (args) => {
      const report = this.reports.get(args.installationId);
      if (!report) return fail("not_found", "certificate of installation is not on this device");
      return [{ image: { sha256: fakeSha(`certificate page ${report.content_hash}`), size: 240_000, mime: "image/png" }, width: 1190, height: 1683 }];
    },
    save_certificate_copy: (args) => {
      if (!this.reports.has(args.installationId)) return fail("not_found", "certificate of installation is not on this device");
      return args.path.endsWith(".pdf") ? args.path : `${args.path}.pdf`;
    },
    attach_media: async (args) => {
      const id = args.installationId;
      this.job(id);
      this.refuseIfSubmitted(id);
      // mockIPC hands the channel over as the object the page created.
      const channel = args.onProgress as unknown as { onmessage?: (m: unknown) => void } | undefined;
      const added: InstallationMedia[] = [];
      for (const path of args.paths) {
        const size = 2_400_000 + (path.length % 7) * 100_000;
        for (const done of [0, size / 2, size]) {
          channel?.onmessage?.({ path, bytes_done: done, bytes_total: size });
          await sleep(5);
        }
        const item: InstallationMedia = {
          id: `00000000-0000-4000-a000-${fakeSha(path + id).slice(0, 12)}`,
          installation_id: id,
          media_type: /\.(mp4|mov|m4v|webm|mkv|avi)$/i.test(path) ? "video" : "photo",
          file: { sha256: fakeSha(path), size, mime: "image/jpeg" },
          caption: "",
          uploaded_by: this.requireSession().user.id,
          uploaded_at: new Date().toISOString(),
        };
        const list = this.media.get(id) ?? [];
        if (!list.some((m) => m.file.sha256 === item.file.sha256)) list.push(item);
        this.media.set(id, list);
        added.push(item);
        this.queue({ kind: "media.attach", payload: { media: item } }, id);
      }
      this.setStatus({ pending_blobs: Number(this.status.pending_blobs) + added.length });
      return added;
    },
    set_media_caption: (args) => {
      for (const list of this.media.values()) {
        const item = list.find((m) => m.id === args.mediaId);
        if (item) {
          item.caption = args.caption;
          this.queue({ kind: "media.caption", payload: { media_id: item.id, caption: item.caption } }, item.installation_id);
          return item;
        }
      }
      return fail("not_found", "photo or video is not on this device; sync and try again");
    },
    remove_media: (args) => {
      for (const [id, list] of this.media) {
        const index = list.findIndex((m) => m.id === args.mediaId);
        if (index >= 0) {
          this.refuseIfSubmitted(id);
          list.splice(index, 1);
          this.queue({ kind: "media.remove", payload: { media_id: args.mediaId } }, id);
          return null;
        }
      }
      return fail("not_found", "photo or video is not on this device; sync and try again");
    },
    label_offers: (args) => this.labelOffers.get(args.installationId) ?? [],
    sync_status: () => this.status,
    sync_now: () => {
      void this.simulateSync();
      return null;
    },
    needs_attention: () => this.outbox.filter((e) => e.state === "needs_attention"),
    retry_outbox_entry: (args) => {
      const entry = this.outbox.find((e) => e.mutation_id === args.mutationId);
      if (entry) entry.state = "pending";
      this.recount();
      return null;
    },
    dismiss_held_work: (args) => {
      const held = this.heldWork.get(args.id) ?? [];
      const waiting = held.filter((h) => h.status === "waiting");
      this.heldWork.set(args.id, waiting);
      return waiting.length < held.length;
    },
    dismiss_outbox_entry: (args) => {
      const before = this.outbox.length;
      this.outbox = this.outbox.filter((e) => e.mutation_id !== args.mutationId);
      this.recount();
      return this.outbox.length < before;
    },
    storage_usage: () => ({ database_bytes: 18_350_080, media_bytes: 412_090_368, media_files: 57 }),
    key_storage: () => this.keyStorage,
    update_status: () => this.update,
    install_readiness: () => this.readiness,
    install_update: () => {
      if (this.readiness.state === "wait") fail("update_not_ready", this.readiness.reason);
      this.installedUpdate = true;
      return null;
    },
    lock_status: () => this.lock,
    lock_app: () => {
      this.lock = { ...this.lock, locked: this.lock.can_unlock_offline };
      return this.lock;
    },
    unlock_app: ({ password }) => {
      if (!this.lock.locked) return "unlocked";
      if (password === `${this.session?.user.username ?? "alex"}-demo-password`) {
        this.lock = { ...this.lock, locked: false, failed_unlocks: 0 };
        return "unlocked";
      }
      const failed = this.lock.failed_unlocks + 1;
      this.lock = { ...this.lock, failed_unlocks: failed, must_sign_in: failed >= 5, can_unlock_offline: failed < 5 };
      return failed >= 5 ? "must_sign_in" : "wrong_password";
    },
    set_customer_signing: ({ signing }) => {
      this.lock = { ...this.lock, customer_signing: signing };
      return this.lock;
    },
    set_idle_lock_minutes: ({ minutes }) => {
      if (![2, 5, 10, 15, 30].includes(minutes)) fail("protocol", `${minutes} minutes is not an idle lock time Fieldbook offers`);
      this.lock = { ...this.lock, idle_lock_minutes: minutes };
      return this.lock;
    },
    save_diagnostics: ({ path }) => {
      if (!path.trim()) fail("validation", "choose where to save the diagnostics file");
      return {
        path: /\.[^/]+$/.test(path) ? path : `${path}.zip`,
        entries: ["summary.json", "sync-status.json", "database.json", "queues.json", `logs/fieldbook.${localIsoDate(new Date())}.log`],
      };
    },
  };

  /** Walks through the phases like the engine: push, pull, upload, done. */
  private async simulateSync() {
    if (this.status.connection === "offline") {
      this.setStatus({
        last_attempt_at: new Date().toISOString(),
        last_error: { code: "offline", message: "The server cannot be reached. Fieldbook keeps trying; your work is safe here." },
      });
      return;
    }
    const items = this.outbox.filter((e) => e.state === "pending").length;
    const blobBytes = Number(this.status.pending_blob_bytes) || 4_800_000;
    this.setStatus({ phase: "pushing", progress: { items_done: 0, items_total: items, bytes_done: 0, bytes_total: 0 } });
    await sleep(150);
    this.outbox = this.outbox.filter((e) => e.state !== "pending");
    this.recount();
    this.setStatus({ phase: "pulling", progress: { items_done: items, items_total: items, bytes_done: 0, bytes_total: 0 } });
    await sleep(150);
    this.setStatus({ phase: "uploading", progress: { items_done: 0, items_total: Number(this.status.pending_blobs), bytes_done: blobBytes / 2, bytes_total: blobBytes } });
    await sleep(150);
    const now = new Date().toISOString();
    this.setStatus({
      phase: "idle",
      progress: null,
      pending_blobs: 0,
      pending_blob_bytes: 0,
      last_success_at: now,
      last_attempt_at: now,
      last_error: null,
    });
  }
}
