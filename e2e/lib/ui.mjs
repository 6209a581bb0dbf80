// Helpers that act as a person would: find things by data-testid or visible
// text, tap them (counted), type, and take full-screen screenshots.
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { imageMagick, screenshotDir } from "./env.mjs";

const run = promisify(execFile);

export const byTestId = (id) => `[data-testid="${id}"]`;

export class Person {
  /** @param {WebdriverIO.Browser} browser */
  constructor(browser) {
    this.browser = browser;
    this.taps = 0;
    this.fieldsTyped = 0;
    this.strokes = 0;
    this.steps = [];
  }

  $(testId) {
    return this.browser.$(byTestId(testId));
  }

  $$(testId) {
    return this.browser.$$(byTestId(testId));
  }

  async waitVisible(testId, timeout = 20_000) {
    const el = this.$(testId);
    await el.waitForDisplayed({ timeout, timeoutMsg: `${testId} not displayed after ${timeout} ms` });
    return el;
  }

  /** One tap on an element (a WebDriver click: real pointer input in WebKit). */
  async tap(testIdOrElement, why) {
    const el = typeof testIdOrElement === "string" ? await this.waitVisible(testIdOrElement) : testIdOrElement;
    await el.waitForClickable({ timeout: 20_000 });
    await el.click();
    this.taps += 1;
    this.steps.push(`tap ${typeof testIdOrElement === "string" ? testIdOrElement : why ?? "element"}`);
  }

  /** Tap into a field and type (one tap, one field typed). */
  async type(testId, text) {
    const el = await this.waitVisible(testId);
    await el.click();
    this.taps += 1;
    await el.setValue(text); // clears first
    this.fieldsTyped += 1;
    this.steps.push(`type ${testId}`);
  }

  /** The full 1366x768 screen as <dir>/<name>.png (by default docs/screenshots/). */
  async screenshot(name, dir = screenshotDir) {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${name}.png`);
    // Let transitions finish, then wait for two animation frames so what is
    // on the X screen is what the DOM says (WebKit paints asynchronously, and
    // late on a busy machine).
    await this.browser.pause(400);
    await this.browser.execute(
      () => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true)))),
    );
    await this.browser.pause(200);
    await run(imageMagick.import, ["-window", "root", file]);
    return file;
  }
}
