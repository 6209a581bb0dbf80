import type { AppError, ErrorCode, FieldError } from "../types";

/** Turns whatever a rejected command gave us into `{code, message, fields}`. */
export function toAppError(raw: unknown): AppError {
  if (raw && typeof raw === "object" && "code" in raw && "message" in raw) {
    const e = raw as { code: unknown; message: unknown; fields?: unknown };
    return {
      // The shell only answers codes of the ErrorCode union (src-tauri/src/error.rs).
      code: String(e.code) as ErrorCode,
      message: String(e.message),
      fields: Array.isArray(e.fields) ? (e.fields as FieldError[]) : null,
    };
  }
  if (typeof raw === "string") {
    // Tauri itself rejects with a plain string (e.g. an unknown command or bad arguments).
    return { code: "internal", message: raw };
  }
  if (raw instanceof Error) return { code: "internal", message: raw.message };
  return { code: "internal", message: "Something went wrong inside Fieldbook." };
}

export function isAppError(value: unknown): value is AppError {
  return !!value && typeof value === "object" && "code" in value && "message" in value;
}
