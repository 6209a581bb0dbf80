import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, render } from "vitest-browser-svelte";
import Report from "./Report.svelte";
import { installMockBackend, removeMockBackend } from "../../lib/backend/mock/install";
import type { MockBackend } from "../../lib/backend/mock/backend";
import { seedTemplate } from "../../test/reportTemplate";

let backend: MockBackend;

beforeEach(() => {
  backend = installMockBackend({ jobs: 12, saveDelayMs: 10 });
});
afterEach(async () => {
  await cleanup();
  removeMockBackend();
});

function completedJob(): string {
  const job = backend.jobs.find((j) => j.installation.status === "confirmed")!;
  job.installation.status = "completed";
  return job.installation.id;
}

describe("Report template sections", () => {
  it("shows the tests that apply and follows the earthing arrangement's conditions", async () => {
    const id = completedJob();
    const screen = await render(Report, { id });
    await expect.element(screen.getByTestId("commissioning-tests")).toBeVisible();
    const missing = screen.getByTestId("missing-list");
    await expect.element(missing).toHaveTextContent("Earthing arrangement");
    await expect.element(missing).toHaveTextContent("Photo “Serial label”");
    // Before an arrangement is chosen, neither Ze nor the electrode applies.
    await expect.element(screen.getByTestId("test-ze")).not.toBeInTheDocument();

    await screen.getByTestId("test-option-earthing_arrangement-tt").click();
    await expect.element(screen.getByTestId("test-earth_electrode_resistance")).toBeVisible();
    await expect.element(screen.getByTestId("test-ze")).not.toBeInTheDocument();
    await expect.element(missing).toHaveTextContent("Earth electrode resistance RA");

    await screen.getByTestId("test-option-earthing_arrangement-tn-c-s").click();
    await expect.element(screen.getByTestId("test-ze")).toBeVisible();
    await expect.element(screen.getByTestId("test-pen_fault_protection")).toBeVisible();
    await expect.element(screen.getByTestId("test-earth_electrode_resistance")).not.toBeInTheDocument();
    expect(backend.drafts.get(id)?.test_results.earthing_arrangement?.value).toBe("tn-c-s");
  });

  it("draws the empty photo slot's camera instead of an emoji that needs an emoji font", async () => {
    const id = completedJob();
    const screen = await render(Report, { id });
    const slot = screen.getByTestId("slot-serial-label");
    await expect.element(slot).toHaveAttribute("data-state", "missing");
    expect(slot.element().querySelector("svg.camera")).not.toBeNull();
    expect(slot.element().textContent).not.toMatch(/\p{Extended_Pictographic}/u);
  });

  it("asks to confirm an unusual reading, and only that value", async () => {
    const id = completedJob();
    await seedTemplate(backend, id, false);
    const screen = await render(Report, { id });
    const zs = screen.getByTestId("test-input-zs");
    await expect.element(zs).toHaveValue("0.48");
    await expect.element(screen.getByTestId("test-zs")).toHaveTextContent("Ω");

    await zs.fill("1.52");
    const confirm = screen.getByTestId("test-confirm-zs");
    await expect.element(confirm).toBeVisible();
    await expect.element(screen.getByTestId("test-zs")).toHaveTextContent("above the usual 1.37 Ω");
    await expect.element(screen.getByTestId("missing-list")).toHaveTextContent("Earth fault loop impedance Zs");

    await confirm.click();
    await expect.element(screen.getByTestId("test-confirmed-zs")).toBeVisible();
    await expect.element(screen.getByTestId("missing-list")).not.toHaveTextContent("Earth fault loop impedance Zs");
    expect(backend.drafts.get(id)?.test_results.zs).toEqual({ value: "1.52", confirmed: "1.52" });
  });

  it("shows a typo next to its field", async () => {
    const id = completedJob();
    await seedTemplate(backend, id, false);
    const screen = await render(Report, { id });
    await screen.getByTestId("test-input-r1_r2").fill("0,27");
    await expect.element(screen.getByTestId("test-r1_r2")).toHaveTextContent("Type a number such as 0.35");
    await expect.element(screen.getByTestId("test-input-r1_r2")).toHaveAttribute("aria-invalid", "true");
  });

  it("fills the photo checklist with the job's photos or a reason", async () => {
    const id = completedJob();
    await seedTemplate(backend, id, false);
    const screen = await render(Report, { id });
    const checklist = screen.getByTestId("photo-checklist");
    await expect.element(checklist).toHaveTextContent("0 of 5 done");
    await expect.element(checklist).toHaveTextContent("Fill the frame with the rating plate");
    await expect.element(screen.getByTestId("slot-choose-charger-wide")).toBeDisabled();

    await screen.getByTestId("media-add").click();
    await expect.poll(() => screen.getByTestId("media-item").elements().length).toBe(3);
    for (const slot of ["charger-wide", "serial-label", "consumer-unit", "earthing"]) {
      await screen.getByTestId(`slot-choose-${slot}`).click();
      await screen.getByTestId("slot-pick").first().click();
      await expect.element(screen.getByTestId(`slot-${slot}`)).toHaveAttribute("data-state", "done");
    }
    // The video is not offered for a photo slot.
    await screen.getByTestId("slot-choose-cable-route").click();
    expect(screen.getByTestId("slot-pick").elements()).toHaveLength(2);
    await screen.getByTestId("slot-none-cable-route").click();
    await expect.element(screen.getByTestId("slot-cable-route")).toHaveAttribute("data-state", "missing");
    await expect.element(screen.getByTestId("slot-cable-route")).toHaveTextContent("Say why");
    await screen.getByTestId("slot-reason-cable-route").fill("Cable runs inside the wall");
    await expect.element(screen.getByTestId("slot-cable-route")).toHaveAttribute("data-state", "done");
    await expect.element(checklist).toHaveTextContent("5 of 5 done");
    await expect.element(screen.getByTestId("missing-list")).not.toHaveTextContent("Photo “");

    const slots = backend.drafts.get(id)!.photo_slots;
    const first = backend.media.get(id)![0].file.sha256;
    expect(slots["charger-wide"]).toEqual({ kind: "photo", sha256: first });
    expect(slots["cable-route"]).toEqual({ kind: "no_photo", reason: "Cable runs inside the wall" });
  });
});
