import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, render } from "vitest-browser-svelte";
import { emit } from "@tauri-apps/api/event";
import { NO_HANDLER_EVENT } from "../../lib/backend/events";
import Installation from "./Installation.svelte";
import { installMockBackend, removeMockBackend } from "../../lib/backend/mock/install";
import type { MockBackend } from "../../lib/backend/mock/backend";
import type { InstallationStatus } from "../../lib/types";

let backend: MockBackend;

beforeEach(() => {
  backend = installMockBackend({ jobs: 40 });
});
afterEach(async () => {
  await cleanup();
  removeMockBackend();
});

function jobIn(status: InstallationStatus): string {
  return backend.jobs.find((j) => j.installation.status === status)!.installation.id;
}

describe("Installation screen", () => {
  it("says what to do when no app on this computer takes the customer's number or e-mail", async () => {
    const job = backend.jobs.find((j) => j.lead?.phone && j.lead?.email)!;
    const screen = await render(Installation, { id: job.installation.id });
    await expect.element(screen.getByTestId("customer-phone")).toBeVisible();
    await expect.element(screen.getByTestId("no-app")).not.toBeInTheDocument();

    await emit(NO_HANDLER_EVENT, "tel");
    await expect.element(screen.getByTestId("no-app")).toHaveTextContent(`Call ${job.lead!.phone} from your phone`);

    await emit(NO_HANDLER_EVENT, "mailto");
    await expect.element(screen.getByTestId("no-app")).toHaveTextContent(`Write to ${job.lead!.email}`);
  });

  it("starts a confirmed job directly, then offers Finish and Could not complete", async () => {
    const id = jobIn("confirmed");
    const screen = await render(Installation, { id });
    await expect.element(screen.getByTestId("installation-status")).toHaveAttribute("data-status", "confirmed");
    await expect.element(screen.getByTestId("installation-status")).toHaveTextContent("Confirmed");
    await expect.element(screen.getByTestId("action-finish")).not.toBeInTheDocument();
    await screen.getByTestId("action-start").click();
    await expect.element(screen.getByTestId("installation-status")).toHaveAttribute("data-status", "in_progress");
    expect(backend.calls.find((c) => c.cmd === "start_installation")?.args).toEqual({ id, overrideReason: null });
    await expect.element(screen.getByTestId("action-finish")).toBeVisible();
    await expect.element(screen.getByTestId("action-could-not-complete")).toBeVisible();
    await expect.element(screen.getByTestId("action-start")).not.toBeInTheDocument();
  });

  it("asks for a reason before starting a job that is not confirmed", async () => {
    const id = jobIn("material_ready");
    const screen = await render(Installation, { id });
    await screen.getByTestId("action-start").click();
    await expect.element(screen.getByTestId("override-reason")).toBeVisible();
    await screen.getByTestId("confirm-start").click();
    await expect.element(screen.getByRole("alert")).toHaveTextContent("Write the reason");
    expect(backend.calls.some((c) => c.cmd === "start_installation")).toBe(false);

    await screen.getByTestId("override-reason").fill("Customer home today only");
    await screen.getByTestId("confirm-start").click();
    await expect.element(screen.getByTestId("installation-status")).toHaveAttribute("data-status", "in_progress");
    expect(backend.calls.find((c) => c.cmd === "start_installation")?.args).toEqual({
      id,
      overrideReason: "Customer home today only",
    });
    expect(backend.drafts.get(id)?.start_override_reason).toBe("Customer home today only");
  });

  it("sends a job back with the reason when it could not be completed", async () => {
    const id = jobIn("in_progress");
    const screen = await render(Installation, { id });
    await screen.getByTestId("action-could-not-complete").click();
    await screen.getByTestId("reason-input").fill("Main fuse too small for the charger");
    await screen.getByTestId("reason-confirm").click();
    await expect.element(screen.getByTestId("installation-status")).toHaveAttribute("data-status", "rescheduled");
    await expect.element(screen.getByText("Reason given: Main fuse too small for the charger")).toBeVisible();
  });

  it("shows the customer's phone and e-mail as links and answers an assignment", async () => {
    const job = backend.jobs.find((j) => j.assignment.status === "assigned")!;
    job.lead.email = "ada+site@example.com?cc=other@example.com";
    const screen = await render(Installation, { id: job.installation.id });
    const phone = screen.getByRole("link", { name: job.lead.phone });
    await expect.element(phone).toHaveAttribute("href", `tel:${job.lead.phone.replace(/[^\d+]/g, "")}`);
    // The stored text is the address only: no header smuggled into the mail.
    await expect
      .element(screen.getByTestId("customer-email"))
      .toHaveAttribute("href", "mailto:ada%2Bsite@example.com%3Fcc%3Dother@example.com");
    await screen.getByTestId("accept-assignment").click();
    await expect.element(screen.getByTestId("accept-assignment")).not.toBeInTheDocument();
    expect(job.assignment.status).toBe("accepted");
  });
});
