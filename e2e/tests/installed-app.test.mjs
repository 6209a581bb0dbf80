// The app as a company installs it: /usr/bin/fieldbook from the .deb (not
// the build tree), against the fieldbook-server the .deb installed and
// started as its systemd unit would. Run by scripts/test-packages.sh, which
// installs both packages, creates the technician with the server's CLI and
// passes everything in the environment:
//
//   FIELDBOOK_APP_BIN         the installed app binary
//   FIELDBOOK_PKG_SERVER_URL  the installed server
//   FIELDBOOK_PKG_USERNAME / FIELDBOOK_PKG_PASSWORD   the technician
//   FIELDBOOK_PKG_CUSTOMER    the customer of the job planned for their team
//   FIELDBOOK_PKG_WORK_DIR    where the app's data and logs go
//   FIELDBOOK_PKG_UPDATE_VERSION  the version the server has published as
//                             an update (signed with the key this build trusts)
//
// Sign in → the schedule shows the planned job → screenshot. Then the update
// loop: Settings shows the published version once it is downloaded and
// verified, "Install and restart…" → confirm; the app installs it (the
// plugin's `dpkg -i`) and restarts itself; the new version opens on the same
// data, still signed in, with the job on its schedule.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AppUnderTest } from "../lib/app.mjs";
import { appBinary, screenshotDir } from "../lib/env.mjs";
import { waitFor } from "../lib/processes.mjs";
import { Person } from "../lib/ui.mjs";

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through scripts/test-packages.sh`);
  return value;
}

const serverUrl = required("FIELDBOOK_PKG_SERVER_URL");
const username = required("FIELDBOOK_PKG_USERNAME");
const password = required("FIELDBOOK_PKG_PASSWORD");
const customer = required("FIELDBOOK_PKG_CUSTOMER");
const workDir = required("FIELDBOOK_PKG_WORK_DIR");
const updateVersion = required("FIELDBOOK_PKG_UPDATE_VERSION");

function installedVersion() {
  return execFileSync("dpkg-query", ["-W", "-f=${Version}", "fieldbook"], { encoding: "utf8" }).trim();
}

/** Pids of installed-app processes (not the build tree's, not other tests'). */
function installedAppPids() {
  try {
    return execFileSync("pgrep", ["-x", "-f", appBinary], { encoding: "utf8" }).split("\n").filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** A row of the schedule naming `customer`, or null. */
async function scheduleRowFor(person, seen) {
  for (const r of await person.$$("schedule-row")) {
    // textContent, not getText(): WebKitWebDriver leaves the
    // customer column out of the rendered text of the row's grid.
    const text = await r.getProperty("textContent");
    seen.push(text);
    if (text.includes(customer)) return r;
  }
  return null;
}

describe("the installed app", { timeout: 5 * 60_000 }, () => {
  let app;
  /** @type {Person} */
  let person;

  async function launch(logName) {
    app = new AppUnderTest({
      logFile: join(workDir, logName),
      env: {
        FIELDBOOK_DATA_DIR: join(workDir, "device"),
        FIELDBOOK_SERVER_URL: serverUrl,
        RUST_LOG: "info",
      },
    });
    const browser = await app.launch();
    person = new Person(browser);
    await browser.setWindowRect(0, 0, 1366, 768).catch(() => {});
  }

  before(async () => {
    assert.ok(appBinary.startsWith("/usr/"), `expected the installed binary, got ${appBinary}`);
    await launch("app.log");
  });

  after(async () => {
    await app?.quit();
  });

  it("signs in against the installed server and shows the technician's job", async () => {
    const serverField = await person.waitVisible("signin-server", 60_000);
    assert.equal(await serverField.getValue(), serverUrl);
    await person.type("signin-username", username);
    await person.type("signin-password", password);
    await person.tap("signin-submit");
    await person.waitVisible("schedule-screen", 30_000);
    let seen = [];
    const row = await waitFor(
      `a schedule row for ${customer}`,
      async () => {
        seen = [];
        return scheduleRowFor(person, seen);
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    ).catch(async (err) => {
      await person.screenshot("failure-installed-app", workDir).catch(() => {});
      throw new Error(`${err.message}; rows seen: ${JSON.stringify(seen)} (screenshot in ${workDir})`);
    });
    assert.ok(await row.isDisplayed());
    const shot = await person.screenshot("12-installed-from-deb", screenshotDir);
    console.log(`screenshot: ${shot}`);
  });

  it("finds, downloads and verifies the published update, installs it and restarts on the same data", async () => {
    const before = installedVersion();
    assert.notEqual(before, updateVersion, "the update must be a different version than the installed one");
    await person.tap("nav-settings");
    await person.waitVisible("settings-screen");
    const available = await person.waitVisible("update-available", 120_000).catch(async (err) => {
      await person.screenshot("failure-update-not-found", workDir).catch(() => {});
      throw err;
    });
    assert.match(await available.getText(), new RegExp(`Fieldbook ${updateVersion.replaceAll(".", "\\.")} is available`));
    // Downloaded in the background and verified against the built-in key
    // before the button appears.
    await person.waitVisible("install-update", 180_000).catch(async (err) => {
      await person.screenshot("failure-update-not-downloaded", workDir).catch(() => {});
      throw err;
    });
    await (await person.waitVisible("updates")).scrollIntoView({ block: "center" });
    const shot = await person.screenshot("13-update-ready", screenshotDir);
    console.log(`screenshot: ${shot}`);
    const oldPids = installedAppPids();
    assert.ok(oldPids.length > 0, "the running installed app is visible to pgrep");
    await person.tap("install-update");
    await person.tap(await person.waitVisible("install-update-confirm"));

    // The plugin runs `dpkg -i` on the downloaded package, then the app
    // restarts itself: the WebDriver session ends with the old process.
    await waitFor(`dpkg to report fieldbook ${updateVersion}`, async () => installedVersion() === updateVersion, {
      timeoutMs: 180_000,
      intervalMs: 500,
    });
    const restarted = await waitFor(
      "the app to start again by itself",
      async () => {
        const pids = installedAppPids().filter((pid) => !oldPids.includes(pid));
        return pids.length > 0 ? pids : null;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    console.log(`installed ${before} -> ${updateVersion}; restarted as pid ${restarted.join(", ")}`);
    // The restarted process is outside WebDriver's reach: stop it and open
    // the new version under a fresh session, on the same data folder.
    await app.quit();
    for (const pid of installedAppPids()) process.kill(Number(pid), "SIGTERM");
    await waitFor("the restarted app to exit", async () => installedAppPids().length === 0, { timeoutMs: 20_000 });
    await launch("app-after-update.log");

    await person.waitVisible("schedule-screen", 60_000);
    const seen = [];
    const row = await waitFor(`the job of ${customer} after the update`, async () => {
      seen.length = 0;
      return scheduleRowFor(person, seen);
    }, { timeoutMs: 60_000, intervalMs: 250 }).catch(async (err) => {
      await person.screenshot("failure-after-update", workDir).catch(() => {});
      throw new Error(`${err.message}; rows seen: ${JSON.stringify(seen)}`);
    });
    assert.ok(await row.isDisplayed());
    await person.tap("nav-settings");
    const latest = await person.waitVisible("update-none", 60_000);
    assert.match(await latest.getText(), new RegExp(`Fieldbook ${updateVersion.replaceAll(".", "\\.")} is the latest`));
  });
});
