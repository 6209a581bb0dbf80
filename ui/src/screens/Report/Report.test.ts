import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, render } from "vitest-browser-svelte";
import Report from "./Report.svelte";
import { installMockBackend, removeMockBackend } from "../../lib/backend/mock/install";
import type { MockBackend } from "../../lib/backend/mock/backend";
import { drawStroke } from "../../test/pointer";
import type { ReportDraft } from "../../lib/types";
import { seedTemplate } from "../../test/reportTemplate";

let backend: MockBackend;

beforeEach(() => {
  backend = installMockBackend({ jobs: 12, saveDelayMs: 40 });
});
afterEach(async () => {
  // Unmount first: the screen unlistens its drop handler through the mocked IPC.
  await cleanup();
  removeMockBackend();
});

/** A job the technician has started and finished, ready for its report. */
function completedJob(): string {
  const job = backend.jobs.find((j) => j.installation.status === "confirmed")!;
  job.installation.status = "completed";
  return job.installation.id;
}

function savedDrafts(): ReportDraft[] {
  return backend.calls.filter((c) => c.cmd === "save_report_draft").map((c) => c.args.draft as ReportDraft);
}

describe("Report screen", () => {
  it("autosaves typing in order and ends with what was typed last", async () => {
    const id = completedJob();
    const screen = await render(Report, { id });
    const serial = screen.getByTestId("report-serial");
    await expect.element(serial).toBeVisible();
    await expect.element(screen.getByTestId("autosave-state")).toHaveTextContent("Saved");

    // Type with pauses longer than the debounce, so several saves overlap the slow store.
    for (const value of ["W", "WB-2", "WB-2026", "WB-2026-0042"]) {
      await serial.fill(value);
      await new Promise((r) => setTimeout(r, 420));
    }
    await screen.getByTestId("report-model").fill("Zappi v2.1 7 kW");
    await expect.element(screen.getByTestId("autosave-state")).toHaveTextContent("Saved");

    const drafts = savedDrafts();
    expect(drafts.length).toBeGreaterThanOrEqual(2);
    const serials = drafts.map((d) => d.charger_serial_number);
    // Each save carries at least what the one before it had: never an older value after a newer one.
    for (let i = 1; i < serials.length; i++) expect(serials[i].startsWith(serials[i - 1])).toBe(true);
    expect(drafts[drafts.length - 1]).toMatchObject({
      charger_serial_number: "WB-2026-0042",
      charger_model: "Zappi v2.1 7 kW",
    });
    expect(backend.drafts.get(id)?.charger_model).toBe("Zappi v2.1 7 kW");
  });

  it("lists what is missing, then voids the signature when the report changes after signing", async () => {
    const id = completedJob();
    // The tests and photo checklist are complete (their own tests are in ReportTemplate.test.ts).
    await seedTemplate(backend, id, true);
    const screen = await render(Report, { id });
    const missing = screen.getByTestId("missing-list");
    await expect.element(missing).toHaveTextContent("Charger serial number");
    await expect.element(missing).toHaveTextContent("Customer signature");

    await screen.getByTestId("report-serial").fill("SN-77");
    await screen.getByTestId("report-model").fill("Easee One");
    await screen.getByTestId("report-successful-yes").click();
    await expect.element(missing).not.toHaveTextContent("Charger serial number");
    await expect.element(missing).toHaveTextContent("Customer signature");

    await screen.getByTestId("open-signature").click();
    const canvas = screen.getByTestId("signature-canvas").element();
    await drawStroke(canvas, [[60, 80], [120, 120], [200, 90]]);
    await screen.getByTestId("signature-save").click();
    await expect.element(screen.getByTestId("signature-summary")).toHaveAttribute("data-valid", "true");
    await expect.element(screen.getByTestId("missing-list")).not.toBeInTheDocument();
    // The signature was bound to the saved content: the pending autosave went first.
    expect(backend.drafts.get(id)?.customer_signature?.signer_name).toBeTruthy();

    await screen.getByTestId("report-notes").fill("Customer asked for a longer cable.");
    await expect.element(screen.getByTestId("signature-summary")).toHaveAttribute("data-valid", "false");
    await expect.element(screen.getByTestId("signature-summary")).toHaveTextContent("no longer counts");
    await expect.element(screen.getByTestId("missing-list")).toHaveTextContent("sign again");
  });

  it("submits a complete report and becomes read-only", async () => {
    const id = completedJob();
    await seedTemplate(backend, id, true);
    const screen = await render(Report, { id });
    await screen.getByTestId("report-serial").fill("SN-1");
    await screen.getByTestId("report-model").fill("Ohme Home Pro");
    await screen.getByTestId("report-successful-yes").click();
    await screen.getByTestId("report-demo-given").click();
    await screen.getByTestId("open-signature").click();
    await drawStroke(screen.getByTestId("signature-canvas").element(), [[60, 80], [160, 100]]);
    await screen.getByTestId("signature-save").click();
    await expect.element(screen.getByTestId("signature-summary")).toBeVisible();

    await screen.getByTestId("report-submit").click();
    await screen.getByTestId("submit-confirm").click();
    await expect.element(screen.getByTestId("report-submitted")).toBeVisible();
    await expect.element(screen.getByTestId("report-serial")).toHaveAttribute("readonly");
    await expect.element(screen.getByTestId("report-submit")).not.toBeInTheDocument();
    expect(backend.reports.get(id)).toMatchObject({
      charger_serial_number: "SN-1",
      demo_given: true,
      template: { id: "uk-ev-charger", version: 1 },
    });
    expect(backend.reports.get(id)?.test_results?.zs?.value).toBe("0.48");

    // The certificate is made right after submit, and a copy goes where the save dialog says.
    const certificate = screen.getByTestId("certificate");
    await expect.element(certificate).toHaveTextContent("PDF");
    expect(backend.calls.filter((c) => c.cmd === "make_certificate")).toHaveLength(1);
    await screen.getByTestId("certificate-save").click();
    await expect.element(screen.getByTestId("certificate-saved")).toHaveTextContent(".pdf");
    const saved = backend.calls.find((c) => c.cmd === "save_certificate_copy")!;
    expect(saved.args).toMatchObject({ installationId: id });

    // Shown full screen to the customer: the pages drawn from the PDF.
    await screen.getByTestId("certificate-show").click();
    await expect.element(screen.getByTestId("certificate-view")).toBeVisible();
    await expect.element(screen.getByTestId("certificate-page")).toHaveAttribute("alt", "Page 1 of 1 of the completion certificate");
    await screen.getByTestId("certificate-close").click();
    await expect.element(screen.getByTestId("certificate-view")).not.toBeInTheDocument();
  });

  it("adds files the way the dialog path does, with progress, and removes them", async () => {
    const id = completedJob();
    const screen = await render(Report, { id });
    await screen.getByTestId("media-add").click();
    await expect.poll(() => screen.getByTestId("media-item").elements().length).toBe(3);
    const attach = backend.calls.find((c) => c.cmd === "attach_media")!;
    expect(attach.args).toMatchObject({ installationId: id });
    expect(attach.args.paths).toHaveLength(3);
    await screen.getByTestId("media-caption").first().fill("Charger on the garage wall");
    await screen.getByTestId("report-notes").click(); // blur saves the caption
    await expect.poll(() => backend.media.get(id)?.[0].caption).toBe("Charger on the garage wall");
    await screen.getByTestId("media-remove").first().click();
    await expect.poll(() => screen.getByTestId("media-item").elements().length).toBe(2);
  });

  it("lets the technician finish the installation from the report", async () => {
    const id = backend.jobs.find((j) => j.installation.status === "in_progress")!.installation.id;
    const screen = await render(Report, { id });
    await expect.element(screen.getByTestId("missing-list")).toHaveTextContent("Finish installation");
    await screen.getByRole("button", { name: "Finish installation now" }).click();
    await expect.element(screen.getByTestId("missing-list")).not.toHaveTextContent("Finish installation");
    expect(backend.jobs.find((j) => j.installation.id === id)!.installation.status).toBe("completed");
  });

  it("shows a submitted report that has no local draft, read-only", async () => {
    const id = completedJob();
    backend.reports.set(id, {
      id: "00000000-0000-4000-8000-00000000beef",
      installation_id: id,
      submitted_by: "00000000-0000-4000-8000-0000000000a2",
      charger_serial_number: "FROM-ANOTHER-DEVICE",
      charger_model: "Easee One",
      installation_successful: true,
      demo_given: true,
      customer_signature: null,
      issues_encountered: "",
      general_notes: "Submitted by Sam",
      submitted_at: "2026-11-27T10:00:00Z",
      start_override_reason: null,
      content_hash: "0".repeat(64),
    });
    const screen = await render(Report, { id });
    await expect.element(screen.getByTestId("report-submitted")).toBeVisible();
    await expect.element(screen.getByTestId("report-serial")).toHaveValue("FROM-ANOTHER-DEVICE");
    await expect.element(screen.getByTestId("report-notes")).toHaveValue("Submitted by Sam");
    await expect.element(screen.getByTestId("media-add")).not.toBeInTheDocument();
  });
});

describe("Serial from the label photo", () => {
  it("offers what the label's code says and fills it only on the technician's one tap", async () => {
    const id = completedJob();
    backend.labelOffers.set(id, [
      {
        media_id: "00000000-0000-4000-a000-00000000abcd",
        format: "qr_code",
        serial_number: "EVC-22-0042",
        model: "Pulsar Plus",
      },
    ]);
    const screen = await render(Report, { id });
    const offer = screen.getByTestId("label-offer");
    await expect.element(offer).toHaveTextContent("EVC-22-0042");
    await expect.element(offer).toHaveTextContent("Pulsar Plus");
    // Offered, not filled.
    await expect.element(screen.getByTestId("report-serial")).toHaveValue("");

    await screen.getByTestId("label-offer-use").click();
    await expect.element(screen.getByTestId("report-serial")).toHaveValue("EVC-22-0042");
    await expect.element(screen.getByTestId("report-model")).toHaveValue("Pulsar Plus");
    await expect.element(screen.getByTestId("label-offer")).not.toBeInTheDocument();
    await expect.element(screen.getByTestId("autosave-state")).toHaveTextContent("Saved");
    expect(backend.drafts.get(id)).toMatchObject({
      charger_serial_number: "EVC-22-0042",
      charger_model: "Pulsar Plus",
    });
  });

  it("shows the offer when the background label search finishes, without a reload", async () => {
    const id = completedJob();
    const screen = await render(Report, { id });
    await screen.getByTestId("media-add").click();
    await expect.poll(() => screen.getByTestId("media-item").elements().length).toBe(3);
    // The import returned before any label was read: nothing offered yet.
    expect(screen.getByTestId("label-offer").elements()).toHaveLength(0);

    const photo = backend.media.get(id)![0];
    backend.finishLabelSearch(id, [{ media_id: photo.id, format: "code128", serial_number: "WB-0042178", model: null }]);
    await expect.element(screen.getByTestId("label-offer")).toHaveTextContent("WB-0042178");
    // Another job's search does not touch this screen's offers.
    backend.finishLabelSearch("00000000-0000-4000-a000-0000000000ff", []);
    await expect.element(screen.getByTestId("label-offer")).toHaveTextContent("WB-0042178");
  });
});
