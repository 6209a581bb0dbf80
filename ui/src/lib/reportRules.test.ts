import { describe, expect, it } from "vitest";
import { editingProblems, errorsByField, missingForSubmit, reportContentHash, signatureStillValid } from "./reportRules";
import { sha256HexPure } from "./sha256";
import type { CustomerSignature, ReportDraft } from "./types";

function draft(patch: Partial<ReportDraft> = {}): ReportDraft {
  return {
    installation_id: "00000000-0000-4000-8003-000000000007",
    charger_serial_number: "",
    charger_model: "",
    installation_successful: null,
    demo_given: false,
    issues_encountered: "",
    general_notes: "",
    start_override_reason: null,
    customer_signature: null,
    updated_at: "2026-11-27T14:30:00Z",
    ...patch,
  };
}

const signature = (contentHash: string): CustomerSignature => ({
  png: { sha256: "a".repeat(64), size: 100, mime: "image/png" },
  strokes: [{ pen_color: "black", min_width: 0.5, max_width: 2.5, points: [{ x: 1, y: 2, pressure: 0.5, time: 1 }] }],
  signer_name: "Ada Lovelace",
  signed_at: "2026-11-27T14:31:00Z",
  content_hash: contentHash,
});

describe("missingForSubmit", () => {
  it("lists everything an empty report lacks, in form order, like the domain", () => {
    const fields = missingForSubmit(draft(), null).map((m) => m.field);
    // crates/domain report.rs `empty_draft_lists_everything_missing`
    expect(fields).toEqual(["charger_serial_number", "charger_model", "installation_successful", "customer_signature"]);
  });

  it("needs the issues when the installation was not successful", () => {
    const missing = missingForSubmit(
      draft({ charger_serial_number: "SN-1", charger_model: "Zappi", installation_successful: false }),
      null,
    );
    expect(missing.map((m) => m.field)).toEqual(["issues_encountered", "customer_signature"]);
    expect(missing[0].message).toBe("The installation was not successful: describe the issues");
  });

  it("is empty for a complete, validly signed report; a changed report needs a new signature", () => {
    const complete = draft({
      charger_serial_number: "SN-1",
      charger_model: "Zappi",
      installation_successful: true,
      customer_signature: signature("x"),
    });
    expect(missingForSubmit(complete, true)).toEqual([]);
    const voided = missingForSubmit(complete, false);
    expect(voided).toHaveLength(1);
    expect(voided[0].message).toContain("sign again");
  });

  it("reports lengths and control characters, counting characters not bytes", () => {
    expect(editingProblems(draft({ charger_serial_number: "é".repeat(50) }))).toEqual([]);
    const [tooLong] = editingProblems(draft({ charger_serial_number: "x".repeat(51) }));
    expect(tooLong).toMatchObject({ field: "charger_serial_number", code: "too_long" });
    expect(tooLong.message).toBe("Charger serial number is 51 characters long; the limit is 50");
    const [control] = editingProblems(draft({ general_notes: "bell\u0007" }));
    expect(control.message).toContain("U+0007");
    expect(editingProblems(draft({ general_notes: "line 1\r\nline 2\tend" }))).toEqual([]);
    expect(editingProblems(draft({ charger_model: "two\nlines" }))[0].message).toBe("Charger model must be on one line");
    expect(errorsByField(editingProblems(draft({ charger_model: "m".repeat(101) }))).charger_model).toMatch(/limit is 100/);
  });
});

describe("reportContentHash", () => {
  // Vectors printed by fieldbook-domain's ReportDraft::content_hash for the same content.
  const content = draft({
    charger_serial_number: "WB-2026-0042",
    charger_model: "Wallbox Pulsar Plus 7.4 kW — “quoted” \\ back",
    installation_successful: true,
    demo_given: true,
    general_notes: "Mounted left of the garage door.\nCable in conduit.\tTab é ü 日本",
    start_override_reason: "Customer asked",
  });
  const media = [
    "9b73ce2e5c72e9c8eb35ae3f509ef901b26ed3e9811f0782f3633cceab140918",
    "e5a5555d73bc0e1568d65563abf327bd6c0b9b9dc3336e86e0b17e865e9ee6d2",
    "9b73ce2e5c72e9c8eb35ae3f509ef901b26ed3e9811f0782f3633cceab140918",
  ];

  it("matches the Rust domain's canonical hash", async () => {
    expect(await reportContentHash(content, media)).toBe("4e7bde3c0ca01ef9b40e0e0e279586c45c5e7d66c6696cabf818f7bea8998e7a");
    expect(await reportContentHash(draft(), [])).toBe("4088ab741b78bb564b68c5f632b4ae47bd9a5a9f6d24d5d9d29404467a239edd");
  });

  it("ignores media order and duplicates but not a changed field or a new photo", async () => {
    const hash = await reportContentHash(content, media);
    expect(await reportContentHash(content, [...media].reverse())).toBe(hash);
    expect(await reportContentHash({ ...content, general_notes: content.general_notes + "!" }, media)).not.toBe(hash);
    expect(await reportContentHash(content, [...media, "c".repeat(64)])).not.toBe(hash);
  });

  it("tells whether a signature still covers the report", async () => {
    const hash = await reportContentHash(content, media);
    expect(await signatureStillValid({ ...content, customer_signature: signature(hash) }, media)).toBe(true);
    expect(await signatureStillValid({ ...content, demo_given: false, customer_signature: signature(hash) }, media)).toBe(false);
    expect(await signatureStillValid(content, media)).toBeNull();
  });
});

describe("sha256HexPure (used where WebCrypto is unavailable)", () => {
  it("agrees with WebCrypto on every padding boundary and on the report content", async () => {
    const enc = new TextEncoder();
    expect(sha256HexPure(enc.encode("abc"))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    for (const length of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000]) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 31 + 7) & 0xff);
      const web = [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
        .map((b) => b.toString(16).padStart(2, "0"))
        .join("");
      expect(sha256HexPure(bytes), `length ${length}`).toBe(web);
    }
  });
});
