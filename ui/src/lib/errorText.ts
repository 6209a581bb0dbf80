import type { AppError, SyncErrorInfo } from "./types";

/**
 * What to tell a person about an error: the store/sync message already says
 * what happened and what to do; for codes where the raw message is technical
 * we say it in plain words. A command's error has an `ErrorCode`; the sync
 * status's last error may also carry an upload's own code (any string).
 */
export function errorText(error: AppError | SyncErrorInfo, context?: "sign_in"): string {
  switch (error.code) {
    case "bad_credentials":
      return "The username or password is not right. Check them and try again.";
    case "offline":
      return context === "sign_in"
        ? "Fieldbook cannot reach the server. Check the server address and your connection, then try again. Signing in the first time needs a connection."
        : "You are offline. Your work is saved on this computer and will be sent when the connection is back.";
    case "invalid_server_url":
      return "The server address is not valid. It should look like https://fieldbook.example.com.";
    case "server_error":
      return "The server had a problem. Try again in a few minutes; if it keeps happening, contact Central Ops.";
    case "unauthorized":
      return "Your session has expired. Sign in again to keep syncing; nothing on this computer is lost.";
    case "internal":
      return `Something went wrong inside Fieldbook (${error.message}). Try again; if it keeps happening, restart Fieldbook.`;
    default:
      return capitalise(error.message);
  }
}

function capitalise(message: string): string {
  if (!message) return "Something went wrong. Try again.";
  const text = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}
