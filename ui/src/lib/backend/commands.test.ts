import { afterEach, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import * as backend from "./commands";

afterEach(() => clearMocks());

describe("backend commands", () => {
  it("sends camelCase arguments under the contract's command names", async () => {
    const seen: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      seen.push([cmd, args]);
      return cmd === "list_installations" ? { items: [], total: 0 } : null;
    });
    await backend.signIn("http://127.0.0.1:8787", "alex", "pw");
    await backend.respondToAssignment("a-1", false, "Van broke down");
    await backend.signReport("i-1", "iVBOR", [], "Ada");
    await backend.listInstallations({ from_date: null, to_date: null, statuses: [], text: "", limit: 10, offset: 0 });
    await backend.retryOutboxEntry("m-1");
    expect(seen).toEqual([
      ["sign_in", { serverUrl: "http://127.0.0.1:8787", username: "alex", password: "pw" }],
      ["respond_to_assignment", { assignmentId: "a-1", accept: false, declineReason: "Van broke down" }],
      ["sign_report", { installationId: "i-1", pngBase64: "iVBOR", strokes: [], signerName: "Ada" }],
      [
        "list_installations",
        { query: { from_date: null, to_date: null, statuses: [], text: "", limit: 10, offset: 0 } },
      ],
      ["retry_outbox_entry", { mutationId: "m-1" }],
    ]);
  });

  it("rejects with {code, message, fields} whatever the shell threw", async () => {
    mockIPC((cmd) => {
      if (cmd === "finish_installation") throw { code: "lifecycle", message: "an installation cannot move", fields: null };
      throw "command sync_now not found";
    });
    await expect(backend.finishInstallation("x")).rejects.toEqual({
      code: "lifecycle",
      message: "an installation cannot move",
      fields: null,
    });
    await expect(backend.syncNow()).rejects.toEqual({ code: "internal", message: "command sync_now not found" });
  });

  it("normalises a bare list and a page with a total", () => {
    expect(backend.normalisePage([])).toEqual({ items: [], total: null });
    expect(backend.normalisePage({ items: [], total: 12 })).toEqual({ items: [], total: 12 });
  });
});
