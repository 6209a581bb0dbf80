// The shapes the Tauri commands exchange with the UI. These mirror the Rust
// types (crates/domain, crates/store, crates/sync) field for field, in
// snake_case as serde writes them.

export type Uuid = string;
/** `YYYY-MM-DD` */
export type IsoDate = string;
/** RFC 3339 timestamp */
export type IsoDateTime = string;
/** Serialised from u64/i64: a JSON number, whatever the TS binding says. */
export type Count = number | bigint;

export type InstallationStatus =
  | "planned"
  | "material_pending"
  | "material_ready"
  | "confirmed"
  | "in_progress"
  | "completed"
  | "report_submitted"
  | "closed"
  | "rescheduled"
  | "cancelled";

export type TimeSlot = "morning" | "afternoon" | "evening" | "full_day";
export type AssignmentStatus = "assigned" | "accepted" | "declined" | "completed" | "withdrawn";
export type MediaType = "photo" | "video";
export type Role = "ops" | "technician";

export interface User {
  id: Uuid;
  username: string;
  full_name: string;
  role: Role;
}

export interface Session {
  user: User;
  team_ids: Uuid[];
  signed_in_at: IsoDateTime;
}

export interface AppInfo {
  version: string;
  data_dir: string;
  default_server_url: string | null;
  test_hooks: boolean;
}

export interface Installation {
  id: Uuid;
  installation_id: string;
  survey_id: Uuid;
  lead_id: Uuid;
  scheduled_date: IsoDate;
  scheduled_time_slot: TimeSlot;
  status: InstallationStatus;
  material_ready: boolean;
  customer_confirmed: boolean;
  demo_completed: boolean;
  created_by: Uuid;
  created_at: IsoDateTime;
  updated_at: IsoDateTime;
  status_reason: string | null;
  ops_review_note: string | null;
}

export interface InstallationAssignment {
  id: Uuid;
  installation_id: Uuid;
  team_id: Uuid;
  assigned_by: Uuid;
  is_primary: boolean;
  assigned_at: IsoDateTime;
  status: AssignmentStatus;
  decline_reason: string | null;
  responded_at: IsoDateTime | null;
}

export interface Team {
  id: Uuid;
  name: string;
  member_ids: Uuid[];
}

export interface AssignmentWithTeam {
  assignment: InstallationAssignment;
  server_version: Count;
  team: Team | null;
  is_mine: boolean;
}

export interface Lead {
  id: Uuid;
  customer_name: string;
  phone: string;
  email: string;
  address_line1: string;
  address_line2: string;
  city: string;
  postcode: string;
  latitude: number | null;
  longitude: number | null;
  installer_notes: string;
}

export interface Survey {
  id: Uuid;
  lead_id: Uuid;
  approved_at: IsoDateTime;
  surveyor_notes: string;
  recommended_charger_model: string;
  main_fuse_amps: number;
  supply_capacity_kva: number;
  cable_run_length_m: number;
  photos_count: number;
}

export interface BlobRef {
  sha256: string;
  size: Count;
  mime: string;
}

export interface SignaturePoint {
  x: number;
  y: number;
  pressure: number;
  time: number;
}

export interface SignatureStroke {
  pen_color: string;
  min_width: number;
  max_width: number;
  points: SignaturePoint[];
}

export interface CustomerSignature {
  png: BlobRef;
  strokes: SignatureStroke[];
  signer_name: string;
  signed_at: IsoDateTime;
  content_hash: string;
}

export interface ReportDraft {
  installation_id: Uuid;
  charger_serial_number: string;
  charger_model: string;
  installation_successful: boolean | null;
  demo_given: boolean;
  issues_encountered: string;
  general_notes: string;
  start_override_reason: string | null;
  customer_signature: CustomerSignature | null;
  updated_at: IsoDateTime;
}

export interface InstallationReport {
  id: Uuid;
  installation_id: Uuid;
  submitted_by: Uuid;
  charger_serial_number: string;
  charger_model: string;
  installation_successful: boolean;
  demo_given: boolean;
  customer_signature: CustomerSignature | null;
  issues_encountered: string;
  general_notes: string;
  submitted_at: IsoDateTime;
  start_override_reason: string | null;
  content_hash: string;
}

export interface InstallationMedia {
  id: Uuid;
  installation_id: Uuid;
  media_type: MediaType;
  file: BlobRef;
  caption: string;
  uploaded_by: Uuid;
  uploaded_at: IsoDateTime;
}

export interface FileAvailability {
  on_this_device: boolean;
  on_server: boolean | null;
}

export interface MediaAvailability {
  media_id: Uuid;
  file: FileAvailability;
}

export interface InstallationDetail {
  installation: Installation;
  server_version: Count;
  lead: Lead | null;
  survey: Survey | null;
  assignments: AssignmentWithTeam[];
  report_draft: ReportDraft | null;
  report: InstallationReport | null;
  media: InstallationMedia[];
  pending_changes: Count;
  left_scope_at: IsoDateTime | null;
  report_server_version: Count | null;
  report_signature_file: FileAvailability | null;
  report_draft_superseded_by: Uuid | null;
  media_files: MediaAvailability[];
}

export interface InstallationQuery {
  from_date: IsoDate | null;
  to_date: IsoDate | null;
  statuses: InstallationStatus[];
  text: string;
  limit: number;
  offset: number;
}

export interface InstallationSummary {
  id: Uuid;
  installation_id: string;
  scheduled_date: IsoDate;
  scheduled_time_slot: TimeSlot;
  status: InstallationStatus;
  material_ready: boolean;
  customer_confirmed: boolean;
  demo_completed: boolean;
  customer_name: string;
  address_line1: string;
  address_line2: string;
  city: string;
  postcode: string;
  phone: string;
  assignment_status: AssignmentStatus | null;
  has_pending_changes: boolean;
  left_scope: boolean;
  draft_superseded: boolean;
}

/** One page of the installation list, normalised by the backend wrapper. */
export interface InstallationPage {
  items: InstallationSummary[];
  /** All rows matching the query, when the shell reports it. */
  total: number | null;
}

export type FieldErrorCode = "required" | "too_long" | "invalid_format" | "control_characters";

export interface FieldError {
  field: string;
  code: FieldErrorCode;
  message: string;
}

export interface ValidationErrors {
  errors: FieldError[];
}

export interface DraftSaved {
  draft: ReportDraft;
  problems: ValidationErrors;
  signature_matches: boolean | null;
}

export type MutationKind =
  | "installation.start"
  | "installation.finish"
  | "installation.could_not_complete"
  | "installation.set_flags"
  | "assignment.respond"
  | "report.submit"
  | "media.attach"
  | "media.caption"
  | "media.remove";

export type OutboxState = "pending" | "needs_attention";

export interface OutboxEntry {
  mutation_id: Uuid;
  device_id: Uuid;
  sequence: Count;
  kind: MutationKind;
  installation_id: Uuid | null;
  /** `{kind, payload}`; shown only through `kind` and `installation_id`. */
  mutation: unknown;
  base_version: Count | null;
  created_at: IsoDateTime;
  state: OutboxState;
  attempts: number;
  last_error: string | null;
}

export type ConnectionState = "online" | "offline" | "unknown";
export type SyncPhase = "idle" | "pushing" | "pulling" | "uploading";

export interface SyncErrorInfo {
  code: string;
  message: string;
}

export interface SyncProgress {
  items_done: Count;
  items_total: Count;
  bytes_done: Count;
  bytes_total: Count;
}

export interface SyncStatus {
  connection: ConnectionState;
  phase: SyncPhase;
  signed_in: boolean;
  needs_sign_in: boolean;
  pending_mutations: Count;
  pending_blobs: Count;
  pending_blob_bytes: Count;
  needs_attention: Count;
  last_success_at: IsoDateTime | null;
  last_attempt_at: IsoDateTime | null;
  next_attempt_at: IsoDateTime | null;
  last_error: SyncErrorInfo | null;
  progress: SyncProgress | null;
}

export interface StorageUsage {
  database_bytes: Count;
  media_bytes: Count;
  media_files: Count;
}

export interface ImportProgress {
  path: string;
  bytes_done: Count;
  bytes_total: Count;
}

export interface InstallationFlags {
  customer_confirmed: boolean | null;
  demo_completed: boolean | null;
}

/** Every error a command returns. */
export interface AppError {
  code: string;
  message: string;
  fields?: FieldError[] | null;
}
