import "../../app.css";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render } from "vitest-browser-svelte";
import Settings from "./Settings.svelte";
import { installMockBackend, removeMockBackend } from "../../lib/backend/mock/install";
import { smallTargets } from "../../test/touch";

afterEach(async () => {
  await cleanup();
  removeMockBackend();
});

describe("Settings", () => {
  it("Save diagnostics asks where with the save dialog, then says where the file went", async () => {
    const backend = installMockBackend({ jobs: 4 });
    const screen = await render(Settings, { onsignedout: () => {} });
    const button = screen.getByTestId("save-diagnostics");
    await expect.element(button).toHaveTextContent("Save diagnostics…");
    expect(smallTargets()).toEqual([]);

    await button.click();
    await expect.element(screen.getByTestId("diagnostics-saved")).toHaveTextContent(/\/home\/alex\/fieldbook-diagnostics-\d{4}-\d{2}-\d{2}\.zip/);
    const dialog = backend.calls.find((c) => c.cmd === "plugin:dialog|save");
    expect(dialog, "the native save dialog was asked").toBeDefined();
    const saved = backend.calls.find((c) => c.cmd === "save_diagnostics");
    expect(saved?.args.path).toMatch(/^\/home\/alex\/fieldbook-diagnostics-.*\.zip$/);
  });

  it("offers a downloaded update, asks the backend whether installing is safe, and asks the technician", async () => {
    const backend = installMockBackend({ jobs: 4, withUpdate: true });
    backend.readiness = { state: "wait", reason: "2 change(s) or file(s) have not reached the server yet; sync first" };
    const screen = await render(Settings, { onsignedout: () => {} });
    await expect.element(screen.getByTestId("update-available")).toHaveTextContent("Fieldbook 0.2.0 is available");
    await screen.getByTestId("install-update").click();
    await expect.element(screen.getByTestId("install-wait")).toHaveTextContent("have not reached the server yet");
    expect(backend.calls.some((c) => c.cmd === "install_update")).toBe(false);

    backend.readiness = { state: "ready" };
    await screen.getByTestId("install-update").click();
    await screen.getByTestId("install-update-confirm").click();
    await expect.poll(() => backend.installedUpdate).toBe(true);
  });

  it("says the version is current when the server has nothing newer", async () => {
    installMockBackend({ jobs: 4 });
    const screen = await render(Settings, { onsignedout: () => {} });
    await expect.element(screen.getByTestId("update-none")).toHaveTextContent("Fieldbook 0.1.0 is the latest version");
  });

  it("says plainly where the keys are kept, as the shell answers", async () => {
    const backend = installMockBackend({ jobs: 4 });
    backend.keyStorage = {
      kind: "file",
      description: "Keys are kept in a file (/home/alex/.config/fieldbook/keys/1.json) because no keyring is available.",
    };
    const screen = await render(Settings, { onsignedout: () => {} });
    await expect.element(screen.getByTestId("key-storage")).toHaveTextContent("because no keyring is available");
    expect(backend.calls.some((c) => c.cmd === "key_storage")).toBe(true);
  });
});
