// The idle lock through the real app: sign in (which stores the offline
// password verifier) → Ctrl+L locks → only the lock screen is in the page →
// a wrong password is refused with the tries left → closing the window
// quits with the database whole in its file (the write-ahead log emptied) →
// a restart while locked opens locked → the right password unlocks offline →
// a restart offline still says when the device last synced.
//
// The lock screen and the header after the restart offline are
// photographed at 1366x768 into docs/screenshots/.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AppUnderTest } from "../lib/app.mjs";
import { waitFor } from "../lib/processes.mjs";
import { DemoServer } from "../lib/server.mjs";
import { Person } from "../lib/ui.mjs";

const TECHNICIAN = { username: "alex", password: "alex-demo-password" };

describe("lock screen", { timeout: 10 * 60_000 }, () => {
  const workDir = mkdtempSync(join(tmpdir(), "fieldbook-e2e-lock-"));
  const server = new DemoServer(workDir);
  const env = {
    FIELDBOOK_DATA_DIR: join(workDir, "device"),
    FIELDBOOK_SERVER_URL: "",
    RUST_LOG: "info",
  };
  let app;
  /** @type {Person} */
  let person;
  let failed = false;

  const step = (name, fn) =>
    it(name, async (t) => {
      if (failed) return t.skip("an earlier step failed");
      try {
        await fn(t);
      } catch (err) {
        failed = true;
        await person?.screenshot(`failure-lock-${name.replace(/\W+/g, "-")}`, workDir).catch(() => {});
        throw err;
      }
    });

  async function launch() {
    app = new AppUnderTest({ logFile: join(workDir, "app.log"), env });
    const browser = await app.launch();
    person = new Person(browser);
    await browser.setWindowRect(0, 0, 1366, 768).catch(() => {});
  }

  before(async () => {
    await server.seed();
    await server.start();
    env.FIELDBOOK_SERVER_URL = server.url;
    await launch();
  });

  after(async () => {
    await app?.quit();
    await server.stop();
    if (failed) console.log(`kept ${workDir} (server.log, app.log) for inspection`);
    else rmSync(workDir, { recursive: true, force: true });
  });

  step("sign in", async () => {
    await person.waitVisible("signin-server", 60_000);
    await person.type("signin-username", TECHNICIAN.username);
    await person.type("signin-password", TECHNICIAN.password);
    await person.tap("signin-submit");
    await person.waitVisible("schedule-screen", 30_000);
  });

  step("Ctrl+L shows the lock screen and nothing else", async () => {
    await person.browser.keys(["Control", "l"]);
    await person.waitVisible("lock-screen", 10_000);
    assert.equal(await person.$("schedule-screen").isExisting(), false, "the schedule is still in the page");
    assert.equal(await person.$("sync-indicator").isExisting(), false, "the header is still in the page");
    await person.screenshot("lock-screen");
  });

  step("a wrong password is refused with the tries left", async () => {
    await person.type("unlock-password", "not-my-password");
    await person.tap("unlock-submit");
    const error = await person.waitVisible("unlock-error");
    assert.match(await error.getText(), /4 tries left/);
    await person.screenshot("lock-screen-wrong-password");
  });

  step("closing the window quits with the database whole in its file", async () => {
    // The sign-in's first sync went into SQLite's write-ahead log; the app
    // empties it as it quits, so the next start has no log to read first.
    const log = join(env.FIELDBOOK_DATA_DIR, "fieldbook.sqlite3-wal");
    assert.ok(statSync(log).size > 0, "the first sync is in the log before");
    await app.closeWindow();
    assert.equal(statSync(log, { throwIfNoEntry: false })?.size ?? 0, 0, "the log is empty after the app quit");
    // The log file keeps the app's last lines: it is flushed as the app quits.
    const logs = join(env.FIELDBOOK_DATA_DIR, "logs");
    const newest = readdirSync(logs).filter((f) => f.endsWith(".log")).sort().at(-1);
    const lines = readFileSync(join(logs, newest), "utf8").trimEnd().split("\n");
    assert.match(lines.at(-2), /the database's log is emptied into its file/, lines.slice(-3).join("\n"));
    assert.match(lines.at(-1), /quitting/, lines.slice(-3).join("\n"));
  });

  step("a restart while locked opens locked", async () => {
    await launch();
    await person.waitVisible("lock-screen", 60_000);
    assert.equal(await person.$("schedule-screen").isExisting(), false);
  });

  step("the technician's password unlocks offline", async () => {
    await server.stop();
    await person.type("unlock-password", TECHNICIAN.password);
    await person.tap("unlock-submit");
    await person.waitVisible("schedule-screen", 30_000);
    await server.start();
  });

  step("a restart offline still says when the device last synced", async () => {
    const indicator = () => person.$("sync-indicator");
    // Signed in (and synced) before the first restart.
    await server.stop();
    await app.quit();
    await launch();
    await person.waitVisible("schedule-screen", 60_000);
    await waitFor("the failed sync to show offline", async () => (await indicator().getAttribute("data-connection")) === "offline");
    const label = await indicator().getAttribute("aria-label");
    assert.match(label, /Last synced/, label);
    assert.doesNotMatch(label, /Never synced/, label);
    await person.screenshot("restarted-offline");
    await server.start();
  });
});
