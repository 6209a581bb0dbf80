import { ApiError } from "./api";

/** What a person at the desk reads when something fails: what happened, then what to do. */
export type ErrorText = { what: string; todo: string };

export function describeError(error: unknown): ErrorText {
  if (error instanceof ApiError) {
    switch (error.code) {
      case "network":
        return {
          what: "The Fieldbook server did not answer.",
          todo: "Check that the server is running and that this computer is online, then try again.",
        };
      case "unauthorized":
        return { what: "Your session has ended.", todo: "Sign in again; nothing you saved is lost." };
      case "forbidden":
        return {
          what: "This account may not do that.",
          todo: "The console is for Central Ops accounts: sign in with an ops account.",
        };
      case "not_found":
        return { what: error.message || "It is not there any more.", todo: "Go back to the list and reload it: someone may have changed it." };
      case "conflict":
        return { what: error.message, todo: "The screen now shows the current state: check it and try again." };
      case "too_many_attempts":
        return {
          what: "Too many attempts.",
          todo: error.retryAfterSecs ? `Wait ${error.retryAfterSecs} s and try again.` : "Wait a minute and try again.",
        };
      case "internal":
        return { what: "The server had a problem.", todo: "Try again; if it keeps happening, look at the server log." };
      default:
        return splitMessage(error.message);
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  return { what: `Something went wrong in the console: ${message}.`, todo: "Reload the page and try again." };
}

/**
 * The server's messages say what happened and what to do in one sentence
 * pair ("X is not allowed; do Y"). Split them where they already say so.
 */
function splitMessage(message: string): ErrorText {
  const text = message.trim() || "The request was refused.";
  const cut = text.indexOf("; ");
  if (cut > 0) return { what: sentence(text.slice(0, cut)), todo: sentence(text.slice(cut + 2)) };
  return { what: sentence(text), todo: "Correct it and try again." };
}

function sentence(text: string): string {
  const s = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}
