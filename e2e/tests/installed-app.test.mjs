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
//
// Sign in → the schedule shows the planned job → screenshot.
import assert from "node:assert/strict";
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

describe("the installed app", { timeout: 5 * 60_000 }, () => {
  let app;
  /** @type {Person} */
  let person;

  before(async () => {
    assert.ok(appBinary.startsWith("/usr/"), `expected the installed binary, got ${appBinary}`);
    app = new AppUnderTest({
      logFile: join(workDir, "app.log"),
      env: {
        FIELDBOOK_DATA_DIR: join(workDir, "device"),
        FIELDBOOK_SERVER_URL: serverUrl,
        RUST_LOG: "info",
      },
    });
    const browser = await app.launch();
    person = new Person(browser);
    await browser.setWindowRect(0, 0, 1366, 768).catch(() => {});
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
        for (const r of await person.$$("schedule-row")) {
          // textContent, not getText(): WebKitWebDriver leaves the
          // customer column out of the rendered text of the row's grid.
          const text = await r.getProperty("textContent");
          seen.push(text);
          if (text.includes(customer)) return r;
        }
        return null;
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
});
