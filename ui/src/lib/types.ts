// The shapes the Tauri commands exchange with the UI: generated from the Rust
// types with ts-rs (./bindings, committed by the shell; a Rust test fails
// when they are stale). Only UI-side conveniences are defined here.
import type { CommandError, FieldError, InstallationSummary } from "./bindings";

export type {
  AppInfo,
  BootState,
  AssignmentStatus,
  AssignmentWithTeam,
  AttachProgress,
  BlobRef,
  Certificate,
  CommandError,
  Commands,
  ConnectionState,
  CustomerSignature,
  DraftSaved,
  ErrorCode,
  FieldError,
  FieldErrorCode,
  FileAvailability,
  HeldWork,
  HeldWorkStatus,
  Installation,
  InstallationAssignment,
  InstallationDetail,
  InstallationFlags,
  InstallationMedia,
  InstallationPage,
  InstallationQuery,
  InstallationReport,
  LabelOffer,
  LabelsRead,
  CertificatePage,
  InstallationStatus,
  InstallationSummary,
  Lead,
  MediaAvailability,
  MediaType,
  Mutation,
  MutationKind,
  OutboxEntry,
  OutboxState,
  ReportCheck,
  ReportDraft,
  Role,
  Session,
  SignaturePoint,
  SignatureStroke,
  StartAction,
  StorageUsage,
  KeyStorage,
  DiagnosticsSaved,
  UpdateStatus,
  InstallReadiness,
  Survey,
  SyncErrorInfo,
  SyncPhase,
  SyncProgress,
  SyncStatus,
  Team,
  TechnicianActions,
  TimeSlot,
  User,
  ValidationErrors,
  ServerSearchHit,
  LockStatus,
  UnlockOutcome,
  WipeNotice,
  ReportTemplate,
  PhotoSlot,
  SlotFill,
  TestField,
  TestSection,
  TestValue,
  TemplateCheck,
  TemplateRef,
} from "./bindings";

export type Uuid = string;
/** A count or size as the UI may receive it (the bindings say number). */
export type Count = number | bigint;

/** Every error a command rejects with, as the backend wrapper normalises it. */
export type AppError = Omit<CommandError, "fields"> & { fields?: FieldError[] | null };

/** One page of the installation list as the schedule pages through it. */
export interface ListPage {
  items: InstallationSummary[];
  /** All rows matching the query; null if the shell did not say. */
  total: number | null;
}
