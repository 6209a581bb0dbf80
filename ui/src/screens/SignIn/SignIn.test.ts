import "../../app.css";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render } from "vitest-browser-svelte";
import App from "../../App.svelte";
import { installMockBackend, removeMockBackend } from "../../lib/backend/mock/install";
import { smallTargets } from "../../test/touch";

afterEach(async () => {
  await cleanup();
  removeMockBackend();
});

describe("Sign in", () => {
  it("prefills the server, explains each refusal, then opens the schedule", async () => {
    const backend = installMockBackend({ signedIn: false, jobs: 8 });
    const screen = await render(App, {});
    await expect.element(screen.getByTestId("signin-server")).toHaveValue("http://127.0.0.1:8787");
    expect(smallTargets()).toEqual([]);

    await screen.getByTestId("signin-submit").click();
    await expect.element(screen.getByTestId("signin-error")).toHaveTextContent("Enter your username.");

    await screen.getByTestId("signin-server").fill("fieldbook.example.com");
    await screen.getByTestId("signin-username").fill("alex");
    await screen.getByTestId("signin-password").fill("secret");
    await screen.getByTestId("signin-submit").click();
    await expect.element(screen.getByTestId("signin-error")).toHaveTextContent("must start with http:// or https://");
    expect(backend.calls.some((c) => c.cmd === "sign_in")).toBe(false);

    await screen.getByTestId("signin-server").fill("http://127.0.0.1:8787");
    await screen.getByTestId("signin-submit").click();
    await expect.element(screen.getByTestId("signin-error")).toHaveTextContent("The username or password is not right");
    await expect.element(screen.getByTestId("signin-password")).toHaveAttribute("aria-invalid", "true");

    await screen.getByTestId("signin-password").fill("alex-demo-password");
    await screen.getByTestId("signin-submit").click();
    await expect.element(screen.getByTestId("schedule-screen")).toBeVisible();
    await expect.element(screen.getByTestId("schedule-row").first()).toBeVisible();
    await expect.element(screen.getByTestId("sync-indicator")).toHaveAttribute("data-connection", "online");
  });
});
