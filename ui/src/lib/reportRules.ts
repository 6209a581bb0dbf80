// The report's rules as the domain crate states them (crates/domain
// validation.rs, report.rs), run here so the form can say what is missing
// before the technician presses Submit. The store re-checks on submit and its
// field errors win.
import { sha256Hex } from "./sha256";
import type { FieldError, ReportDraft } from "./types";

export const MAX_SERIAL_CHARS = 50;
export const MAX_MODEL_CHARS = 100;
export const MAX_TEXT_CHARS = 20_000;
export const MAX_CAPTION_CHARS = 255;
export const MAX_REASON_CHARS = 1_000;
export const MAX_NAME_CHARS = 200;

/** The order fields appear on the form, so lists read top to bottom. */
export const REPORT_FIELD_ORDER = [
  "charger_serial_number",
  "charger_model",
  "installation_successful",
  "demo_given",
  "issues_encountered",
  "general_notes",
  "customer_signature",
] as const;

export const REPORT_FIELD_LABELS: Record<string, string> = {
  charger_serial_number: "Charger serial number",
  charger_model: "Charger model",
  installation_successful: "Installation successful",
  demo_given: "Demo given",
  issues_encountered: "Issues encountered",
  general_notes: "General notes",
  customer_signature: "Customer signature",
  signer_name: "Signer name",
  caption: "Caption",
};

const chars = (s: string) => [...s].length;
// Control characters other than newline, carriage return and tab.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/u;

function lengthAndControls(field: string, value: string, max: number, singleLine: boolean): FieldError | null {
  const label = REPORT_FIELD_LABELS[field] ?? field;
  const n = chars(value);
  if (n > max) return { field, code: "too_long", message: `${label} is ${n} characters long; the limit is ${max}` };
  const control = value.match(CONTROL);
  if (control) {
    const hex = control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    return {
      field,
      code: "control_characters",
      message: `${label} contains an invisible control character (U+${hex}); retype it`,
    };
  }
  if (singleLine && /[\n\r\t]/.test(value)) {
    return { field, code: "control_characters", message: `${label} must be on one line` };
  }
  return null;
}

/** Problems worth showing while typing (lengths, characters), never "required". */
export function editingProblems(draft: ReportDraft): FieldError[] {
  return [
    lengthAndControls("charger_serial_number", draft.charger_serial_number, MAX_SERIAL_CHARS, true),
    lengthAndControls("charger_model", draft.charger_model, MAX_MODEL_CHARS, true),
    lengthAndControls("issues_encountered", draft.issues_encountered, MAX_TEXT_CHARS, false),
    lengthAndControls("general_notes", draft.general_notes, MAX_TEXT_CHARS, false),
  ].filter((e): e is FieldError => e !== null);
}

/**
 * Everything that stops the report from being submitted, in form order.
 * `signatureMatches` is false when the report changed after the customer signed.
 */
export function missingForSubmit(draft: ReportDraft, signatureMatches: boolean | null): FieldError[] {
  const out: FieldError[] = [];
  if (!draft.charger_serial_number.trim()) {
    out.push({
      field: "charger_serial_number",
      code: "required",
      message: "Enter the serial number printed on the charger's rating plate",
    });
  }
  if (!draft.charger_model.trim()) {
    out.push({ field: "charger_model", code: "required", message: "Enter the model of the installed charger" });
  }
  if (draft.installation_successful === null) {
    out.push({
      field: "installation_successful",
      code: "required",
      message: "Say whether the installation was successful",
    });
  } else if (draft.installation_successful === false && !draft.issues_encountered.trim()) {
    out.push({
      field: "issues_encountered",
      code: "required",
      message: "The installation was not successful: describe the issues",
    });
  }
  out.push(...editingProblems(draft).filter((p) => !out.some((o) => o.field === p.field)));
  if (!draft.customer_signature) {
    out.push({ field: "customer_signature", code: "required", message: "The customer has not signed yet" });
  } else if (signatureMatches === false) {
    out.push({
      field: "customer_signature",
      code: "invalid_format",
      message: "The report changed after the customer signed: ask them to sign again",
    });
  }
  return sortByFormOrder(out);
}

export function sortByFormOrder(errors: FieldError[]): FieldError[] {
  const rank = (f: string) => {
    const i = (REPORT_FIELD_ORDER as readonly string[]).indexOf(f);
    return i < 0 ? REPORT_FIELD_ORDER.length : i;
  };
  return [...errors].sort((a, b) => rank(a.field) - rank(b.field));
}

/** Field name → first message, for showing errors next to inputs. */
export function errorsByField(errors: FieldError[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of errors) if (!(e.field in out)) out[e.field] = e.message;
  return out;
}

/**
 * SHA-256 of the canonical report content, exactly as the domain computes it
 * (`ReportContent::hash`: compact JSON in field order, media hashes sorted and
 * deduplicated). Lets the screen tell at once that a change voided the signature.
 */
export async function reportContentHash(draft: ReportDraft, mediaSha256: string[]): Promise<string> {
  const media = [...new Set(mediaSha256)].sort();
  const content = {
    installation_id: draft.installation_id,
    charger_serial_number: draft.charger_serial_number,
    charger_model: draft.charger_model,
    installation_successful: draft.installation_successful,
    demo_given: draft.demo_given,
    issues_encountered: draft.issues_encountered,
    general_notes: draft.general_notes,
    start_override_reason: draft.start_override_reason,
    media_sha256: media,
  };
  return sha256Hex(new TextEncoder().encode(JSON.stringify(content)));
}

/** Whether the draft's signature still covers what is on screen; null when unsigned. */
export async function signatureStillValid(draft: ReportDraft, mediaSha256: string[]): Promise<boolean | null> {
  if (!draft.customer_signature) return null;
  return (await reportContentHash(draft, mediaSha256)) === draft.customer_signature.content_hash;
}
