// Test helpers for the report template: drafts the mock backend has the
// domain's answer for (./backend/mock/domainAnswers.ts).
import type { MockBackend } from "../lib/backend/mock/backend";
import { DEFAULT_TEMPLATE, TEMPLATE_SCENARIOS } from "../lib/backend/mock/domainAnswers";
import type { ReportDraft, SlotFill, TestValue } from "../lib/types";

/** The test results of the default template's complete scenario. */
export function completeTestResults(): Record<string, TestValue> {
  const s = TEMPLATE_SCENARIOS.find(
    (x) =>
      x.check.missing.length === 0 &&
      x.check.invalid.length === 0 &&
      x.check.needs_confirmation.length === 0 &&
      Object.values(x.test_results).every((v) => !v.confirmed),
  )!;
  return structuredClone(s.test_results);
}

/**
 * Saves a draft for `id` through the mock's own command whose test results
 * are complete and, with `slots`, whose every photo slot has a reason.
 */
export async function seedTemplate(backend: MockBackend, id: string, slots: boolean): Promise<void> {
  const photoSlots: Record<string, SlotFill> = {};
  if (slots) {
    for (const slot of DEFAULT_TEMPLATE.photo_slots) {
      if (slot.required.when === "always") photoSlots[slot.key] = { kind: "no_photo", reason: "Test job" };
    }
  }
  const stored = backend.drafts.get(id);
  const draft: ReportDraft = {
    installation_id: id,
    charger_serial_number: stored?.charger_serial_number ?? "",
    charger_model: stored?.charger_model ?? "",
    installation_successful: stored?.installation_successful ?? null,
    demo_given: stored?.demo_given ?? false,
    issues_encountered: "",
    general_notes: "",
    start_override_reason: null,
    customer_signature: null,
    updated_at: new Date().toISOString(),
    template: { id: DEFAULT_TEMPLATE.id, version: DEFAULT_TEMPLATE.version },
    test_results: completeTestResults(),
    photo_slots: photoSlots,
  };
  await backend.handle("save_report_draft", { draft });
}
